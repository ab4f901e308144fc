"""Signal receivers of the test app: delete receivers that read fields, and job endings."""

from __future__ import annotations

from django.apps import apps
from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver

from .models import DeletionLog, JobFinishedLog, Record


@receiver(pre_delete, sender=Record)
def log_pre_delete(sender, instance, **kwargs):
    DeletionLog.objects.create(signal="pre_delete", name=instance.name, size=instance.size)


@receiver(post_delete, sender=Record)
def log_post_delete(sender, instance, **kwargs):
    DeletionLog.objects.create(signal="post_delete", name=instance.name, size=instance.size)


if apps.is_installed("rest_framework_bulk.jobs"):
    from rest_framework_bulk.jobs.models import BulkJob
    from rest_framework_bulk.jobs.signals import job_finished

    @receiver(job_finished, sender=BulkJob, dispatch_uid="tests_log_job_finished")
    def log_job_finished(sender, job, **kwargs):
        # In the database: a Celery worker's deliveries are seen by the test process.
        JobFinishedLog.objects.create(job_id=job.pk, state=job.state)
