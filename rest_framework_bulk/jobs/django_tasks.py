"""
Run bulk jobs on Django's task framework.

The only module of the package that imports the task framework: Django's own
``django.tasks`` (Django 6.0 and later) or, before it, its backport
``django_tasks`` (``pip install drf-bulk[tasks]``). Select the runner::

    REST_FRAMEWORK_BULK = {
        "DEFAULT_JOB_RUNNER_CLASS": "rest_framework_bulk.jobs.django_tasks.TaskRunner",
    }

Jobs are enqueued on the task backend ``JOB_TASK_BACKEND`` of ``TASKS``,
on the queue ``JOB_TASK_QUEUE_NAME``; a backend that runs tasks in worker
processes is needed, such as the database backend of ``django-tasks-db``
(``manage.py db_worker``). A task carries the job's id only. The framework
does not run a task again when its worker dies, so schedule
``recover_bulk_jobs`` (or ``manage.py recover_bulk_jobs``): it enqueues
again the jobs whose worker died or whose task was lost, and they resume
from their checkpoint (see :mod:`rest_framework_bulk.jobs.execution`).
``purge_bulk_jobs`` deletes the expired jobs.
"""

from __future__ import annotations

import importlib.util
import logging
from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from ..settings import api_settings
from . import chunks
from .purge import purge_expired
from .runners import BaseRunner, get_runner
from .running import run_job

# Neither ships type information (django-stubs stop at Django 5.2).
if importlib.util.find_spec("django.tasks") is not None:
    from django.tasks import task  # type: ignore[import-untyped,import-not-found,unused-ignore]
elif importlib.util.find_spec("django_tasks") is not None:  # Django before 6.0
    from django_tasks import task  # type: ignore[import-untyped,unused-ignore]
else:  # pragma: no cover
    raise ImproperlyConfigured(
        "The task runner needs Django's task framework: use Django 6.0 or later, or install "
        "the backport with `pip install drf-bulk[tasks]`."
    )

logger = logging.getLogger("rest_framework_bulk.jobs")

#: Retries after a database error before the task gives up (the job itself is
#: not lost: ``recover_bulk_jobs`` enqueues it again).
MAX_RETRIES = 5


def configured_task(function):
    """A task on the configured backend and queue (``.using()`` follows later changes)."""
    return task(backend=api_settings.JOB_TASK_BACKEND, queue_name=api_settings.JOB_TASK_QUEUE_NAME)(
        function
    )


def task_runner() -> TaskRunner:
    """The ``DEFAULT_JOB_RUNNER_CLASS`` if it is a task runner (a subclass, say), else a ``TaskRunner``."""
    runner = get_runner()
    return runner if isinstance(runner, TaskRunner) else TaskRunner()


@configured_task
def run_bulk_job(job_id: str, retries: int = 0) -> str:
    """Run the bulk job ``job_id``.

    Returns what ``run_job()`` did. ``"busy"`` means another live worker
    holds the job; should that worker die, ``recover_bulk_jobs`` enqueues
    the job again once its heartbeat is stale. After a database error (a
    locked database, a lost connection) the job is enqueued again, up to
    ``MAX_RETRIES`` times, and this task fails with the error.
    """
    try:
        return run_job(job_id, runner=task_runner())
    except (OperationalError, InterfaceError):
        if retries < MAX_RETRIES:
            logger.warning("Bulk job %s met a database error; it is enqueued again.", job_id)
            task_runner().retry(job_id, retries + 1)
        raise


@configured_task
def run_bulk_job_chunks(job_id: str) -> int:
    """Help with the chunks of the bulk job ``job_id``: run them until none is left.

    Returns how many this task ran. A chunk whose worker died is taken over
    by the job's other workers, or by ``recover_bulk_jobs`` once the job's
    heartbeat is stale.
    """
    count = chunks.work(job_id)
    chunks.end_if_finished(job_id)
    return count


@configured_task
def recover_bulk_jobs() -> int:
    """Enqueue again the jobs whose worker died or whose task was lost."""
    return task_runner().recover()


@configured_task
def purge_bulk_jobs() -> int:
    """Delete the expired jobs and their files."""
    return purge_expired()


class TaskRunner(BaseRunner):
    """Runs each job as a ``run_bulk_job`` task of Django's task framework."""

    task = run_bulk_job

    def get_task_options(self, job_id) -> dict:
        """Options for the task's ``using()``; override to set a priority, say.

        The default is the backend ``JOB_TASK_BACKEND`` and the queue
        ``JOB_TASK_QUEUE_NAME``::

            def get_task_options(self, job_id):
                return {**super().get_task_options(job_id), "priority": 10}
        """
        return {
            "backend": api_settings.JOB_TASK_BACKEND,
            "queue_name": api_settings.JOB_TASK_QUEUE_NAME,
        }

    def enqueue(self, job_id) -> None:
        self.task.using(**self.get_task_options(job_id)).enqueue(str(job_id))

    def enqueue_chunks(self, job_id, count: int) -> None:
        """Enqueue ``count`` ``run_bulk_job_chunks`` tasks, for other workers to help."""
        task = run_bulk_job_chunks.using(**self.get_task_options(job_id))
        for _number in range(count):
            task.enqueue(str(job_id))

    def retry(self, job_id, retries: int) -> None:
        """Enqueue the job again after a database error, ``JOB_HEARTBEAT_INTERVAL`` later."""
        task = self.task.using(**self.get_task_options(job_id))
        if task.get_backend().supports_defer:
            delay = timedelta(seconds=api_settings.JOB_HEARTBEAT_INTERVAL)
            task = task.using(run_after=timezone.now() + delay)
        task.enqueue(str(job_id), retries=retries)
