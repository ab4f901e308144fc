"""
Fixtures for the job tests.

Every job test runs three times: on the embedded runner (worker threads in
the test process), on a real Celery worker process with a real Redis broker
(``REDIS_URL``, default ``redis://127.0.0.1:6379/15``; skipped only if Redis
cannot be reached), and on the task runner with a real ``db_worker`` process
of django-tasks-db (skipped only if it is not installed).
``BULK_JOBS_RUNNERS=embedded,celery`` picks some of them. A worker in
another process must see what the test commits, so these tests use ``transaction=True`` and a test database that
lives outside the test process: PostgreSQL, MariaDB, or SQLite with a file
``TEST["NAME"]``.
"""

from __future__ import annotations

from django.apps import apps

if apps.is_installed("rest_framework_bulk.jobs"):
    from .fixtures import *  # noqa: F403
else:
    # The job tables exist only when the app is in the test settings'
    # INSTALLED_APPS; without them there is nothing to test.
    collect_ignore_glob = ["test_*.py"]
