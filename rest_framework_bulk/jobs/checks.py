"""System checks for the job settings."""

from __future__ import annotations

import importlib.util

from django.core import checks
from django.utils.module_loading import import_string

from .conf import job_setting

CELERY_RUNNER = "rest_framework_bulk.jobs.celery.CeleryRunner"


@checks.register()
def check_job_runner(app_configs=None, **kwargs):
    path = job_setting("JOB_RUNNER")
    if path == CELERY_RUNNER and importlib.util.find_spec("celery") is None:
        return [
            checks.Error(
                "REST_FRAMEWORK_BULK['JOB_RUNNER'] is the Celery runner, but Celery is not installed.",
                hint="Install it with `pip install drf-bulk[celery]`, or use the embedded runner.",
                id="rest_framework_bulk.E101",
            )
        ]
    try:
        import_string(path)
    except ImportError as exc:
        return [
            checks.Error(
                f"REST_FRAMEWORK_BULK['JOB_RUNNER'] cannot be imported: {exc}.",
                hint="Give the dotted path of a `BaseRunner` subclass, such as "
                "'rest_framework_bulk.jobs.runners.EmbeddedRunner'.",
                id="rest_framework_bulk.E102",
            )
        ]
    return []
