"""Lenient jobs split into chunks, run by several workers at once."""

from __future__ import annotations

import os
import signal
import uuid

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from rest_framework_bulk.jobs.chunks import claim as claim_chunk
from rest_framework_bulk.jobs.chunks import end_if_finished, run_chunk, split, work
from rest_framework_bulk.jobs.files import get_storage
from rest_framework_bulk.jobs.models import BulkJob, BulkJobChunk
from rest_framework_bulk.jobs.running import run_job
from tests.models import SimpleModel

from .support import wait_until
from .test_execution import finished, items, result_lines, submit

pytestmark = [pytest.mark.urls("tests.jobs.urls"), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chunked(job_settings):
    """Jobs submitted from now on run in chunks of 30 items (three batches)."""
    job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, "JOB_CHUNK_SIZE": 30}


@pytest.fixture
def helpers(runner, job_settings, embedded_worker_factory, request):
    """Two workers for the runner under test, in processes of their own."""
    if runner == "embedded":
        # Worker processes of their own, so that they run at the same time:
        # one `run_bulk_jobs --processes 2`.
        job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, "JOB_WORKERS": 0}
        return [embedded_worker_factory("--processes", "2")]
    if runner == "celery":
        return [request.getfixturevalue("second_celery_worker")]
    pytest.skip("The task runner's chunk test runs on one db_worker.")


def summary(job: BulkJob) -> dict:
    result = dict(job.result)
    return {key: result[key] for key in ("success_count", "error_count", "created_ids")} | {
        "errors": [(error["index"], error["code"]) for error in result["errors"]],
        "counts": (job.succeeded, job.failed, job.processed),
    }


def outcome(api, job: BulkJob) -> dict:
    return {
        kind: [
            (line["index"], line.get("status") or line.get("code"))
            for line in result_lines(api, job, kind)
        ]
        for kind in ("successful", "failed", "unprocessed")
    }


def test_a_chunked_job_gives_what_an_unchunked_one_gives(runner, api, job_settings):
    bad = {3, 31, 59, 88}
    whole = finished(submit(api, "/jobs/simple/", items(95, bad), prefer="handling=lenient"))
    assert not BulkJobChunk.objects.filter(job=whole).exists()
    expected = outcome(api, whole)
    numbers = sorted(SimpleModel.objects.values_list("number", flat=True))
    SimpleModel.objects.all().delete()

    job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, "JOB_CHUNK_SIZE": 25}
    split = finished(submit(api, "/jobs/simple/", items(95, bad), prefer="handling=lenient"))

    assert split.state == "SUCCESS", split.result
    chunks = list(BulkJobChunk.objects.filter(job=split).order_by("index"))
    # 25 rounded up to whole batches of 10.
    assert [(c.start, c.end, c.state) for c in chunks] == [
        (0, 30, "SUCCESS"),
        (30, 60, "SUCCESS"),
        (60, 90, "SUCCESS"),
        (90, 95, "SUCCESS"),
    ]
    assert sorted(SimpleModel.objects.values_list("number", flat=True)) == numbers
    assert outcome(api, split) == expected
    assert (split.succeeded, split.failed, split.processed) == (91, 4, 95)
    assert [e["index"] for e in split.result["errors"]] == sorted(bad)
    assert split.result["success_count"] == 91
    assert len(split.result["created_ids"]) == 91
    assert split.message == whole.message


def test_strict_and_dry_run_jobs_are_not_chunked(runner, api, chunked):
    strict = finished(submit(api, "/jobs/simple/", items(45)))
    dry = finished(submit(api, "/jobs/simple/?dry_run=1", items(45), prefer="handling=lenient"))

    assert (strict.state, dry.state, dry.dry_run) == ("SUCCESS", "SUCCESS", True)
    assert not BulkJobChunk.objects.exists()


def test_duplicates_across_chunk_boundaries(runner, api, chunked):
    SimpleModel.objects.bulk_create(SimpleModel(number=n, contents="old") for n in range(70))
    ids = list(SimpleModel.objects.order_by("number").values_list("pk", flat=True))
    body = [{"id": ids[n], "number": n, "contents": f"new{n}"} for n in range(70)]
    # Item 45 names the object of item 5 (another chunk), item 65 that of item 40.
    body[45]["id"] = ids[5]
    body[65]["id"] = ids[40]

    job = finished(submit(api, "/jobs/simple/", body, method="put", prefer="handling=lenient"))

    assert job.state == "SUCCESS", job.result
    assert BulkJobChunk.objects.filter(job=job).count() == 3
    assert [(e["index"], e["code"]) for e in job.result["errors"]] == [
        (45, "duplicate_lookup"),
        (65, "duplicate_lookup"),
    ]
    assert (job.succeeded, job.failed) == (68, 2)
    contents = dict(SimpleModel.objects.values_list("number", "contents"))
    assert contents[5] == "new5" and contents[45] == "old" and contents[65] == "old"


def test_two_workers_run_chunks_of_one_job_at_once(runner, api, chunked, helpers):
    job = submit(api, "/jobs/slow/", items(480), prefer="handling=lenient")

    def two_at_once():
        running = BulkJobChunk.objects.filter(job_id=job.pk, state="PROGRESS")
        return len(set(running.values_list("worker", flat=True))) >= 2

    wait_until(two_at_once, message="two chunks running at once")
    job = finished(job)

    assert job.state == "SUCCESS", job.result
    workers = set(BulkJobChunk.objects.filter(job=job).values_list("worker", flat=True))
    assert len(workers) >= 2
    assert sorted(SimpleModel.objects.values_list("number", flat=True)) == list(range(480))
    assert (job.succeeded, job.failed, job.processed) == (480, 0, 480)


@pytest.mark.parametrize("workers", [1, 2])
def test_cancel_stops_every_chunk_and_keeps_what_was_committed(
    runner, api, chunked, workers, request
):
    if workers == 2:
        request.getfixturevalue("helpers")
    # Long enough for a second worker to join on a busy machine.
    total = 300 if workers == 1 else 600
    job = submit(api, "/jobs/slow/", items(total), prefer="handling=lenient")
    wait_until(
        lambda: BulkJob.objects.get(pk=job.pk).processed >= 20, message="two batches committed"
    )
    if workers == 2:
        wait_until(
            lambda: BulkJobChunk.objects.filter(job_id=job.pk, state="PROGRESS").count() >= 2,
            message="two chunks running",
        )

    response = api.post(f"/bulk-operations/{job.pk}/cancel/")
    assert response.status_code in (200, 202), response.data
    job = finished(job)

    assert job.state == "CANCELLED", job.result
    written = SimpleModel.objects.count()
    assert 20 <= written < total
    assert written % 10 == 0
    assert (job.succeeded, job.processed) == (written, written)
    chunks = BulkJobChunk.objects.filter(job=job)
    assert sum(chunks.values_list("succeeded", flat=True)) == written
    assert not chunks.filter(state="PROGRESS").exists()
    assert len(result_lines(api, job, "successful")) == written
    assert len(result_lines(api, job, "unprocessed")) == total - written


def test_a_killed_workers_chunk_is_resumed(runner, api, chunked, helpers):
    job = submit(api, "/jobs/slow/", items(180), prefer="handling=lenient")
    wait_until(
        lambda: (
            BulkJobChunk.objects.filter(job_id=job.pk, state="PROGRESS")
            .exclude(start=F("checkpoint"))
            .exists()
        ),
        message="a chunk with a committed batch",
    )
    victim = (
        BulkJobChunk.objects.filter(job_id=job.pk, state="PROGRESS")
        .exclude(start=F("checkpoint"))
        .first()
    )
    # The other worker goes on, and takes the dead one's chunk over once
    # its heartbeat is stale (Celery also delivers the dead task again).
    os.kill(int(victim.worker.split(":")[1]), signal.SIGKILL)
    crashed = BulkJobChunk.objects.get(pk=victim.pk)
    assert crashed.checkpoint % 10 == 0

    job = finished(job)

    assert job.state == "SUCCESS", job.result
    victim.refresh_from_db()
    assert victim.attempts >= 2
    assert victim.state == "SUCCESS"
    numbers = list(SimpleModel.objects.values_list("number", flat=True))
    # No batch twice, none lost.
    assert sorted(numbers) == list(range(180))
    assert (job.succeeded, job.failed, job.processed) == (180, 0, 180)
    assert len(result_lines(api, job, "successful")) == 180
    parts = get_storage().listdir(f"bulk_jobs/{job.pk}/parts")[1]
    assert len(parts) == 18


def test_a_chunk_interrupted_too_often_fails_the_job_and_keeps_what_was_committed(
    api, chunked, job_settings, shared_database
):
    job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, "JOB_WORKERS": 0}
    job = submit(api, "/jobs/simple/", items(90), prefer="handling=lenient")
    # Split as a worker that took the job would, and let the second chunk
    # look as if it had killed its worker three times already.
    BulkJob.objects.filter(pk=job.pk).update(state="PROGRESS")
    assert split(BulkJob.objects.get(pk=job.pk), BulkJob.objects.filter(pk=job.pk)) == 3
    BulkJob.objects.filter(pk=job.pk).update(state="PENDING")
    BulkJobChunk.objects.filter(job=job, index=1).update(attempts=3)

    assert run_job(job.pk) == "done"

    job = BulkJob.objects.get(pk=job.pk)
    assert job.state == "FAILURE"
    assert job.result["code"] == "interrupted"
    assert "3 times" in job.message
    states = list(BulkJobChunk.objects.filter(job=job).values_list("state", flat=True))
    assert states == ["SUCCESS", "FAILURE", "PENDING"]
    assert sorted(SimpleModel.objects.values_list("number", flat=True)) == list(range(30))
    assert (job.succeeded, job.failed, job.processed) == (30, 0, 30)
    assert len(result_lines(api, job, "successful")) == 30
    assert len(result_lines(api, job, "unprocessed")) == 60


def test_status_of_a_running_chunked_job_sums_its_chunks(
    api, chunked, job_settings, shared_database
):
    job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, "JOB_WORKERS": 0}
    job = submit(api, "/jobs/simple/", items(90), prefer="handling=lenient")
    BulkJob.objects.filter(pk=job.pk).update(state="PROGRESS")
    split(BulkJob.objects.get(pk=job.pk), BulkJob.objects.filter(pk=job.pk))
    BulkJob.objects.filter(pk=job.pk).update(lease=None)
    # One worker runs the last chunk only.
    lease = uuid.uuid4()
    last = BulkJobChunk.objects.get(job=job, index=2)
    assert claim_chunk(last.pk, lease)
    run_chunk(last.pk, lease)

    data = api.get(f"/bulk-operations/{job.pk}/status/").json()
    assert data["state"] == "PROGRESS"
    assert data["progress"]["current"] == 30, list(
        BulkJobChunk.objects.values_list("worker", "state")
    )
    job = BulkJob.objects.get(pk=job.pk)
    assert (job.succeeded, job.failed, job.processed) == (30, 0, 30)
    assert sorted(SimpleModel.objects.values_list("number", flat=True)) == list(range(60, 90))

    # The worker of the other chunks ends the job, once.
    assert work(job.pk) == 2
    job = BulkJob.objects.get(pk=job.pk)
    assert job.state == "SUCCESS"
    assert (job.succeeded, job.processed) == (90, 90)
    assert [line["index"] for line in result_lines(api, job, "successful")] == list(range(90))
    assert not end_if_finished(job.pk)


def test_a_chunks_batches_cost_a_few_statements_each(api, chunked, job_settings, shared_database):
    job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, "JOB_WORKERS": 0}
    job = submit(api, "/jobs/simple/", items(90), prefer="handling=lenient")
    BulkJob.objects.filter(pk=job.pk).update(state="PROGRESS")
    split(BulkJob.objects.get(pk=job.pk), BulkJob.objects.filter(pk=job.pk))
    BulkJob.objects.filter(pk=job.pk).update(lease=None)
    lease = uuid.uuid4()
    chunk = BulkJobChunk.objects.get(job=job, index=1)
    assert claim_chunk(chunk.pk, lease)

    with CaptureQueriesContext(connection) as captured:
        run_chunk(chunk.pk, lease)

    statements = [query["sql"] for query in captured.captured_queries]
    # Each batch: one INSERT, committed with the chunk's checkpoint and the
    # job's counts; a handful of statements around it, whatever its size.
    assert len(statements) <= 45
    transactions = "\n".join(statements).split("COMMIT")[:-1]
    assert len(transactions) == 3
    qn = connection.ops.quote_name
    for number, sql in enumerate(transactions):
        assert sql.count(f"INSERT INTO {qn('tests_simplemodel')}") == 1
        assert f"{qn('checkpoint')} = {40 + 10 * number}, " in sql
        assert f"UPDATE {qn('rest_framework_bulk_jobs_bulkjob')} SET {qn('processed')} = " in sql
    assert BulkJobChunk.objects.get(pk=chunk.pk).state == "SUCCESS"
