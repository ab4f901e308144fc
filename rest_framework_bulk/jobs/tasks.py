"""The Celery tasks, where ``app.autodiscover_tasks()`` looks for them."""

import importlib.util

if importlib.util.find_spec("celery") is not None:
    from .celery import purge_bulk_jobs, recover_bulk_jobs, run_bulk_job  # noqa: F401
