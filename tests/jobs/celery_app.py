"""The Celery app of the job tests: a real worker on a real Redis broker.

Start a worker as the tests do::

    DJANGO_SETTINGS_MODULE=tests.jobs.worker_settings \
        celery -A tests.jobs.celery_app worker --pool=prefork --concurrency=1
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.jobs.worker_settings")

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"

app = Celery("drf_bulk_tests")
app.conf.update(
    broker_url=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
    broker_connection_retry_on_startup=True,
    task_default_queue=os.environ.get("BULK_JOBS_QUEUE", "drf-bulk-tests"),
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    # One message at a time, so a killed worker holds no other job's message.
    worker_prefetch_multiplier=1,
    imports=["rest_framework_bulk.jobs.celery"],
)
