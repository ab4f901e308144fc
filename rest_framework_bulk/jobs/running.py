"""
Running a job: claim it, rebuild its view, feed the engine batch by batch.
How a job ends, once it has run or stopped, is in
:mod:`rest_framework_bulk.jobs.ending`.

Claiming
    A worker claims a job with a lease; every write of the worker is
    conditional on it, and a heartbeat thread keeps the job alive (see
    :mod:`rest_framework_bulk.jobs.leases`).

Lenient jobs (``Prefer: handling=lenient``)
    Each batch runs in one transaction that also moves the job's checkpoint
    and counters, conditionally on the lease and on the checkpoint being
    where the worker found it. A batch is thus committed together with its
    checkpoint or not at all: a killed worker never leaves half a batch, and
    the worker that takes over starts at the checkpoint, so no batch is
    applied twice. Valid items are written, invalid ones reported.

Strict jobs (the default: all items or none)
    First every batch is validated (the engine with ``dry_run=True``), with
    progress committed as it goes; nothing is written. If any item is
    invalid, the job fails with every item's error and nothing written.
    Otherwise all batches are written in ONE transaction, which commits
    together with the job's ``SUCCESS``. If a write still fails (a conflict
    that appeared since validation), the transaction rolls back, so there is
    nothing to undo; the job fails and reports the items at fault. Progress
    during the write phase is reported by the heartbeat thread. The price is
    one long transaction holding the locks of the rows written; run a job
    lenient if that matters more than all-or-nothing. (SQLite locks the
    whole database for that transaction: there, the write phase reports no
    progress and cannot be cancelled.) A strict job that was interrupted has
    written nothing and starts over.

Lenient batches that fail as a whole
    When the engine raises for a whole batch (a hook, a database trigger, a
    value the driver cannot take), the batch is run again in halves, down
    to the items at fault: those fail with the error's code (``error`` for
    an unexpected one), every other item of the batch is written.

Duplicates
    An update, delete or upsert job refuses an item naming the same object
    as an earlier item, in any batch, as a synchronous request does
    (``duplicate_lookup``): a strict job fails, a lenient one skips the
    later item. See :mod:`rest_framework_bulk.jobs.duplicates`.

Checks when a job starts
    The owner must still be active (``owner_inactive``) and the view's
    permissions must still let them in (the permission's code, such as
    ``permission_denied``); a job whose input file is gone fails at once
    with ``input_missing``. Nothing is written in either case.

Cancelling
    ``cancel_requested`` is checked between batches. A lenient job keeps the
    batches already committed; a strict one keeps nothing. A running job
    whose worker went silent is cancelled at once.

Export jobs (a large bulk GET)
    Read, serialize and write the objects to the result files; see
    :mod:`rest_framework_bulk.jobs.export`.

Recovery
    A job whose worker died stays ``PROGRESS`` until its heartbeat is stale;
    then any worker may claim it and it resumes as above. Each claim counts
    as an attempt; after ``JOB_MAX_ATTEMPTS`` the job fails cleanly instead
    of killing worker after worker.

Keep the jobs table on the database the views write to (the default
router does): the checkpoint can only commit with the batch if both are in
one database.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
    router,
    transaction,
)
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_lazy, ngettext
from rest_framework.exceptions import APIException

from .. import gcpause
from ..exceptions import BulkError, ItemError, TransactionConflict
from ..operations import BulkOperation
from ..settings import api_settings
from . import ending, files
from .context import build_view
from .duplicates import DuplicateLookups
from .export import Export
from .leases import Heartbeat, claim, jobs_db
from .models import BulkJob
from .results import FAILED, KINDS, Tally, error_records, outcome_records

logger = logging.getLogger("rest_framework_bulk.jobs")

State = BulkJob.State
Phase = BulkJob.Phase

#: Seconds a job pauses between batches on SQLite; see ``Execution.yield_database()``.
SQLITE_PAUSE = 0.1

INPUT_MISSING = gettext_lazy(
    "The job's stored input is missing, so it cannot run; nothing was written by this attempt."
)

#: What ``run_job()`` did. ``RAN``: it ran the job, to its end or until it
#: stopped; ``BUSY``: another live worker holds the job; ``GONE``: there was no
#: job to run (deleted, or ended already).
RAN = "done"
BUSY = "busy"
GONE = "gone"


class Cancelled(Exception):
    """The job's owner asked to cancel it."""


class Interrupted(Exception):
    """The worker is shutting down; the job goes back to the queue."""


class LeaseLost(Exception):
    """Another worker took the job over; this one must not write."""


def run_job(job_id, *, stop: threading.Event | None = None, runner=None) -> str:
    """Claim and run the job ``job_id``, in this thread, until it ends or stops.

    Returns ``RAN``; ``BUSY`` if another live worker holds it (try later);
    ``GONE`` if it no longer exists or has finished. ``stop``, once set,
    makes the worker give the job back after its current batch.

    A runner of your own calls this from its task or thread (the Celery
    runner's ``run_bulk_job`` task does); a job may be handed to it more
    than once, since only one worker at a time can claim it. ``runner`` is
    the runner asked for help with a job split into chunks
    (``enqueue_chunks()``); by default, ``DEFAULT_JOB_RUNNER_CLASS``'s.
    """
    lease = uuid.uuid4()
    if not claim(job_id, lease):
        state = BulkJob.objects.filter(pk=job_id).values_list("state", flat=True).first()
        return BUSY if state in BulkJob.RUNNING_STATES else GONE
    execute(job_id, lease, stop=stop, runner=runner)
    return RAN


def execute(job_id, lease: uuid.UUID, *, stop: threading.Event | None = None, runner=None) -> None:
    """Run the job ``job_id``, which this worker has claimed with ``lease``.

    For a worker that claims jobs itself (``leases.claim_next()``), as the
    embedded runner's threads do; otherwise use ``run_job()``.
    """
    job = BulkJob.objects.select_related("owner").get(pk=job_id)
    Execution(job, lease, stop=stop, runner=runner).run()


# Running --------------------------------------------------------------------


def exception_detail(exc: Exception) -> tuple[str, Any]:
    """A stable code and a detail for an error that failed a batch or a job."""
    if isinstance(exc, APIException):
        detail = exc.detail
        if isinstance(detail, dict) and "code" in detail:
            return str(detail["code"]), detail.get("detail", detail)
        codes = exc.get_codes()
        return (codes if isinstance(codes, str) else exc.default_code), detail
    if isinstance(exc, DjangoValidationError):
        return "invalid", exc.messages
    if isinstance(exc, IntegrityError):
        return "conflict", gettext("The items conflict with existing data.")
    if isinstance(exc, DataError):
        return "data_error", gettext("A value does not fit its database column.")
    if isinstance(exc, files.InputMissing):
        return "input_missing", str(INPUT_MISSING)
    return "error", gettext("The job stopped on an unexpected error.")


def item_failure(exc: Exception) -> tuple[str, Any]:
    """The code and detail of one item whose run raised ``exc``."""
    if isinstance(exc, (APIException, DjangoValidationError, IntegrityError, DataError)):
        return exception_detail(exc)
    return "error", gettext("This item could not be processed because of an unexpected error.")


class Execution:
    """One run of one job by the worker holding ``lease``.

    Every write it makes goes through ``self.mine``, the job's row filtered
    on the lease: once another worker has taken the job over, nothing this
    one writes lands, and ``LeaseLost`` stops it.
    """

    def __init__(
        self, job: BulkJob, lease: uuid.UUID, *, stop: threading.Event | None = None, runner=None
    ):
        self.job = job
        #: The runner that asks other workers to help with the job's chunks.
        self.runner = runner
        self.lease = lease
        self.stop = stop
        self.mine = BulkJob.objects.filter(pk=job.pk, lease=lease)
        self.db = jobs_db()
        self.beat = Heartbeat(job.pk, lease, api_settings.JOB_HEARTBEAT_INTERVAL)

    def run(self) -> None:
        """Run the job, and end it (or give it back) whatever happens."""
        self.beat.start()
        try:
            with translation.override(self.job.request_meta.get("language")):
                self.execute()
        except LeaseLost:
            logger.warning("Bulk job %s was taken over by another worker.", self.job.pk)
        except Interrupted:
            ending.requeue(self.mine)
        except (OperationalError, InterfaceError):
            # A lost connection, a deadlock: put the job back if the database
            # still answers (the attempt counts), else it stays claimed until
            # its heartbeat is stale. Either way it runs again from its
            # checkpoint.
            try:
                ending.requeue(self.mine, count_attempt=True)
            except DatabaseError:
                pass
            raise
        except Exception as exc:
            logger.exception("Bulk job %s failed.", self.job.pk)
            code, detail = exception_detail(exc)
            try:
                self.end_early(State.FAILURE, code, detail)
            except Exception:
                logger.exception("Could not record the failure of bulk job %s.", self.job.pk)
                # Without its result files, but ended: a job left running
                # would be taken up again and fail again, forever.
                ending.fail_without_results(self.job, self.mine, code, detail)
        finally:
            self.beat.stop()

    def execute(self) -> None:
        """Check that the job may still run, then run it the way it asks for."""
        job = self.job
        # A split job's attempts are its chunks' (see `jobs.chunks`): taking
        # the job over again is only how its chunks get a worker.
        if job.attempts > api_settings.JOB_MAX_ATTEMPTS and not job.chunks.exists():
            message = ngettext(
                "The job was interrupted %(count)d time; it will not be tried again.",
                "The job was interrupted %(count)d times; it will not be tried again.",
                job.attempts - 1,
            ) % {"count": job.attempts - 1}
            return self.end_early(State.FAILURE, "interrupted", message)
        try:
            if job.cancel_requested:
                raise Cancelled
            if not files.has_input(job):
                return self.end_early(State.FAILURE, "input_missing", str(INPUT_MISSING))
            view = build_view(job)
            self.db = router.db_for_write(view.get_queryset().model)
            if job.operation == BulkJob.Operation.RETRIEVE:
                self.run_export(view)
            elif job.dry_run:
                self.run_dry(view)
            elif job.lenient and self.is_chunked():
                self.run_chunked()
            elif job.lenient:
                self.run_lenient(view)
            else:
                self.run_strict(view)
        except Cancelled:
            self.end_early(State.CANCELLED)
        except APIException as exc:
            # The view refused the owner (a permission lost since submission),
            # or the engine refused the input as a whole.
            code, detail = exception_detail(exc)
            self.end_early(State.FAILURE, code, detail)

    # The ways to run -------------------------------------------------------------

    def run_lenient(self, view) -> None:
        """Write batch by batch, each committed with its checkpoint; report the invalid items."""
        job = self.job
        tally = (
            Tally.from_dict(job.result, job.total, progress=job.progress)
            if job.checkpoint
            else Tally(job.total)
        )
        self.save_progress(
            phase=Phase.WRITING,
            processed=job.checkpoint,
            message=self.progress_message(Phase.WRITING, job.checkpoint),
        )
        duplicates = self.get_duplicates(view, until=job.checkpoint)
        for start, items in files.iter_batches(job, job.checkpoint):
            self.check_stop()
            with self.transaction(), gcpause.paused():
                refused = duplicates.check(items, start)
                records = self.run_batch(
                    view, items, start, lenient=True, dry_run=False, refused=refused
                )
                files.write_part(job, "write", start, records, items)
                tally.add(records, items, start)
                self.save_checkpoint(start, start + len(items), tally)
            self.yield_database()
        self.complete(State.SUCCESS, tally, "write", keep_successes=True)

    def is_chunked(self) -> bool:
        from .chunks import is_splittable

        return is_splittable(self.job) or self.job.chunks.exists()

    def run_chunked(self) -> None:
        """Split the job into chunks and run them; see ``jobs.chunks.run_split()``."""
        from .chunks import run_split

        run_split(self)

    def run_strict(self, view) -> None:
        """Validate every batch, then write them all in one transaction, or nothing."""
        job = self.job
        checked = self.validate_all(view, Tally(job.total))
        if checked.error_count:
            message = ngettext(
                "%(count)d of %(total)d items was rejected; nothing was written.",
                "%(count)d of %(total)d items were rejected; nothing was written.",
                checked.error_count,
            ) % {"count": checked.error_count, "total": job.total}
            checked.refuse()
            return self.complete(
                State.FAILURE,
                checked,
                "check",
                keep_successes=False,
                code="invalid",
                detail=message,
            )
        tally = Tally(job.total)
        self.save_progress(
            phase=Phase.WRITING, processed=0, message=self.progress_message(Phase.WRITING, 0)
        )
        items: list
        start, items = 0, []
        try:
            with self.transaction():
                # SQLite locks the whole database for this transaction: the
                # heartbeat could only wait for it.
                self.beat.paused = connections[self.db].vendor == "sqlite"
                for start, items in files.iter_batches(job):
                    self.check_stop(in_transaction=True)
                    with gcpause.paused():
                        records = self.run_batch(view, items, start, lenient=False, dry_run=False)
                        files.write_part(job, "write", start, records, items)
                        tally.add(records, items, start)
                    done = start + len(items)
                    self.beat.progress = {
                        "processed": done,
                        "message": self.progress_message(Phase.WRITING, done),
                    }
                # Nothing may wait on the job's row once it is locked below.
                self.beat.stop()
                self.complete(State.SUCCESS, tally, "write", keep_successes=True)
        except BulkError as exc:
            # Valid a moment ago, refused now (a concurrent write): the
            # transaction is rolled back, so nothing stays written.
            records = error_records(exc.item_errors)
            files.write_part(job, "write", start, records, items)
            failed = Tally(job.total)
            failed.add(records, items, start)
            code, detail = exception_detail(exc)
            self.complete(
                State.FAILURE, failed, "write", keep_successes=False, code=code, detail=detail
            )

    def run_dry(self, view) -> None:
        """Validate every batch and report what would happen; write nothing."""
        job = self.job
        tally = self.validate_all(view, Tally(job.total, dry_run=True))
        state = State.FAILURE if tally.error_count and not job.lenient else State.SUCCESS
        self.complete(state, tally, "check", keep_successes=True)

    def run_export(self, view) -> None:
        """Write the objects asked for to the result files (see ``jobs.export``)."""
        if not Export(self, view).run():
            raise LeaseLost

    def validate_all(self, view, tally: Tally) -> Tally:
        """Run every batch through the engine with ``dry_run=True``; nothing is written."""
        job = self.job
        self.save_progress(
            phase=Phase.VALIDATING, processed=0, message=self.progress_message(Phase.VALIDATING, 0)
        )
        duplicates = self.get_duplicates(view)
        # A dry run reports what its check found. A strict job reports it
        # only when items fail, and then every other item is unprocessed,
        # read from the input at the end: its parts need the failures only.
        kinds = KINDS if job.dry_run else (FAILED,)
        for start, items in files.iter_batches(job):
            self.check_stop()
            with gcpause.paused():
                refused = duplicates.check(items, start)
                records = self.run_batch(
                    view, items, start, lenient=True, dry_run=True, refused=refused
                )
                files.write_part(job, "check", start, records, items, kinds=kinds)
                tally.add(records, items, start)
            done = start + len(items)
            self.save_progress(
                processed=done, message=self.progress_message(Phase.VALIDATING, done)
            )
            self.yield_database()
        return tally

    # Steps ----------------------------------------------------------------

    def get_operation(self, view, **options) -> BulkOperation:
        """The engine for one batch, as the view builds it for a request."""
        if self.job.upsert_field:
            options["upsert_field"] = self.job.upsert_field
        if hasattr(view, "get_bulk_operation"):
            return view.get_bulk_operation(self.job.operation, **options)
        return BulkOperation(view, self.job.operation, **options)

    def get_duplicates(self, view, *, until: int = 0) -> DuplicateLookups:
        """The job's duplicate finder, having seen the items before ``until``."""
        job = self.job
        if job.upsert_field:
            field = job.upsert_field
        elif job.operation in DuplicateLookups.OPERATIONS:
            field = self.get_operation(view).lookup_field()
        else:
            field = None
        duplicates = DuplicateLookups(view.get_queryset().model, field, job.operation)
        if until and duplicates.enabled:
            for start, items in files.iter_batches(job):
                if start >= until:
                    break
                duplicates.check(items, start)
        return duplicates

    def run_batch(
        self,
        view,
        items: list,
        start: int,
        *,
        lenient: bool,
        dry_run: bool,
        refused: Sequence[ItemError] = (),
    ) -> list[dict]:
        """The outcome records of one batch.

        ``refused`` are errors found before the engine ran (duplicates):
        those items are not run. In a lenient job a batch that fails as a
        whole is run again in halves (see ``run_items()``); in a strict job
        the error ends the job.
        """
        indexes = list(range(start, start + len(items)))
        if refused:
            skipped = {error.index for error in refused}
            kept = [(index, item) for index, item in zip(indexes, items) if index not in skipped]
            indexes = [index for index, _item in kept]
            items = [item for _index, item in kept]
        records = self.run_items(view, items, indexes, lenient=lenient, dry_run=dry_run)
        if refused:
            records = sorted([*records, *error_records(refused)], key=lambda r: r["index"])
        return records

    def run_items(
        self, view, items: list, indexes: list[int], *, lenient: bool, dry_run: bool
    ) -> list[dict]:
        """The outcome records of ``items``, the job's items at ``indexes``.

        When a lenient run raises (a hook, a trigger, a value the database
        driver cannot take), each half is run again on its own, down to
        single items: only the items at fault fail, with the error's code.
        A lost connection or a deadlock is not the items' fault; it ends the
        attempt, and the batch runs again from its checkpoint.
        """
        if not items:
            return []
        contiguous = indexes[-1] - indexes[0] == len(indexes) - 1
        operation = self.get_operation(view, lenient=lenient, dry_run=dry_run)
        try:
            result = operation.run(items, start_index=indexes[0] if contiguous else 0)
        except TransactionConflict as exc:
            # A deadlock: not the items' fault; the batch runs again.
            raise (exc.__cause__ or exc) from None
        except (BulkError, OperationalError, InterfaceError):
            raise
        except Exception as exc:
            if not lenient:
                raise
            if len(items) > 1:
                middle = len(items) // 2
                return [
                    *self.run_items(
                        view, items[:middle], indexes[:middle], lenient=True, dry_run=dry_run
                    ),
                    *self.run_items(
                        view, items[middle:], indexes[middle:], lenient=True, dry_run=dry_run
                    ),
                ]
            logger.warning("Item %d of bulk job %s failed.", indexes[0], self.job.pk, exc_info=True)
            code, detail = item_failure(exc)
            return [{"index": indexes[0], "status": code, "code": code, "detail": detail}]
        records = outcome_records(result.items)
        if not contiguous:
            for record in records:
                record["index"] = indexes[record["index"]]
        return records

    def transaction(self) -> ExitStack:
        """One transaction on the data's database and on the jobs table's."""
        stack = ExitStack()
        stack.enter_context(transaction.atomic(using=self.db))
        if jobs_db() != self.db:
            stack.enter_context(transaction.atomic(using=jobs_db()))
        return stack

    def check_stop(self, *, in_transaction: bool = False) -> None:
        """Stop between batches if the job was cancelled, lost, or the worker is stopping."""
        if self.stop is not None and self.stop.is_set():
            raise Interrupted
        if self.beat.lost.is_set():
            raise LeaseLost
        if self.beat.cancelled.is_set():
            raise Cancelled
        # Outside a transaction the row is read fresh; inside one, a
        # repeatable-read snapshot would hide the request, so the heartbeat
        # (its own connection) is relied on.
        if not in_transaction and self.mine.filter(cancel_requested=True).exists():
            raise Cancelled

    def yield_database(self) -> None:
        """Let other writers in between two batches on SQLite.

        SQLite has one writer at a time, and a waiting writer polls with
        growing sleeps (up to 100 ms), so a worker starting its next batch at
        once would keep a cancel request or a heartbeat waiting until the end.
        """
        if connections[self.db].vendor == "sqlite":
            time.sleep(SQLITE_PAUSE)

    def progress_message(self, phase: str, done: int) -> str:
        """The job's ``message`` while it runs, ``done`` items into ``phase``."""
        values = {"done": done, "total": self.job.total}
        if phase == Phase.VALIDATING:
            return (
                ngettext(
                    "Validated %(done)d of %(total)d item.",
                    "Validated %(done)d of %(total)d items.",
                    self.job.total,
                )
                % values
            )
        return (
            ngettext(
                "Processed %(done)d of %(total)d item.",
                "Processed %(done)d of %(total)d items.",
                self.job.total,
            )
            % values
        )

    def save_progress(self, **fields) -> None:
        """Write ``fields`` to the job with a heartbeat, while the lease holds."""
        if not self.mine.update(heartbeat_at=timezone.now(), **fields):
            raise LeaseLost

    def save_checkpoint(self, start: int, end: int, tally: Tally) -> None:
        """Move the checkpoint past a batch, in the batch's transaction."""
        updated = self.mine.filter(checkpoint=start).update(
            checkpoint=end,
            processed=end,
            succeeded=tally.success_count,
            failed=tally.error_count,
            **tally.checkpoint_fields(),
            message=self.progress_message(Phase.WRITING, end),
            heartbeat_at=timezone.now(),
        )
        if not updated:
            raise LeaseLost

    # Ending ---------------------------------------------------------------

    def complete(
        self,
        state: str,
        tally: Tally,
        phase: str | None,
        *,
        keep_successes: bool,
        code=None,
        detail=None,
    ) -> None:
        """End the job after its last batch, with the results its batches left.

        ``state`` is ``SUCCESS``, or ``FAILURE`` for a strict job with invalid
        items or a dry run that found some; see ``ending.end_job()``.
        """
        if not ending.end_job(
            self.job,
            self.mine,
            state,
            tally,
            phase,
            keep_successes=keep_successes,
            code=code,
            detail=detail,
        ):
            raise LeaseLost

    def end_early(self, state: str, code: str | None = None, detail: Any = None) -> None:
        """End the job before its last batch: what a lenient job committed stays and is reported."""
        ending.end_early(self.job.pk, self.mine, state, code, detail)
