"""A worker that dies, stalls or stops: no half batch, no batch twice, no job stuck."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from rest_framework_bulk.jobs import running as execution
from rest_framework_bulk.jobs.files import get_storage
from rest_framework_bulk.jobs.leases import claim
from rest_framework_bulk.jobs.models import BulkJob
from rest_framework_bulk.jobs.results import Tally
from rest_framework_bulk.jobs.runners import BaseRunner
from rest_framework_bulk.jobs.running import Execution, LeaseLost
from tests.models import SimpleModel

from .support import wait_until
from .test_execution import finished, items, status, submit

pytestmark = [pytest.mark.urls("tests.jobs.urls"), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def no_workers(job_settings, shared_database):
    job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, "JOB_WORKERS": 0}


@pytest.mark.parametrize("handling", ["lenient", "strict"])
def test_a_killed_worker_leaves_no_half_batch_and_its_job_is_resumed(
    runner, handling, api, job_settings, embedded_worker_factory, request
):
    if runner == "embedded":
        # The worker is a `run_bulk_jobs` process, so that it can be killed.
        job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, "JOB_WORKERS": 0}
        worker = embedded_worker_factory()
    elif runner == "tasks":
        # A `db_worker` of this test's own, on a queue the session's worker does not serve.
        start_task_worker = request.getfixturevalue("task_worker_factory")
        queue = f"killed-{uuid.uuid4().hex[:8]}"
        job_settings.REST_FRAMEWORK_BULK = {
            **job_settings.REST_FRAMEWORK_BULK,
            "JOB_TASK_QUEUE_NAME": queue,
        }
        worker = start_task_worker(queue)
    job = submit(api, "/jobs/slow/", items(120), prefer=f"handling={handling}")
    if handling == "lenient":
        wait_until(lambda: BulkJob.objects.get(pk=job.pk).checkpoint >= 30, message="three batches")
    else:
        wait_until(
            lambda: BulkJob.objects.get(pk=job.pk).phase == "writing", message="the write phase"
        )
        time.sleep(0.3)  # well inside the write transaction

    running = BulkJob.objects.get(pk=job.pk)
    assert running.state == "PROGRESS"
    if runner in ("embedded", "tasks"):
        # A db_worker runs its task in its own process.
        worker.kill()
    else:
        # The pool process running the task; Celery starts another and
        # delivers the message again (acks_late, reject_on_worker_lost).
        os.kill(int(running.worker.split(":")[1]), signal.SIGKILL)

    # Until the heartbeat is stale nobody takes the job over: what is in
    # the database now is exactly what the dead worker committed.
    crashed = BulkJob.objects.get(pk=job.pk)
    assert crashed.state == "PROGRESS"
    if handling == "lenient":
        assert crashed.checkpoint % 10 == 0
        assert SimpleModel.objects.count() == crashed.checkpoint
    else:
        assert SimpleModel.objects.count() == 0

    if runner == "embedded":
        embedded_worker_factory()
    elif runner == "tasks":
        # The task died with its worker and is not run again: the recover
        # task, run periodically, enqueues the job once its heartbeat is stale.
        start_task_worker(queue)
        wait_until(
            lambda: BulkJob.objects.lost().filter(pk=job.pk).exists(), message="a stale heartbeat"
        )
        from rest_framework_bulk.jobs.django_tasks import recover_bulk_jobs

        recover_bulk_jobs.using(queue_name=queue).enqueue()
    job = finished(job)

    assert job.state == "SUCCESS", job.result
    assert job.attempts >= 2
    numbers = list(SimpleModel.objects.values_list("number", flat=True))
    assert sorted(numbers) == list(range(120))
    assert (job.succeeded, job.failed, job.processed) == (120, 0, 120)
    assert len(job.result["created_ids"]) == 120


def test_a_job_that_meets_a_database_error_runs_again(runner, api, job_media_root):
    Path(job_media_root, "locked-once").touch()

    job = finished(submit(api, "/jobs/locked-once/", items(30), prefer="handling=lenient"))

    assert not Path(job_media_root, "locked-once").exists()
    assert (job.state, job.attempts, job.succeeded) == ("SUCCESS", 2, 30)
    assert sorted(SimpleModel.objects.values_list("number", flat=True)) == list(range(30))
    if runner == "tasks":
        from django_tasks_db.models import DBTaskResult

        tasks = DBTaskResult.objects.order_by("enqueued_at")
        # The job ends inside the task; the worker marks the task a moment later.
        wait_until(
            lambda: not tasks.filter(status__in=["READY", "RUNNING"]).exists(),
            message="the task's end",
        )
        assert [(task.status, task.args_kwargs["kwargs"]) for task in tasks] == [
            ("FAILED", {}),
            ("SUCCESSFUL", {"retries": 1}),
        ]
        assert tasks[0].exception_class_path == "django.db.utils.OperationalError"


class Crash(BaseException):
    """A worker dying where it stands."""


@pytest.fixture
def crash_after_first_batch(monkeypatch):
    crash_after(monkeypatch, batches=1)


def crash_after(monkeypatch, batches: int) -> None:
    """The worker dies as it starts the batch after ``batches`` batches."""
    calls = []
    check_stop = Execution.check_stop

    def crashing(self, **kwargs):
        calls.append(1)
        if len(calls) == batches + 1:
            raise Crash
        return check_stop(self, **kwargs)

    monkeypatch.setattr(Execution, "check_stop", crashing)


def make_stale(job: BulkJob) -> None:
    BulkJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))


def test_a_lenient_job_resumes_from_its_checkpoint(
    no_workers, api, monkeypatch, crash_after_first_batch
):
    job = submit(api, "/jobs/simple/", items(30), prefer="handling=lenient")

    with pytest.raises(Crash):
        execution.run_job(job.pk)
    monkeypatch.undo()

    crashed = BulkJob.objects.get(pk=job.pk)
    assert (crashed.state, crashed.checkpoint, crashed.attempts) == ("PROGRESS", 10, 1)
    assert SimpleModel.objects.count() == 10
    # A live worker's job is not taken.
    assert execution.run_job(job.pk) == execution.BUSY

    make_stale(job)
    call_command("run_bulk_jobs", "--once")

    job.refresh_from_db()
    assert (job.state, job.attempts, job.succeeded) == ("SUCCESS", 2, 30)
    assert sorted(SimpleModel.objects.values_list("number", flat=True)) == list(range(30))
    assert len(job.result["created_ids"]) == 30


def test_a_strict_job_starts_over(no_workers, api, crash_after_first_batch, monkeypatch):
    job = submit(api, "/jobs/simple/", items(30))

    with pytest.raises(Crash):
        execution.run_job(job.pk)
    monkeypatch.undo()
    make_stale(job)
    call_command("run_bulk_jobs", "--once")

    job.refresh_from_db()
    assert (job.state, job.attempts) == ("SUCCESS", 2)
    assert SimpleModel.objects.count() == 30


def test_a_job_that_keeps_killing_workers_fails_cleanly(
    no_workers, api, crash_after_first_batch, monkeypatch
):
    job = submit(api, "/jobs/simple/", items(30), prefer="handling=lenient")
    with pytest.raises(Crash):
        execution.run_job(job.pk)
    monkeypatch.undo()
    BulkJob.objects.filter(pk=job.pk).update(attempts=3)
    make_stale(job)

    call_command("run_bulk_jobs", "--once")

    job.refresh_from_db()
    assert job.state == "FAILURE"
    assert job.result["code"] == "interrupted"
    assert job.message == "The job was interrupted 3 times; it will not be tried again."
    # What was committed stays, and is reported.
    assert SimpleModel.objects.count() == 10
    assert (job.succeeded, job.processed, job.result["unprocessed_count"]) == (10, 10, 20)
    assert len(job.result["created_ids"]) == 10


def test_a_worker_that_lost_its_job_cannot_write(no_workers, api):
    job = submit(api, "/jobs/simple/", items(10), prefer="handling=lenient")
    first, second = uuid.uuid4(), uuid.uuid4()
    assert claim(job.pk, first)
    assert not claim(job.pk, second)
    make_stale(job)
    assert claim(job.pk, second)

    stalled = Execution(BulkJob.objects.get(pk=job.pk), first)
    with pytest.raises(LeaseLost):
        stalled.save_checkpoint(0, 10, Tally(10))
    with pytest.raises(LeaseLost):
        stalled.save_progress(processed=10)

    job.refresh_from_db()
    assert (job.lease, job.checkpoint, job.attempts) == (second, 0, 2)


def test_a_stopping_worker_puts_its_job_back(no_workers, api):
    job = submit(api, "/jobs/simple/", items(30), prefer="handling=lenient")
    stop = threading.Event()
    original = Execution.save_checkpoint

    def stop_after_first_batch(self, start, end, tally):
        original(self, start, end, tally)
        stop.set()

    Execution.save_checkpoint = stop_after_first_batch
    try:
        assert execution.run_job(job.pk, stop=stop) == execution.RAN
    finally:
        Execution.save_checkpoint = original

    job.refresh_from_db()
    assert (job.state, job.checkpoint, job.attempts, job.lease) == ("PENDING", 10, 0, None)
    call_command("run_bulk_jobs", "--once")
    job.refresh_from_db()
    assert (job.state, job.succeeded) == ("SUCCESS", 30)
    assert SimpleModel.objects.count() == 30


class RecordingRunner(BaseRunner):
    enqueued: list = []

    def enqueue(self, job_id):
        RecordingRunner.enqueued.append(job_id)


def test_recover_enqueues_lost_jobs_only(no_workers, api):
    fresh = submit(api, "/jobs/simple/", items(1))
    forgotten = submit(api, "/jobs/simple/", items(1))
    abandoned = submit(api, "/jobs/simple/", items(1))
    alive = submit(api, "/jobs/simple/", items(1))
    long_ago = timezone.now() - timedelta(hours=1)
    BulkJob.objects.filter(pk=forgotten.pk).update(created_at=long_ago)
    BulkJob.objects.filter(pk__in=[abandoned.pk, alive.pk]).update(
        state="PROGRESS", created_at=long_ago
    )
    BulkJob.objects.filter(pk=abandoned.pk).update(heartbeat_at=long_ago)
    BulkJob.objects.filter(pk=alive.pk).update(heartbeat_at=timezone.now())
    RecordingRunner.enqueued = []

    assert RecordingRunner().recover() == 2

    assert set(RecordingRunner.enqueued) == {forgotten.pk, abandoned.pk}
    assert fresh.pk not in RecordingRunner.enqueued


def test_a_job_whose_worker_went_silent_is_cancelled_at_once(
    no_workers, api, crash_after_first_batch, monkeypatch
):
    job = submit(api, "/jobs/simple/", items(30), prefer="handling=lenient")
    with pytest.raises(Crash):
        execution.run_job(job.pk)
    monkeypatch.undo()
    silent = BulkJob.objects.get(pk=job.pk)
    make_stale(job)

    response = api.post(f"/bulk-operations/{job.pk}/cancel/")

    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "CANCELLED"
    assert body["counts"] == {
        "total": 30,
        "processed": 10,
        "succeeded": 10,
        "failed": 0,
        "unprocessed": 20,
    }
    assert SimpleModel.objects.count() == 10
    # The silent worker's lease is gone: should it wake, it cannot write.
    with pytest.raises(LeaseLost):
        Execution(silent, silent.lease).save_progress(processed=30)
    job.refresh_from_db()
    assert (job.state, job.processed) == ("CANCELLED", 10)


def test_a_running_job_whose_input_vanished_fails_on_its_next_attempt(
    no_workers, api, crash_after_first_batch, monkeypatch
):
    job = submit(api, "/jobs/simple/", items(30), prefer="handling=lenient")
    with pytest.raises(Crash):
        execution.run_job(job.pk)
    monkeypatch.undo()
    get_storage().delete(job.input_name)
    make_stale(job)

    call_command("run_bulk_jobs", "--once")

    job.refresh_from_db()
    assert (job.state, job.attempts, job.lease) == ("FAILURE", 2, None)
    assert job.result["code"] == "input_missing"
    # What the first attempt committed stays, and is counted.
    assert SimpleModel.objects.count() == 10
    assert (job.succeeded, job.processed, job.result["unprocessed_count"]) == (10, 10, 20)
    assert execution.run_job(job.pk) == execution.GONE


def checkpoint_statements(statements: list[str]) -> list[str]:
    """The SET clauses of the checkpoint UPDATEs among ``statements``."""
    table = connection.ops.quote_name(BulkJob._meta.db_table)
    checkpoint = connection.ops.quote_name("checkpoint") + " = "
    clauses = []
    for sql in statements:
        if sql.startswith(f"UPDATE {table} SET"):
            clause = sql.split(" WHERE ")[0]
            if checkpoint in clause:
                clauses.append(clause)
    return clauses


def test_a_checkpoint_writes_the_summary_lists_only_while_they_change(
    no_workers, api, job_settings
):
    job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, "JOB_MAX_IDS": 15}
    job = submit(api, "/jobs/simple/", items(50), prefer="handling=lenient")
    statements: list[str] = []

    def capture(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        assert execution.run_job(job.pk) == execution.RAN

    clauses = checkpoint_statements(statements)
    result = connection.ops.quote_name("result") + " = "
    # Five batches of ten: the first adds ten ids, the second five and
    # drops five (the list is cut); after that only the counts change.
    assert [result in clause for clause in clauses] == [True, True, False, False, False]
    job.refresh_from_db()
    assert job.progress is None
    assert (job.result["success_count"], job.result["id_counts"]["created_ids"]) == (50, 50)
    assert len(job.result["created_ids"]) == 15
    assert job.result["truncated"] is True


@pytest.fixture
def crash_after_three_batches(monkeypatch):
    crash_after(monkeypatch, batches=3)


def test_a_resumed_job_counts_what_its_checkpoint_counted(
    no_workers, api, job_settings, monkeypatch, crash_after_three_batches
):
    job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, "JOB_MAX_IDS": 5}
    job = submit(api, "/jobs/simple/", items(50), prefer="handling=lenient")

    with pytest.raises(Crash):
        execution.run_job(job.pk)
    monkeypatch.undo()

    crashed = BulkJob.objects.get(pk=job.pk)
    # The lists were full after the first batch: the summary stored then
    # counts ten items, the checkpoint's counts thirty.
    assert (crashed.checkpoint, crashed.result["success_count"]) == (30, 10)
    assert crashed.progress["success_count"] == 30
    shown = status(api, crashed)["result"]
    assert (shown["success_count"], shown["id_counts"]["created_ids"]) == (30, 30)

    make_stale(job)
    call_command("run_bulk_jobs", "--once")

    job.refresh_from_db()
    assert (job.state, job.succeeded) == ("SUCCESS", 50)
    assert SimpleModel.objects.count() == 50
    assert (job.result["success_count"], job.result["id_counts"]["created_ids"]) == (50, 50)
    assert len(job.result["created_ids"]) == 5
