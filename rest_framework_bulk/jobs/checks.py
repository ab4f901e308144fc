"""System checks for the job settings.

Their ids are ``rest_framework_bulk.E1xx`` (and ``W1xx``), numbered in order
with no gaps; the checks of the package's other settings are in
:mod:`rest_framework_bulk.checks`. docs/ref/settings.rst lists every id.
"""

from __future__ import annotations

import importlib.util

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..settings import DEFAULTS, api_settings

CELERY_RUNNER = "rest_framework_bulk.jobs.celery.CeleryRunner"
TASK_RUNNER_MODULE = "rest_framework_bulk.jobs.django_tasks"
TASK_RUNNER = f"{TASK_RUNNER_MODULE}.TaskRunner"
#: What the task framework runs on when ``TASKS`` is not set.
DEFAULT_TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
#: Backends that run no task in a worker process.
INLINE_BACKENDS = {"ImmediateBackend", "DummyBackend"}


@checks.register()
def check_job_runner(app_configs=None, **kwargs):
    # The dotted path as set: importing the class is what is being checked.
    path = api_settings.user_settings.get(
        "DEFAULT_JOB_RUNNER_CLASS", DEFAULTS["DEFAULT_JOB_RUNNER_CLASS"]
    )
    if not isinstance(path, str):
        return []  # the class itself
    if path == CELERY_RUNNER and importlib.util.find_spec("celery") is None:
        return [
            checks.Error(
                "REST_FRAMEWORK_BULK['DEFAULT_JOB_RUNNER_CLASS'] is the Celery runner, but Celery "
                "is not installed.",
                hint="Install it with `pip install drf-bulk[celery]`, or use the embedded runner.",
                id="rest_framework_bulk.E101",
            )
        ]
    errors = check_task_backend() if path == TASK_RUNNER else []
    if any(error.is_serious() for error in errors):
        # Importing the runner would fail on the same mistake.
        return errors
    try:
        runner_class = import_string(path)
    except (ImportError, ImproperlyConfigured) as exc:
        return [
            checks.Error(
                f"REST_FRAMEWORK_BULK['DEFAULT_JOB_RUNNER_CLASS'] cannot be imported: {exc}.",
                hint="Give the dotted path of a `BaseRunner` subclass, such as "
                "'rest_framework_bulk.jobs.runners.EmbeddedRunner'.",
                id="rest_framework_bulk.E102",
            )
        ]
    if path != TASK_RUNNER and is_task_runner(runner_class):
        errors = check_task_backend()
    return errors


def is_task_runner(runner_class) -> bool:
    """Whether ``runner_class`` is the task runner or a subclass, without importing it here."""
    return any(cls.__module__ == TASK_RUNNER_MODULE for cls in getattr(runner_class, "__mro__", ()))


def check_task_backend() -> list[checks.CheckMessage]:
    """The task runner's backend and queue, read from ``TASKS`` without importing the framework."""
    if (
        importlib.util.find_spec("django.tasks") is None
        and importlib.util.find_spec("django_tasks") is None
    ):
        return [
            checks.Error(
                "REST_FRAMEWORK_BULK['DEFAULT_JOB_RUNNER_CLASS'] is the task runner, but Django's task "
                "framework is not installed.",
                hint="Use Django 6.0 or later, or install the backport with "
                "`pip install drf-bulk[tasks]` (and add 'django_tasks' to INSTALLED_APPS).",
                id="rest_framework_bulk.E107",
            )
        ]
    tasks = getattr(settings, "TASKS", None)
    if tasks is None:
        tasks = DEFAULT_TASKS
    alias = api_settings.JOB_TASK_BACKEND
    if alias not in tasks:
        return [
            checks.Error(
                f"REST_FRAMEWORK_BULK['JOB_TASK_BACKEND'] is {alias!r}, which is not a key of TASKS.",
                hint=f"Use one of {sorted(tasks)}, or add a backend {alias!r} to TASKS.",
                id="rest_framework_bulk.E108",
            )
        ]
    backend = tasks[alias]
    queue = api_settings.JOB_TASK_QUEUE_NAME
    queues = backend.get("QUEUES", ["default"])
    if queues and queue not in queues:
        return [
            checks.Error(
                f"REST_FRAMEWORK_BULK['JOB_TASK_QUEUE_NAME'] is {queue!r}, which is not one of "
                f"the QUEUES of the task backend {alias!r}.",
                hint=f"Use one of {sorted(queues)}, or add {queue!r} to TASKS[{alias!r}]['QUEUES'].",
                id="rest_framework_bulk.E109",
            )
        ]
    backend_class = str(backend.get("BACKEND", ""))
    if backend_class.rpartition(".")[2] in INLINE_BACKENDS:
        return [
            checks.Warning(
                f"The task backend {alias!r} is {backend_class}: it runs no task in a worker, "
                "so jobs run inside the request that submits them, or not at all.",
                hint="Configure a backend with workers, such as django-tasks-db's "
                "'django_tasks_db.DatabaseBackend' and its `manage.py db_worker`.",
                id="rest_framework_bulk.W101",
            )
        ]
    return []


@checks.register()
def check_job_settings(app_configs=None, **kwargs):
    errors = []
    storage = api_settings.JOB_STORAGE
    if storage not in settings.STORAGES:
        errors.append(
            checks.Error(
                f"REST_FRAMEWORK_BULK['JOB_STORAGE'] is {storage!r}, which is not a key of STORAGES.",
                hint=f"Use one of {sorted(settings.STORAGES)}; the default is 'default'.",
                id="rest_framework_bulk.E103",
            )
        )
    interval = api_settings.JOB_HEARTBEAT_INTERVAL
    stale_after = api_settings.JOB_STALE_AFTER
    numbers = all(
        isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        for value in (interval, stale_after)
    )
    if not numbers or interval * 2 > stale_after:
        errors.append(
            checks.Error(
                "REST_FRAMEWORK_BULK['JOB_HEARTBEAT_INTERVAL'] and ['JOB_STALE_AFTER'] must be "
                "positive numbers of seconds, the interval at most half the other: a running "
                "job would otherwise look abandoned and be taken over.",
                hint="The defaults are 5 and 60.",
                id="rest_framework_bulk.E104",
            )
        )
    workers = api_settings.JOB_WORKERS
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        errors.append(
            checks.Error(
                f"REST_FRAMEWORK_BULK['JOB_WORKERS'] must be a whole number, 0 or more, not {workers!r}.",
                hint="0 leaves jobs to `manage.py run_bulk_jobs`; the default is 2.",
                id="rest_framework_bulk.E105",
            )
        )
    chunk_size = api_settings.JOB_CHUNK_SIZE
    if chunk_size is not None and (
        isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 0
    ):
        errors.append(
            checks.Error(
                f"REST_FRAMEWORK_BULK['JOB_CHUNK_SIZE'] must be a whole number of items, 0 or "
                f"more, or None, not {chunk_size!r}.",
                hint="0 or None runs every job on one worker; the default is 50000.",
                id="rest_framework_bulk.E110",
            )
        )
    callback = api_settings.JOB_FINISHED_CALLBACK
    if callback is not None and not is_callback(callback):
        errors.append(
            checks.Error(
                f"REST_FRAMEWORK_BULK['JOB_FINISHED_CALLBACK'] must be None, an http(s) URL or "
                f"the dotted path of a callable, not {callback!r}.",
                hint="Such as 'myapp.jobs.job_finished' or 'https://example.com/hooks/bulk-jobs'.",
                id="rest_framework_bulk.E106",
            )
        )
    return errors


def is_callback(value) -> bool:
    if not isinstance(value, str):
        return False
    if value.startswith(("http://", "https://")):
        return len(value) > len("https://")
    try:
        return callable(import_string(value))
    except ImportError:
        return False
