"""
Chunked jobs: a lenient write job split into ranges that several workers run
at the same time.

When it is split
    A lenient create, update, partial update, upsert or delete job (not a
    dry run) of more than ``JOB_CHUNK_SIZE`` items is split when it first
    runs, into chunks of ``JOB_CHUNK_SIZE`` items rounded up to a multiple
    of the job's batch size, so that a chunk's batches are the job's
    batches. Strict jobs are never split: their writes take one
    transaction, which one worker holds.

Claiming
    A chunk is claimed as a job is (see :mod:`rest_framework_bulk.jobs.leases`):
    a conditional ``UPDATE`` sets a lease on a waiting chunk, or on a running
    one whose heartbeat is older than ``JOB_STALE_AFTER``, and every later
    write of its worker is conditional on that lease. The worker that split
    the job runs chunks one after another; the runner asks other workers to
    help (a Celery task or a django-tasks task per chunk; the embedded
    runner's workers look for chunks as they look for jobs).

Each batch
    runs in one transaction that also moves the chunk's checkpoint and adds
    the batch's counts to the job's, as an unsplit lenient job does: a killed
    worker leaves no half batch, and the worker that takes its chunk over
    starts at the chunk's checkpoint. The outcome parts are the job's
    (``files.write_part()``, named by the batch's first index), so the parts
    written by different workers make one set of result files.

Duplicates
    Refusing a later item that names an object an earlier item named depends
    on the order of the input; a chunk first feeds the lookups of every item
    before its start, so the answer is the unsplit job's.

Cancel, failure, the end
    Each chunk stops at its next batch boundary once the job's cancel is
    requested or another chunk failed (after ``JOB_MAX_ATTEMPTS``, or on an
    error that fails a job). The worker that leaves the job with no chunk
    running (and none waiting, unless it is stopping) ends it, once: it
    takes the job's lease with a conditional ``UPDATE`` first.
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from datetime import timedelta

from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    router,
    transaction,
)
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy, ngettext
from rest_framework.exceptions import APIException

from .. import gcpause
from ..settings import api_settings
from . import ending, files
from .context import build_view
from .leases import Heartbeat, claim_first, jobs_db, worker_name
from .models import BulkJob, BulkJobChunk
from .results import Tally
from .running import (
    INPUT_MISSING,
    Cancelled,
    Execution,
    Interrupted,
    LeaseLost,
    exception_detail,
)

logger = logging.getLogger("rest_framework_bulk.jobs")

State = BulkJob.State
Phase = BulkJob.Phase

#: The operations whose jobs may be split.
OPERATIONS = (
    BulkJob.Operation.CREATE,
    BulkJob.Operation.UPDATE,
    BulkJob.Operation.PARTIAL_UPDATE,
    BulkJob.Operation.DESTROY,
    BulkJob.Operation.UPSERT,
)

STOPPED = gettext_lazy("Another part of the job failed, so this one stopped.")


def chunk_size(job: BulkJob) -> int:
    """Items per chunk for ``job``: ``JOB_CHUNK_SIZE`` when it was submitted, rounded up to
    whole batches; 0 for none."""
    size = job.options.get("chunk_size", api_settings.JOB_CHUNK_SIZE)
    if not size:
        return 0
    return math.ceil(size / job.batch_size) * job.batch_size


def is_splittable(job: BulkJob) -> bool:
    """Whether ``job`` runs in chunks: lenient, written, and larger than one chunk."""
    if not job.lenient or job.dry_run or job.operation not in OPERATIONS:
        return False
    size = chunk_size(job)
    return bool(size) and job.total > size


def split(job: BulkJob, queryset) -> int:
    """Split ``job`` into chunks, unless that was done already; returns how many it has.

    ``queryset`` is the job's row for the worker holding it: a worker that
    lost the job splits nothing.
    """
    existing = BulkJobChunk.objects.filter(job=job).count()
    if existing:
        return existing
    if not queryset.filter(state=State.PROGRESS).exists():
        raise LeaseLost
    size = chunk_size(job)
    chunks = [
        BulkJobChunk(job=job, index=number, start=start, end=min(start + size, job.total))
        for number, start in enumerate(range(0, job.total, size))
    ]
    for chunk in chunks:
        chunk.checkpoint = chunk.start
    try:
        with transaction.atomic(using=router.db_for_write(BulkJobChunk)):
            BulkJobChunk.objects.bulk_create(chunks)
    except IntegrityError:
        # The unique (job, index): a worker that had lost the job split it too.
        raise LeaseLost from None
    return len(chunks)


def run_split(execution: Execution) -> None:
    """Split the job that ``execution`` holds into chunks, run them, end it after the last.

    From the split on, the job belongs to its chunks: their heartbeats keep
    it alive, other workers may help (the runner's ``enqueue_chunks()``), and
    the worker that runs the last one ends it.
    """
    job = execution.job
    count = split(job, execution.mine)
    execution.beat.stop()
    if not execution.mine.update(
        lease=None,
        worker="",
        phase=Phase.WRITING,
        heartbeat_at=timezone.now(),
        message=execution.progress_message(Phase.WRITING, job.processed),
    ):
        raise LeaseLost
    if count > 1:
        from .runners import get_runner

        try:
            # The runner this worker serves: a worker's settings may name
            # another (an embedded runner would start threads here).
            (execution.runner or get_runner()).enqueue_chunks(job.pk, count - 1)
        except Exception:
            # This worker runs every chunk itself then.
            logger.warning("Could not ask for help with bulk job %s.", job.pk, exc_info=True)
    work(job.pk, stop=execution.stop)
    end_if_finished(job.pk)


# Claiming -------------------------------------------------------------------------


def claimable(now=None):
    """Chunks a worker may take: waiting or abandoned, of a job that is running and not stopping."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=api_settings.JOB_STALE_AFTER)
    return BulkJobChunk.objects.filter(
        Q(state=State.PENDING) | Q(state=State.PROGRESS, heartbeat_at__lt=stale)
    )


def claim(chunk_id, lease: uuid.UUID) -> bool:
    """Take the chunk ``chunk_id`` if it is waiting or abandoned."""
    now = timezone.now()
    # Only the chunk's own columns in the condition: MySQL runs an UPDATE
    # with a join as a SELECT and then an UPDATE of the keys found.
    return (
        claimable(now)
        .filter(pk=chunk_id)
        .update(
            state=State.PROGRESS,
            lease=lease,
            worker=worker_name(),
            heartbeat_at=now,
            started_at=now,
            attempts=F("attempts") + 1,
        )
        == 1
    )


def claim_next(lease: uuid.UUID, job_id=None):
    """Take a chunk (of ``job_id``, or of any running job); returns its id, or ``None``."""
    jobs = BulkJob.objects.filter(state=State.PROGRESS, cancel_requested=False)
    if job_id is not None:
        jobs = jobs.filter(pk=job_id)
    failed = BulkJobChunk.objects.filter(state=State.FAILURE).values("job")
    candidates = (
        claimable()
        .filter(job__in=jobs.values("pk"))
        .exclude(job__in=failed)
        # Not "job", which would join (and lock) the job's row for its ordering.
        .order_by("job_id", "index")
        .values_list("pk", flat=True)
    )
    return claim_first(candidates, lambda pk: claim(pk, lease), router.db_for_write(BulkJobChunk))


def work(job_id=None, *, stop: threading.Event | None = None) -> int:
    """Claim and run chunks (of ``job_id``, or of any job) until none is left; returns how many."""
    count = 0
    cursor = Cursor()
    try:
        while stop is None or not stop.is_set():
            lease = uuid.uuid4()
            chunk_id = claim_next(lease, job_id)
            if chunk_id is None:
                break
            run_chunk(chunk_id, lease, stop=stop, cursor=cursor)
            count += 1
    finally:
        cursor.close()
    return count


def run_chunk(
    chunk_id, lease: uuid.UUID, *, stop: threading.Event | None = None, cursor: Cursor | None = None
) -> None:
    """Run the chunk ``chunk_id``, claimed with ``lease``, then end its job if it was the last."""
    chunk = BulkJobChunk.objects.select_related("job", "job__owner").get(pk=chunk_id)
    try:
        ChunkExecution(chunk, lease, stop=stop, cursor=cursor).run()
    finally:
        end_if_finished(chunk.job_id)


class Cursor:
    """A job's input batches, read on from where this worker's last chunk of it stopped.

    Reaching a chunk's start means reading (for a CSV file, parsing) every
    item before it; a worker that takes chunk after chunk of one job reads
    its input once rather than once per chunk.
    """

    def __init__(self):
        self.job_id = None
        self.position = 0
        self.batches = None
        self.pending: tuple[int, list] | None = None

    def read(self, job: BulkJob, start: int, end: int):
        """The batches of ``job`` from ``start`` (a batch's first index) up to ``end``."""
        if self.job_id != job.pk or start < self.position:
            self.close()
            self.job_id, self.position = job.pk, start
            self.batches = files.iter_batches(job, start)
        while True:
            batch = self.pending or next(self.batches, None)
            self.pending = None
            if batch is None:
                self.close()
                return
            if batch[0] < start:
                continue
            if batch[0] >= end:
                self.pending, self.position = batch, batch[0]
                return
            self.position = batch[0] + len(batch[1])
            yield batch

    def close(self) -> None:
        if self.batches is not None:
            self.batches.close()
        self.job_id, self.batches, self.pending = None, None, None


def has_work(job_id) -> bool:
    """Whether the job ``job_id`` has a chunk that is waiting or being run, and may go on."""
    waiting = BulkJobChunk.objects.filter(job_id=job_id, state__in=BulkJob.RUNNING_STATES)
    return waiting.exists() and not stopping(job_id)


# Running a chunk --------------------------------------------------------------


class ChunkHeartbeat(Heartbeat):
    """Touches a running chunk's row and its job's, and watches for the job's cancel."""

    def __init__(self, chunk: BulkJobChunk, lease: uuid.UUID, interval: float):
        super().__init__(chunk.job_id, lease, interval)
        self.name = f"bulk-job-chunk-heartbeat-{chunk.job_id}-{chunk.index}"
        self.chunk_id = chunk.pk

    def beat(self) -> None:
        try:
            now = timezone.now()
            mine = BulkJobChunk.objects.filter(
                pk=self.chunk_id, lease=self.lease, state=State.PROGRESS
            )
            if not mine.update(heartbeat_at=now):
                self.lost.set()
                return
            # A job whose chunks run is alive, whoever split it.
            job = BulkJob.objects.filter(pk=self.job_id, state=State.PROGRESS)
            job.update(heartbeat_at=now)
            if stopping(self.job_id):
                self.cancelled.set()
        except DatabaseError:
            logger.warning(
                "Heartbeat of a chunk of bulk job %s failed.", self.job_id, exc_info=True
            )


def stopping(job_id) -> bool:
    """Whether the job's chunks must stop: a cancel was requested, a chunk failed, or it ended."""
    return (
        BulkJob.objects.filter(pk=job_id)
        .filter(
            ~Q(state=State.PROGRESS)
            | Q(cancel_requested=True)
            | Q(pk__in=BulkJobChunk.objects.filter(state=State.FAILURE).values("job"))
        )
        .exists()
    )


class ChunkExecution(Execution):
    """One run of one chunk by the worker holding ``lease``.

    It runs the batches of the chunk's range as ``Execution.run_lenient()``
    runs a job's; every write goes through ``self.mine``, the chunk's row
    filtered on the lease, and adds to the job's counts only while the job
    runs.
    """

    def __init__(self, chunk: BulkJobChunk, lease: uuid.UUID, *, stop=None, cursor=None):
        self.chunk = chunk
        self.cursor = cursor or Cursor()
        self.job = chunk.job
        self.lease = lease
        self.stop = stop
        self.mine = BulkJobChunk.objects.filter(pk=chunk.pk, lease=lease)  # type: ignore[assignment]
        self.running_job = BulkJob.objects.filter(pk=chunk.job_id, state=State.PROGRESS)
        self.db = jobs_db()
        self.beat = ChunkHeartbeat(chunk, lease, api_settings.JOB_HEARTBEAT_INTERVAL)

    def run(self) -> None:
        """Run the chunk; give it back, or fail it, whatever happens."""
        self.beat.start()
        try:
            with translation.override(self.job.request_meta.get("language")):
                self.execute()
        except LeaseLost:
            logger.warning("A chunk of bulk job %s was taken over.", self.job.pk)
        except Interrupted:
            self.give_back()
        except (OperationalError, InterfaceError):
            # A lost connection, a deadlock: the chunk runs again from its
            # checkpoint, and the attempt counts.
            logger.warning(
                "A chunk of bulk job %s met a database error.", self.job.pk, exc_info=True
            )
            try:
                self.give_back(count_attempt=True)
            except DatabaseError:
                pass
        except Exception as exc:
            logger.exception("A chunk of bulk job %s failed.", self.job.pk)
            self.fail(*exception_detail(exc))
        finally:
            self.beat.stop()

    def execute(self) -> None:
        chunk = self.chunk
        if chunk.attempts > api_settings.JOB_MAX_ATTEMPTS:
            message = ngettext(
                "The job was interrupted %(count)d time; it will not be tried again.",
                "The job was interrupted %(count)d times; it will not be tried again.",
                chunk.attempts - 1,
            ) % {"count": chunk.attempts - 1}
            return self.fail("interrupted", message)
        try:
            self.check_stop()
            if not files.has_input(self.job):
                return self.fail("input_missing", str(INPUT_MISSING))
            view = build_view(self.job)
            self.db = router.db_for_write(view.get_queryset().model)
            self.run_range(view)
        except Cancelled:
            self.give_back()
        except APIException as exc:
            self.fail(*exception_detail(exc))

    def run_range(self, view) -> None:
        """Write the chunk's batches from its checkpoint, each committed with it."""
        job, chunk = self.job, self.chunk
        resumed = chunk.checkpoint > chunk.start
        tally = (
            Tally.from_dict(chunk.result, job.total, progress=chunk.progress)
            if resumed
            else Tally(job.total)
        )
        duplicates = self.get_duplicates(view, until=chunk.checkpoint)
        for start, items in self.cursor.read(job, chunk.checkpoint, chunk.end):
            self.check_stop()
            with self.transaction(), gcpause.paused():
                refused = duplicates.check(items, start)
                records = self.run_batch(
                    view, items, start, lenient=True, dry_run=False, refused=refused
                )
                files.write_part(job, "write", start, records, items)
                before = (tally.success_count, tally.error_count)
                tally.add(records, items, start)
                self.save_checkpoint(start, start + len(items), tally, before)
            self.yield_database()
        if not self.mine.update(state=State.SUCCESS, lease=None, heartbeat_at=timezone.now()):
            raise LeaseLost

    def check_stop(self, *, in_transaction: bool = False) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Interrupted
        if self.beat.lost.is_set():
            raise LeaseLost
        if self.beat.cancelled.is_set() or stopping(self.job.pk):
            raise Cancelled

    def save_checkpoint(self, start: int, end: int, tally: Tally, before=(0, 0)) -> None:
        """Move the chunk's checkpoint past a batch and add it to the job's counts, in its transaction."""
        now = timezone.now()
        updated = self.mine.filter(checkpoint=start).update(
            checkpoint=end,
            processed=tally.processed,
            succeeded=tally.success_count,
            failed=tally.error_count,
            **tally.checkpoint_fields(),
            heartbeat_at=now,
        )
        succeeded = tally.success_count - before[0]
        failed = tally.error_count - before[1]
        # Conditional on the job running: once it has ended (cancelled while
        # this worker was stalled), the batch rolls back.
        if not updated or not self.running_job.update(
            processed=F("processed") + succeeded + failed,
            succeeded=F("succeeded") + succeeded,
            failed=F("failed") + failed,
            heartbeat_at=now,
        ):
            raise LeaseLost
        processed = self.running_job.values_list("processed", flat=True).first() or 0
        self.running_job.update(message=self.progress_message(Phase.WRITING, processed))

    def give_back(self, *, count_attempt: bool = False) -> None:
        """The chunk waits to be claimed again, at its checkpoint."""
        self.mine.filter(state=State.PROGRESS).update(
            state=State.PENDING,
            lease=None,
            worker="",
            attempts=F("attempts") if count_attempt else F("attempts") - 1,
        )

    def fail(self, code: str, detail) -> None:
        """The chunk failed: every other chunk stops, and the job fails with ``code``."""
        # The summary of the batches committed so far stays beside the code.
        committed = self.mine.values_list("result", flat=True).first() or {}
        self.mine.update(
            state=State.FAILURE,
            lease=None,
            result={**committed, "code": code, "detail": detail},
            heartbeat_at=timezone.now(),
        )


# Ending the job ----------------------------------------------------------------


def end_if_finished(job_id) -> bool:
    """End the job ``job_id`` if no chunk of it is left to run; returns whether this call did.

    No chunk may be running (one whose heartbeat is stale is taken to be
    dead: its uncommitted batch cannot commit once the job has ended), and
    none waiting unless the job is stopping. Two workers may get here at
    once; the conditional ``UPDATE`` that takes the job's lease lets one of
    them through.
    """
    job = BulkJob.objects.filter(pk=job_id, state=State.PROGRESS).first()
    if job is None:
        return False
    chunks = BulkJobChunk.objects.filter(job_id=job_id)
    stale = timezone.now() - timedelta(seconds=api_settings.JOB_STALE_AFTER)
    if chunks.filter(state=State.PROGRESS, heartbeat_at__gte=stale).exists():
        return False
    halted = stopping(job_id)
    if not halted and chunks.exclude(state=State.SUCCESS).exists():
        return False
    lease = uuid.uuid4()
    mine = BulkJob.objects.filter(pk=job_id, state=State.PROGRESS, lease__isnull=True)
    if not mine.update(lease=lease, heartbeat_at=timezone.now()):
        return False
    return end(job, BulkJob.objects.filter(pk=job_id, lease=lease))


def end(job: BulkJob, queryset) -> bool:
    """End the split ``job`` as its chunks left it: failed, cancelled, or done."""
    failed = BulkJobChunk.objects.filter(job=job, state=State.FAILURE).order_by("index").first()
    job.refresh_from_db(fields=["cancel_requested"])
    if failed is not None:
        result = failed.result or {}
        state, code, detail = State.FAILURE, result.get("code"), result.get("detail")
        if code is None:
            code, detail = "error", str(STOPPED)
    elif job.cancel_requested:
        state, code, detail = State.CANCELLED, None, None
    else:
        state, code, detail = State.SUCCESS, None, None
    return ending.end_chunked(job, queryset, state, code, detail)
