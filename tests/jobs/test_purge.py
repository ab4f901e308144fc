from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from rest_framework_bulk.jobs.files import get_storage
from rest_framework_bulk.jobs.models import BulkJob

from .test_execution import items, submit

pytestmark = [pytest.mark.urls("tests.jobs.urls"), pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def no_workers(job_settings):
    job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, "JOB_WORKERS": 0}


@pytest.fixture
def jobs(api):
    """An expired finished job, a finished one still kept, and an expired running one."""
    expired, kept, running = (submit(api, "/jobs/simple/", items(3)) for _ in range(3))
    for job in (expired, kept):
        api.post(f"/bulk-operations/{job.pk}/cancel/")
    past = timezone.now() - timedelta(seconds=1)
    BulkJob.objects.filter(pk__in=[expired.pk, running.pk]).update(expires_at=past)
    BulkJob.objects.filter(pk=running.pk).update(state="PROGRESS")
    return [BulkJob.objects.get(pk=job.pk) for job in (expired, kept, running)]


def test_purge_deletes_expired_jobs_and_their_files(jobs, capsys):
    expired, kept, running = jobs
    storage = get_storage()
    assert storage.exists(expired.files["unprocessed"]["jsonl"])

    call_command("purge_bulk_jobs")

    assert "Deleted 1 expired bulk job(s)." in capsys.readouterr().out
    assert set(BulkJob.objects.values_list("pk", flat=True)) == {kept.pk, running.pk}
    assert not storage.exists(expired.input_name)
    assert not storage.exists(expired.files["unprocessed"]["jsonl"])
    assert storage.exists(kept.input_name)
    assert storage.exists(running.input_name)


def test_purge_dry_run_deletes_nothing(jobs, capsys):
    call_command("purge_bulk_jobs", "--dry-run")

    assert "1 expired bulk job(s)." in capsys.readouterr().out
    assert BulkJob.objects.count() == 3


def test_a_finished_job_is_kept_for_the_retention_period(jobs, job_settings):
    kept = jobs[1]
    retention = job_settings.REST_FRAMEWORK_BULK.get("JOB_RETENTION", 24 * 60 * 60)

    assert kept.expires_at - kept.finished_at == timedelta(seconds=retention)


def test_celery_purge_task(jobs):
    pytest.importorskip("celery")
    from rest_framework_bulk.jobs.celery import purge_bulk_jobs

    assert purge_bulk_jobs() == 1
    assert BulkJob.objects.count() == 2


def test_deleting_the_owner_deletes_the_jobs_and_their_files(jobs, user):
    storage = get_storage()

    user.delete()

    assert not BulkJob.objects.exists()
    assert not any(storage.exists(job.input_name) for job in jobs)


def test_task_framework_purge_task(jobs):
    pytest.importorskip("django_tasks_db")
    from rest_framework_bulk.jobs.django_tasks import purge_bulk_jobs

    assert purge_bulk_jobs.call() == 1
    assert BulkJob.objects.count() == 2
