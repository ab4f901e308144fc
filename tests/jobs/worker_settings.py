"""Settings for worker processes started by the job tests.

They are the test session's own settings (``BULK_JOBS_BASE_SETTINGS``),
pointed at the session's test database and media root, so that a worker
process sees the rows and files the tests create.
"""

from __future__ import annotations

import importlib
import os

from tests.jobs.support import JOB_SETTINGS

_base = importlib.import_module(os.environ.get("BULK_JOBS_BASE_SETTINGS", "tests.settings"))
globals().update({name: getattr(_base, name) for name in dir(_base) if name.isupper()})

INSTALLED_APPS = list(_base.INSTALLED_APPS)
if "rest_framework_bulk.jobs" not in INSTALLED_APPS:
    INSTALLED_APPS.append("rest_framework_bulk.jobs")

DATABASES = {alias: dict(config) for alias, config in _base.DATABASES.items()}
if os.environ.get("BULK_JOBS_DB_NAME"):
    DATABASES["default"]["NAME"] = os.environ["BULK_JOBS_DB_NAME"]
if os.environ.get("BULK_JOBS_SQLITE_TIMEOUT") and "sqlite3" in DATABASES["default"]["ENGINE"]:
    DATABASES["default"]["OPTIONS"] = {
        **DATABASES["default"].get("OPTIONS", {}),
        "timeout": float(os.environ["BULK_JOBS_SQLITE_TIMEOUT"]),
    }
if os.environ.get("BULK_JOBS_MEDIA_ROOT"):
    MEDIA_ROOT = os.environ["BULK_JOBS_MEDIA_ROOT"]

REST_FRAMEWORK_BULK = {**getattr(_base, "REST_FRAMEWORK_BULK", {}), **JOB_SETTINGS}
if os.environ.get("BULK_JOBS_TASK_QUEUE"):
    # The queue a task runner's worker serves, and enqueues recovered jobs on.
    REST_FRAMEWORK_BULK["JOB_TASK_QUEUE_NAME"] = os.environ["BULK_JOBS_TASK_QUEUE"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"rest_framework_bulk": {"handlers": ["console"], "level": "INFO"}},
}
