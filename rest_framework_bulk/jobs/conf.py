"""
The job settings, read at call time.

They live in ``REST_FRAMEWORK_BULK`` with the package's other settings
(``rest_framework_bulk.settings.DEFAULTS`` lists them)::

    REST_FRAMEWORK_BULK = {
        "JOB_RUNNER": "rest_framework_bulk.jobs.celery.CeleryRunner",
        "JOB_BATCH_SIZE": 500,
    }
"""

from __future__ import annotations

from typing import Any

from ..settings import api_settings

#: Job settings that ``rest_framework_bulk.settings.DEFAULTS`` may not list
#: yet, with their defaults.
JOB_DEFAULTS = {
    # Most ids of each kind (created, updated, deleted, not found) shown in a
    # job's status reply; the successful and failed result files have all.
    "JOB_STATUS_MAX_IDS": 100,
}


def job_setting(name: str) -> Any:
    """The value of the job setting ``name``."""
    if name in JOB_DEFAULTS and name not in api_settings.defaults:
        return api_settings.user_settings.get(name, JOB_DEFAULTS[name])
    return getattr(api_settings, name)
