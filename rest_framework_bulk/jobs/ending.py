"""
Ending a job: writing its final state (``SUCCESS``, ``FAILURE`` or
``CANCELLED``), once.

``end_job()``
    Writes the job's result files, from the parts its batches left, and its
    final state with them, then sends ``job_finished`` once that is
    committed. A job that ran to its end, or was cancelled before it
    started, ends here.
``end_early()``
    Ends, through ``end_job()``, a job that stops before its last batch:
    cancelled, refused (its owner lost a permission, its input is gone, it
    was interrupted too often), or failed on an error. What a lenient job
    committed stays and is reported.
``fail_without_results()``
    Ends a job as failed when even its result files cannot be written, so
    that it is not taken up again.
``end_export()``
    Ends an export job, which wrote its result files itself.
``cancel_job()``
    What the cancel endpoint calls, for a waiting or a running job.

``requeue()`` ends no job, only a worker's hold on one: the job waits to be
claimed again, at its checkpoint.

Each writes through ``queryset``, the job's row for as long as the caller
may end it (for a worker, filtered on its lease), and returns whether it
did: a worker that lost its lease never ends a job another worker runs.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from ..settings import api_settings
from . import files
from .leases import jobs_db
from .models import BulkJob, BulkJobChunk
from .results import FAILED, SUCCESSFUL, Tally, storable, write_results
from .signals import send_job_finished

logger = logging.getLogger("rest_framework_bulk.jobs")

State = BulkJob.State


def end_job(
    job: BulkJob,
    queryset,
    state: str,
    tally: Tally,
    phase: str | None,
    *,
    keep_successes: bool,
    end: int | None = None,
    code: str | None = None,
    detail: Any = None,
) -> bool:
    """Write ``job``'s result files and its final ``state``; send ``job_finished`` on commit.

    The result files are made from the parts that ``phase``'s batches wrote
    (``"check"`` or ``"write"``; ``None``: no batch ran), up to ``end``.
    ``keep_successes=False`` reports no item as successful (a strict job that
    wrote nothing). ``code`` and ``detail`` say why a job failed or stopped.

    Returns whether ``queryset`` still matched the job (the caller's lease
    held). Without its input the job has no result files; the counts are the
    summary's.
    """
    try:
        written = write_results(job, phase, keep_successes=keep_successes, end=end)
    except files.InputMissing:
        written = {}
        counts = {
            "successful": tally.success_count,
            "failed": tally.error_count,
            "unprocessed": max(job.total - tally.processed, 0),
        }
    else:
        counts = {kind: entry["count"] for kind, entry in written.items()}
    extra: dict[str, Any] = {"unprocessed_count": counts["unprocessed"]}
    if code is not None:
        extra.update(code=code, detail=detail)
    ended = bool(
        queryset.update(
            **final_state(state, end_message(state, job.total, counts, detail)),
            result=tally.as_dict(**extra),
            files=written,
            processed=counts["successful"] + counts["failed"],
            succeeded=counts["successful"],
            failed=counts["failed"],
        )
    )
    if ended:
        announce_end(job.pk)
    return ended


def end_early(job_id, queryset, state: str, code: str | None = None, detail: Any = None) -> bool:
    """End the job ``job_id`` before its last batch, as ``state``.

    What a lenient job committed stays, and its result files say so; the
    rest of its items are unprocessed. A strict job, or a dry run, has
    written nothing, and reports every item as unprocessed. Returns whether
    the job was ended (see ``end_job()``).
    """
    job = BulkJob.objects.get(pk=job_id)
    if BulkJobChunk.objects.filter(job=job).exists():
        return end_chunked(job, queryset, state, code, detail)
    if job.lenient and not job.dry_run:
        tally = Tally.from_dict(job.result, job.total, progress=job.progress)
        phase, end = "write", job.checkpoint
    else:
        tally, phase, end = Tally(job.total, dry_run=job.dry_run), None, 0
    return end_job(
        job,
        queryset,
        state,
        tally,
        phase,
        keep_successes=True,
        end=end,
        code=code,
        detail=detail,
    )


def end_chunked(job: BulkJob, queryset, state: str, code: str | None, detail: Any) -> bool:
    """End a job that ran in chunks (see :mod:`rest_framework_bulk.jobs.chunks`), as ``state``.

    Its summary is its chunks' summaries in order, kept to the limits an
    unsplit job's has; its result files come from the parts of the batches
    the chunks committed. Returns whether the job was ended.
    """
    chunks = list(BulkJobChunk.objects.filter(job=job).order_by("index"))
    tally = Tally(job.total)
    storage = files.get_storage()
    for chunk in chunks:
        add_tally(tally, Tally.from_dict(chunk.result, job.total, progress=chunk.progress))
        if chunk.checkpoint < chunk.end:
            # A worker that died in the middle of this batch wrote its part
            # before the batch could commit: it is no outcome.
            storage.delete(files.part_name(job, "write", chunk.checkpoint))
    return end_job(
        job, queryset, state, tally, "write", keep_successes=True, code=code, detail=detail
    )


def add_tally(tally: Tally, other: Tally) -> None:
    """Add ``other``, the summary of later items, to ``tally``, within the summary's limits."""
    tally.success_count += other.success_count
    tally.error_count += other.error_count
    room = api_settings.JOB_MAX_ERRORS - len(tally.errors)
    tally.errors.extend(other.errors[: max(room, 0)])
    tally.truncated = tally.truncated or other.truncated or len(other.errors) > room
    for name, ids in other.ids.items():
        room = api_settings.JOB_MAX_IDS - len(tally.ids[name])
        tally.ids[name].extend(ids[: max(room, 0)])
        tally.truncated = tally.truncated or len(ids) > room
        tally.id_counts[name] += other.id_counts[name]


def fail_without_results(job: BulkJob, queryset, code: str, detail: Any) -> bool:
    """End ``job`` as failed, without result files, when even those cannot be written.

    A job left running would be claimed again and fail again, forever, so
    this never raises: a failure to write is logged. Returns whether the job
    was ended.
    """
    try:
        ended = bool(
            queryset.update(
                **final_state(
                    State.FAILURE,
                    end_message(State.FAILURE, job.total, {"unprocessed": 0}, detail),
                ),
                result=storable({"code": code, "detail": detail}),
                files={},
            )
        )
    except Exception:
        logger.exception("Could not end bulk job %s.", job.pk)
        return False
    if ended:
        announce_end(job.pk)
    return ended


def end_export(job: BulkJob, queryset, tally: Tally, written: dict, not_found: list) -> bool:
    """End an export job as ``SUCCESS``, with the result files it ``written``.

    ``not_found`` are the ids asked for that matched nothing the owner may
    see. Returns whether the job was ended; ``job_finished`` is sent once
    that is committed, as for every job.
    """
    counts = {kind: entry["count"] for kind, entry in written.items()}
    tally.id_counts["not_found"] = tally.error_count
    state = State.SUCCESS
    ended = bool(
        queryset.update(
            **final_state(state, end_message(state, tally.total, counts, None)),
            total=tally.total,
            result=tally.as_dict(not_found=not_found, unprocessed_count=0),
            files=written,
            processed=counts[SUCCESSFUL] + counts[FAILED],
            succeeded=counts[SUCCESSFUL],
            failed=counts[FAILED],
        )
    )
    if ended:
        announce_end(job.pk)
    return ended


def requeue(queryset, *, count_attempt: bool = False) -> bool:
    """Give the job back: it waits to be claimed again, a lenient one at its checkpoint.

    A worker that stops on purpose does not use up one of the job's attempts;
    one that lost its database connection does (``count_attempt=True``).
    Returns whether the job was given back.
    """
    return bool(
        queryset.update(
            state=State.PENDING,
            lease=None,
            worker="",
            phase="",
            attempts=F("attempts") if count_attempt else F("attempts") - 1,
            message=gettext("Waiting to run."),
        )
    )


def final_state(state: str, message: str) -> dict:
    """The fields every end writes, besides the job's result."""
    now = timezone.now()
    return {
        "state": state,
        "phase": "",
        "message": message,
        "lease": None,
        "finished_at": now,
        "heartbeat_at": now,
        "expires_at": now + timedelta(seconds=api_settings.JOB_RETENTION),
        # The result says it all now.
        "progress": None,
    }


def announce_end(job_id) -> None:
    """Send ``job_finished`` once the job's end is committed (never if it is rolled back)."""
    transaction.on_commit(partial(send_job_finished, job_id), using=jobs_db(), robust=True)


def end_message(state: str, total: int, counts: dict, detail: Any) -> str:
    """The job's ``message`` once it has ended: its counts, or why it failed."""
    values = {"total": total, **counts}
    if state == State.SUCCESS:
        return (
            ngettext(
                "%(successful)d of %(total)d item succeeded, %(failed)d failed.",
                "%(successful)d of %(total)d items succeeded, %(failed)d failed.",
                total,
            )
            % values
        )
    if state == State.CANCELLED:
        return (
            ngettext(
                "Cancelled: %(successful)d item succeeded, %(failed)d failed, %(unprocessed)d not processed.",
                "Cancelled: %(successful)d items succeeded, %(failed)d failed, %(unprocessed)d not processed.",
                values["successful"],
            )
            % values
        )
    if isinstance(detail, str):
        return storable(detail)[:255]
    return (
        ngettext(
            "The job failed; %(unprocessed)d of %(total)d items was not processed.",
            "The job failed; %(unprocessed)d of %(total)d items were not processed.",
            values["unprocessed"],
        )
        % values
    )


def cancel_job(job: BulkJob) -> BulkJob:
    """Cancel ``job``: at once if it is waiting, between two batches if it is running.

    A running job whose worker went silent (no heartbeat for
    ``JOB_STALE_AFTER``) is cancelled at once too: what a lenient job
    committed stays. Returns the job as it is now.

    You may call this from a view of your own; the ``cancel`` action of the
    job API does.
    """
    waiting = BulkJob.objects.filter(pk=job.pk, state=State.PENDING)
    if waiting.update(state=State.CANCELLED, cancel_requested=True):
        job.refresh_from_db()
        cancelled = BulkJob.objects.filter(pk=job.pk, state=State.CANCELLED)
        end_job(
            job,
            cancelled,
            State.CANCELLED,
            Tally(job.total, dry_run=job.dry_run),
            None,
            keep_successes=True,
        )
    elif BulkJob.objects.filter(pk=job.pk, state=State.PROGRESS).update(cancel_requested=True):
        lease = uuid.uuid4()
        abandoned = BulkJob.objects.claimable().filter(pk=job.pk, state=State.PROGRESS)
        if abandoned.update(lease=lease, heartbeat_at=timezone.now()):
            # Taking the lease locks the silent worker out, should it wake.
            end_early(job.pk, BulkJob.objects.filter(pk=job.pk, lease=lease), State.CANCELLED)
    job.refresh_from_db()
    return job
