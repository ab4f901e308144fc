"""
The job settings, read at call time.

They live in ``REST_FRAMEWORK_BULK`` with the package's other settings::

    REST_FRAMEWORK_BULK = {
        "JOB_RUNNER": "rest_framework_bulk.jobs.celery.CeleryRunner",
        "JOB_BATCH_SIZE": 500,
    }
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from ..settings import api_settings

JOB_DEFAULTS: dict[str, Any] = {
    # How jobs run: the embedded runner needs no broker; use
    # "rest_framework_bulk.jobs.celery.CeleryRunner" to run them on Celery.
    "JOB_RUNNER": "rest_framework_bulk.jobs.runners.EmbeddedRunner",
    # How long finished jobs and their result files are kept, in seconds.
    "JOB_RETENTION": 24 * 60 * 60,
    # Most item errors kept in a job's result summary (result files have all).
    "JOB_MAX_ERRORS": 1000,
    # Most ids of each kind (created, updated, deleted) kept in a job's result
    # summary (the successful result file has all).
    "JOB_MAX_IDS": 10_000,
    # Items a job validates, writes and checkpoints at a time. A lenient job
    # commits once per batch; a worker that dies loses at most one batch,
    # which the next worker runs again from the start.
    "JOB_BATCH_SIZE": 1000,
    # The storage (a key of Django's STORAGES) and the path prefix for job
    # input and result files.
    "JOB_STORAGE": "default",
    "JOB_STORAGE_PREFIX": "bulk_jobs/",
    # Threads the embedded runner starts in each process that submits a job.
    # 0 starts none: jobs then wait for a `manage.py run_bulk_jobs` worker.
    "JOB_WORKERS": 2,
    # Seconds between a running job's heartbeats (and its looks for a cancel
    # request), and between an idle embedded worker's looks for jobs.
    "JOB_HEARTBEAT_INTERVAL": 5,
    # Seconds without a heartbeat after which a running job is taken to be
    # abandoned by a dead worker, and another worker takes it over.
    "JOB_STALE_AFTER": 60,
    # How many times a job may be started (its worker died) before it fails.
    "JOB_MAX_ATTEMPTS": 3,
}


def job_setting(name: str) -> Any:
    """The value of the job setting ``name``."""
    try:
        return getattr(api_settings, name)
    except AttributeError:
        user_settings = getattr(settings, "REST_FRAMEWORK_BULK", None) or {}
        return user_settings.get(name, JOB_DEFAULTS[name])
