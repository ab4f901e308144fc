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


def job_setting(name: str) -> Any:
    """The value of the job setting ``name``."""
    return getattr(api_settings, name)
