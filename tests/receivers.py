"""Signal receivers of the test app: delete receivers that read fields."""

from __future__ import annotations

from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver

from .models import DeletionLog, Record


@receiver(pre_delete, sender=Record)
def log_pre_delete(sender, instance, **kwargs):
    DeletionLog.objects.create(signal="pre_delete", name=instance.name, size=instance.size)


@receiver(post_delete, sender=Record)
def log_post_delete(sender, instance, **kwargs):
    DeletionLog.objects.create(signal="post_delete", name=instance.name, size=instance.size)
