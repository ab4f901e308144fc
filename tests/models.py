"""Models for the test suite.

They cover what a bulk library has to get right: integer and UUID primary
keys, a slug lookup field, ``unique=True``, ``unique_together``, a model
``UniqueConstraint``, a foreign key, a many-to-many and a model whose
``save()`` does work of its own.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class SimpleModel(models.Model):
    """The model of djangorestframework-bulk's own test suite."""

    number = models.IntegerField()
    contents = models.CharField(max_length=16)


class Account(models.Model):
    name = models.CharField(max_length=50, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="accounts",
    )

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=30, unique=True)


class Item(models.Model):
    """Integer pk, a unique field, ``unique_together``, a FK and a M2M."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="items")
    sku = models.CharField(max_length=32, unique=True)
    ref = models.CharField(max_length=32)
    name = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    quantity = models.IntegerField(default=0)
    tags = models.ManyToManyField(Tag, blank=True, related_name="items")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        unique_together = [("account", "ref")]
        ordering = ["pk"]


class Document(models.Model):
    """UUID pk and a model ``UniqueConstraint``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=100)
    version = models.PositiveIntegerField(default=1)
    body = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["title", "version"], name="document_title_version_uniq"
            ),
        ]


class Article(models.Model):
    """Looked up by slug rather than by pk."""

    slug = models.SlugField(max_length=50, unique=True)
    title = models.CharField(max_length=100)
    views = models.IntegerField(default=0)


class Note(models.Model):
    """A model with a custom ``save()`` that bulk writes must not skip."""

    text = models.CharField(max_length=100)
    save_count = models.IntegerField(default=0)

    def save(self, *args, **kwargs):
        self.save_count += 1
        super().save(*args, **kwargs)


class LiveManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class Task(models.Model):
    """A soft-deleted model: ``delete()`` only marks the row."""

    title = models.CharField(max_length=100)
    deleted_at = models.DateTimeField(null=True, blank=True)

    # The first manager is the default: live rows only.
    objects = LiveManager()
    all_objects = models.Manager()  # noqa: DJ012 - a manager, not a field

    class Meta:
        base_manager_name = "all_objects"

    def delete(self, using=None, keep_parents=False):
        from django.utils import timezone

        self.deleted_at = timezone.now()
        self.save(update_fields=["deleted_at"])
        return 0, {}


class Record(models.Model):
    """Deleted with receivers that read its fields (see ``tests.receivers``)."""

    name = models.CharField(max_length=100)
    size = models.IntegerField(default=0)


class DeletionLog(models.Model):
    """What the ``Record`` delete receivers saw."""

    signal = models.CharField(max_length=20)
    name = models.CharField(max_length=100)
    size = models.IntegerField()


class Shelf(models.Model):
    """Cannot be deleted while a ``Book`` is on it."""

    name = models.CharField(max_length=50)


class Book(models.Model):
    shelf = models.ForeignKey(Shelf, on_delete=models.PROTECT, related_name="books")
    title = models.CharField(max_length=100)


class Checked(models.Model):
    """Runs ``full_clean()`` in ``save()``, as many projects do."""

    code = models.CharField(max_length=10)

    def save(self, *args, **kwargs):
        self.full_clean()
        super().save(*args, **kwargs)

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.code.startswith("bad"):
            raise ValidationError({"code": "This code is refused by the model."}, code="refused")


class Ticket(models.Model):
    """Versioned by an integer that bulk writes increment."""

    title = models.CharField(max_length=100)
    status = models.CharField(max_length=20, default="open")
    version = models.PositiveIntegerField(default=1)


class Page(models.Model):
    """Versioned by its ``auto_now`` timestamp."""

    title = models.CharField(max_length=100)
    updated_at = models.DateTimeField(auto_now=True)


class JobFinishedLog(models.Model):
    """A delivery of ``job_finished``, written by whichever process ended the job."""

    job_id = models.UUIDField()
    state = models.CharField(max_length=10)


class Memo(models.Model):
    """Nullable and blank text, numbers and a flag: what a CSV round trip must keep."""

    key = models.CharField(max_length=64, unique=True)
    text = models.TextField(blank=True, default="")
    # Both null and "" on purpose: CSV must tell them apart.
    note = models.TextField(null=True, blank=True)  # noqa: DJ001
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    count = models.IntegerField(null=True, blank=True)
    flag = models.BooleanField(null=True)
