"""
Run bulk jobs on Celery.

The only module of the package that imports Celery; install the extra
(``pip install drf-bulk[celery]``) and select the runner::

    REST_FRAMEWORK_BULK = {
        "DEFAULT_JOB_RUNNER_CLASS": "rest_framework_bulk.jobs.celery.CeleryRunner",
    }

Celery's ``app.autodiscover_tasks()`` finds the tasks (through
``rest_framework_bulk.jobs.tasks``). A message carries the job's id only.
The task acknowledges its message late and rejects it when its worker dies,
so the broker delivers it again; the job then resumes from its checkpoint
(see :mod:`rest_framework_bulk.jobs.running`). Schedule the two
housekeeping tasks with Celery beat::

    CELERY_BEAT_SCHEDULE = {
        "recover-bulk-jobs": {"task": "rest_framework_bulk.jobs.recover_bulk_jobs", "schedule": 60},
        "purge-bulk-jobs": {"task": "rest_framework_bulk.jobs.purge_bulk_jobs", "schedule": 3600},
    }
"""

from __future__ import annotations

import importlib.util

from django.core.exceptions import ImproperlyConfigured

if importlib.util.find_spec("celery") is None:  # pragma: no cover
    raise ImproperlyConfigured(
        "The Celery job runner needs Celery: install it with `pip install drf-bulk[celery]`."
    )

from celery import group, shared_task  # noqa: E402
from django.db import InterfaceError, OperationalError  # noqa: E402

from ..settings import api_settings  # noqa: E402
from . import chunks  # noqa: E402
from .purge import purge_expired  # noqa: E402
from .runners import BaseRunner, get_runner  # noqa: E402
from .running import BUSY, run_job  # noqa: E402

#: Redeliveries of a job held by a live worker, and retries after a database
#: error, before the task gives up (the job itself is not lost: the
#: recover task enqueues it again).
MAX_RETRIES = 5


@shared_task(
    bind=True,
    name="rest_framework_bulk.jobs.run_bulk_job",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
    ignore_result=True,
)
def run_bulk_job(self, job_id: str) -> str:
    """Run the bulk job ``job_id``."""
    try:
        outcome = run_job(job_id, runner=celery_runner())
    except (OperationalError, InterfaceError) as exc:
        raise self.retry(exc=exc, countdown=api_settings.JOB_HEARTBEAT_INTERVAL) from exc
    if outcome == BUSY:
        # Another worker holds the job. If that worker died (this message was
        # redelivered because of it), the job is claimable once its heartbeat
        # is stale.
        raise self.retry(countdown=api_settings.JOB_STALE_AFTER)
    return outcome


@shared_task(
    bind=True,
    name="rest_framework_bulk.jobs.run_bulk_job_chunks",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
    ignore_result=True,
)
def run_bulk_job_chunks(self, job_id: str) -> int:
    """Help with the chunks of the bulk job ``job_id``: run them until none is left.

    Returns how many this task ran. When none was left to take but some are
    still running, it tries again once a dead worker's chunk would be stale,
    so that a chunk whose worker died is taken over even with no other task
    left.
    """
    try:
        count = chunks.work(job_id)
    except (OperationalError, InterfaceError) as exc:
        raise self.retry(exc=exc, countdown=api_settings.JOB_HEARTBEAT_INTERVAL) from exc
    if not count and chunks.has_work(job_id) and self.request.retries < self.max_retries:
        # Left to the other workers (and to `recover_bulk_jobs`) once retries
        # are used up: the job is not lost.
        raise self.retry(countdown=api_settings.JOB_STALE_AFTER)
    chunks.end_if_finished(job_id)
    return count


@shared_task(name="rest_framework_bulk.jobs.recover_bulk_jobs", ignore_result=True)
def recover_bulk_jobs() -> int:
    """Enqueue again the jobs whose worker died or whose message was lost."""
    return CeleryRunner().recover()


@shared_task(name="rest_framework_bulk.jobs.purge_bulk_jobs", ignore_result=True)
def purge_bulk_jobs() -> int:
    """Delete the expired jobs and their files."""
    return purge_expired()


def celery_runner() -> CeleryRunner:
    """The ``DEFAULT_JOB_RUNNER_CLASS`` if it is a Celery runner (a subclass, say), else a ``CeleryRunner``."""
    runner = get_runner()
    return runner if isinstance(runner, CeleryRunner) else CeleryRunner()


class CeleryRunner(BaseRunner):
    """Runs each job as a ``run_bulk_job`` Celery task."""

    task = run_bulk_job
    chunk_task = run_bulk_job_chunks

    def get_task_options(self, job_id) -> dict:
        """The keyword arguments of ``apply_async()`` for the job ``job_id``; none by default.

        You may override this to send jobs to a queue of their own::

            class BulkQueueRunner(CeleryRunner):
                def get_task_options(self, job_id):
                    return {"queue": "bulk"}
        """
        return {}

    def enqueue(self, job_id) -> None:
        """Send a ``run_bulk_job`` message carrying the job's id, and nothing else."""
        self.task.apply_async(args=(str(job_id),), **self.get_task_options(job_id))

    def enqueue_chunks(self, job_id, count: int) -> None:
        """Send a group of ``count`` ``run_bulk_job_chunks`` messages, for other workers to help."""
        signature = self.chunk_task.signature(
            args=(str(job_id),), options=self.get_task_options(job_id)
        )
        group(signature.clone() for _number in range(count)).apply_async()
