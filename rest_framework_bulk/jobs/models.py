"""
``BulkJob``: one bulk operation run outside the request, and everything
needed to run it again after a crash.

The row is the truth about a job. Its input and its result files are in
Django's storage, under ``JOB_STORAGE_PREFIX`` and the job's id; deleting
the row deletes them.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..settings import api_settings
from .files import delete_files


def default_expiry():
    return timezone.now() + timedelta(seconds=api_settings.JOB_RETENTION)


class BulkJobQuerySet(models.QuerySet):
    def visible_to(self, user) -> BulkJobQuerySet:
        """The jobs ``user`` may see: their own, or every job for staff."""
        if user is None or not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self.all()
        return self.filter(owner=user)

    def running(self) -> BulkJobQuerySet:
        return self.filter(state__in=BulkJob.RUNNING_STATES)

    def claimable(self, now=None) -> BulkJobQuerySet:
        """Jobs a worker may take: waiting ones, and running ones whose worker went silent."""
        now = now or timezone.now()
        stale = now - timedelta(seconds=api_settings.JOB_STALE_AFTER)
        return self.filter(
            models.Q(state=BulkJob.State.PENDING)
            | models.Q(state=BulkJob.State.PROGRESS, heartbeat_at__lt=stale)
        )

    def lost(self, now=None) -> BulkJobQuerySet:
        """Claimable jobs that no queue may still hold a message for.

        A pending job is lost once it has waited as long as a silent worker
        is given (the broker was down when it was submitted, say).
        """
        now = now or timezone.now()
        stale = now - timedelta(seconds=api_settings.JOB_STALE_AFTER)
        return self.claimable(now).filter(
            models.Q(state=BulkJob.State.PROGRESS) | models.Q(created_at__lt=stale)
        )

    def expired(self, now=None) -> BulkJobQuerySet:
        """Jobs past ``expires_at``, except those still running."""
        return self.filter(expires_at__lte=now or timezone.now()).exclude(
            state=BulkJob.State.PROGRESS
        )


class BulkJob(models.Model):
    """A bulk operation submitted by a user and run by a job runner."""

    class State(models.TextChoices):
        PENDING = "PENDING", _("Pending")
        PROGRESS = "PROGRESS", _("In progress")
        SUCCESS = "SUCCESS", _("Succeeded")
        FAILURE = "FAILURE", _("Failed")
        CANCELLED = "CANCELLED", _("Cancelled")

    class Operation(models.TextChoices):
        CREATE = "create", _("Create")
        UPDATE = "update", _("Update")
        PARTIAL_UPDATE = "partial_update", _("Partial update")
        DESTROY = "destroy", _("Delete")
        UPSERT = "upsert", _("Upsert")
        RETRIEVE = "retrieve", _("Retrieve")

    class Handling(models.TextChoices):
        STRICT = "strict", _("Strict: all items or none")
        LENIENT = "lenient", _("Lenient: valid items, errors reported")

    class InputFormat(models.TextChoices):
        JSON_LINES = "jsonl", _("JSON lines")
        CSV_ROWS = "csvrows", _("CSV rows, as JSON lines")
        CSV = "csv", _("CSV file")

    class Phase(models.TextChoices):
        VALIDATING = "validating", _("Validating")
        WRITING = "writing", _("Writing")

    RUNNING_STATES = (State.PENDING, State.PROGRESS)
    FINISHED_STATES = (State.SUCCESS, State.FAILURE, State.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="bulk_jobs",
        verbose_name=_("owner"),
    )

    # What to run: the view, rebuilt in the worker as DRF built it for the request.
    view_class = models.CharField(_("view class"), max_length=255)
    view_initkwargs = models.JSONField(_("view initkwargs"), default=dict, blank=True)
    view_actions = models.JSONField(_("viewset actions"), null=True, blank=True)
    view_action = models.CharField(_("viewset action"), max_length=100, blank=True)
    view_kwargs = models.JSONField(_("URL kwargs"), default=dict, blank=True)
    request_meta = models.JSONField(_("request"), default=dict, blank=True)

    operation = models.CharField(_("operation"), max_length=20, choices=Operation.choices)
    handling = models.CharField(
        _("handling"), max_length=10, choices=Handling.choices, default=Handling.STRICT
    )
    dry_run = models.BooleanField(_("dry run"), default=False)
    upsert_field = models.CharField(_("upsert field"), max_length=100, blank=True)
    options = models.JSONField(_("options"), default=dict, blank=True)

    input_name = models.CharField(_("input file"), max_length=255)
    input_format = models.CharField(
        _("input format"),
        max_length=10,
        choices=InputFormat.choices,
        default=InputFormat.JSON_LINES,
    )
    batch_size = models.PositiveIntegerField(_("batch size"))

    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PENDING
    )
    phase = models.CharField(_("phase"), max_length=10, choices=Phase.choices, blank=True)
    message = models.CharField(_("progress message"), max_length=255, blank=True)
    total = models.PositiveIntegerField(_("items"), default=0)
    processed = models.PositiveIntegerField(_("processed"), default=0)
    succeeded = models.PositiveIntegerField(_("succeeded"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    #: The index of the first item no committed batch has handled.
    checkpoint = models.PositiveIntegerField(_("checkpoint"), default=0)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)

    #: A token of the worker holding the job; every write of the worker is
    #: conditional on it, so a worker that lost the job cannot write.
    lease = models.UUIDField(_("lease"), null=True, blank=True, editable=False)
    worker = models.CharField(_("worker"), max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)

    created_at = models.DateTimeField(_("created"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("heartbeat"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), default=default_expiry)

    result = models.JSONField(_("result"), null=True, blank=True)
    #: The summary's counts at the checkpoint (``Tally.counts()``): a
    #: checkpoint writes ``result``, with its lists, only when they changed.
    progress = models.JSONField(_("counts"), null=True, blank=True, editable=False)
    #: ``{kind: {"count": n, "jsonl": name, "csv": name}}`` for the result files.
    files = models.JSONField(_("result files"), default=dict, blank=True)

    objects = BulkJobQuerySet.as_manager()

    class Meta:
        verbose_name = _("bulk job")
        verbose_name_plural = _("bulk jobs")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["state", "heartbeat_at"], name="bulk_job_claim_idx"),
            models.Index(fields=["owner", "-created_at"], name="bulk_job_owner_idx"),
            models.Index(fields=["expires_at"], name="bulk_job_expiry_idx"),
        ]

    def __str__(self) -> str:
        return ngettext(
            "%(operation)s of %(count)d item (%(state)s)",
            "%(operation)s of %(count)d items (%(state)s)",
            self.total,
        ) % {"operation": self.get_operation_display(), "count": self.total, "state": self.state}

    @property
    def task_id(self) -> uuid.UUID:
        return self.id

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED_STATES

    @property
    def is_running(self) -> bool:
        return self.state in self.RUNNING_STATES

    @property
    def lenient(self) -> bool:
        return self.handling == self.Handling.LENIENT

    @property
    def unprocessed(self) -> int:
        return max(self.total - self.processed, 0)


@receiver(post_delete, sender=BulkJob, dispatch_uid="rest_framework_bulk_jobs_delete_files")
def delete_job_files(sender, instance: BulkJob, using, **kwargs):
    """Remove a deleted job's input and result files, once the delete is committed."""
    transaction.on_commit(partial(delete_files, instance.pk), using=using)


class BulkJobChunk(models.Model):
    """A range of a lenient job's items that one worker runs at a time.

    A lenient write job larger than ``JOB_CHUNK_SIZE`` is split into chunks
    when it first runs; workers claim them as they claim jobs (a lease, a
    heartbeat, attempts), and each keeps its own checkpoint and summary. The
    job's counters are the sum of its chunks'; see
    :mod:`rest_framework_bulk.jobs.chunks`.
    """

    State = BulkJob.State

    job = models.ForeignKey(
        BulkJob, on_delete=models.CASCADE, related_name="chunks", verbose_name=_("job")
    )
    index = models.PositiveIntegerField(_("index"))
    #: The job's items ``start`` (included) to ``end`` (excluded).
    start = models.PositiveIntegerField(_("first item"))
    end = models.PositiveIntegerField(_("end"))
    #: The index of the first item of the chunk no committed batch has handled.
    checkpoint = models.PositiveIntegerField(_("checkpoint"))
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PENDING
    )
    processed = models.PositiveIntegerField(_("processed"), default=0)
    succeeded = models.PositiveIntegerField(_("succeeded"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    #: The chunk's summary (a ``Tally``), or why it failed.
    result = models.JSONField(_("result"), null=True, blank=True)
    #: The summary's counts at the checkpoint, as the job's ``progress``.
    progress = models.JSONField(_("counts"), null=True, blank=True, editable=False)
    lease = models.UUIDField(_("lease"), null=True, blank=True, editable=False)
    worker = models.CharField(_("worker"), max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("heartbeat"), null=True, blank=True)

    class Meta:
        verbose_name = _("bulk job chunk")
        verbose_name_plural = _("bulk job chunks")
        ordering = ["job", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="bulk_job_chunk_unique_index")
        ]
        indexes = [
            models.Index(fields=["state", "heartbeat_at"], name="bulk_job_chunk_claim_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} [{self.start}:{self.end}] ({self.state})"
