"""
Settings for drf-bulk live in one dict in your Django settings::

    REST_FRAMEWORK_BULK = {
        "MAX_ITEMS": 5000,
    }

Read them through ``api_settings``, at call time, so that
``override_settings(REST_FRAMEWORK_BULK=...)`` takes effect::

    from rest_framework_bulk.settings import api_settings

    api_settings.MAX_ITEMS

As with DRF's ``api_settings``, a setting that names a class (listed in
``IMPORT_STRINGS``) reads as the class itself::

    runner = api_settings.DEFAULT_JOB_RUNNER_CLASS()

A setting that was renamed (``RENAMED_SETTINGS``) is still read under its
old name, unless the new one is set too; the system check
``rest_framework_bulk.W001`` asks for the new name.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from rest_framework.settings import APISettings

DEFAULTS = {
    # Largest number of items one request may carry, on every verb (a
    # DELETE counts the rows it would remove). Above it: 413.
    "MAX_ITEMS": 10_000,
    # Items validated, fetched and written per batch. Each batch costs a
    # constant number of queries, so this trades memory for round trips.
    "BATCH_SIZE": 1000,
    # Lock the rows an update or delete touches (``SELECT ... FOR UPDATE``,
    # in primary-key order) so that concurrent bulk requests serialise
    # instead of deadlocking.
    "LOCK_ROWS": True,
    # ``None``: save item by item only when the model needs it (a custom
    # ``save()``, ``pre_save``/``post_save`` receivers, multi-table
    # inheritance). ``True``: always item by item. ``False``: always in
    # batches when the serializer allows it.
    "SAVE_PER_ITEM": None,
    # Validate items and render objects through a loop compiled once per list
    # from the child serializer's fields, for serializers and fields of DRF's
    # standard classes (others run DRF's own code). The results are DRF's;
    # ``False`` runs DRF's per-field code for everything.
    "COMPILED_SERIALIZERS": True,
    # Pause Python's cyclic garbage collector while a bulk write (a request,
    # a job's batch) runs; it resumes when the write ends. See
    # ``rest_framework_bulk.gcpause``.
    "PAUSE_GC": True,
    # Honour ``Prefer: handling=lenient`` (partial success) from clients.
    "ALLOW_LENIENT": True,
    # Not used: a GET on /bulk/ becomes an export job only when the client
    # sends ``Prefer: respond-async``. Kept so that settings naming it stay valid.
    "RETRIEVE_ASYNC_THRESHOLD": 100,
    # Writes on the /bulk/ endpoint above this many items become a job.
    "ASYNC_THRESHOLD": 10_000,
    # Longest a request with ``Prefer: wait=N`` waits for its job to end, in
    # seconds: a larger N is cut to it. The request holds a web worker (and
    # no database transaction) meanwhile.
    "MAX_WAIT": 10,
    # Largest CSV upload accepted, in bytes, checked while reading.
    "CSV_MAX_FILE_SIZE": 10 * 1024 * 1024,
    # The CSV cell text that means "set this field to null".
    "CSV_NULL_VALUE": "#N/A",
    # The class that starts submitted jobs, a ``BaseRunner`` subclass: the
    # embedded runner needs no broker; use
    # "rest_framework_bulk.jobs.celery.CeleryRunner" to run them on Celery, or
    # "rest_framework_bulk.jobs.django_tasks.TaskRunner" on Django's task
    # framework.
    "DEFAULT_JOB_RUNNER_CLASS": "rest_framework_bulk.jobs.runners.EmbeddedRunner",
    # The task runner's backend (an alias in Django's TASKS setting) and the
    # queue of that backend its tasks are enqueued on.
    "JOB_TASK_BACKEND": "default",
    "JOB_TASK_QUEUE_NAME": "default",
    # How long finished jobs and their result files are kept, in seconds.
    "JOB_RETENTION": 24 * 60 * 60,
    # Most item errors kept in a job's result summary (result files have all).
    "JOB_MAX_ERRORS": 1000,
    # Most ids of each kind (created, updated, deleted) kept in a job's result
    # summary (the successful result file has all).
    "JOB_MAX_IDS": 10_000,
    # Most ids of each kind shown in a job's status reply; the result files
    # have all.
    "JOB_STATUS_MAX_IDS": 100,
    # Items a job validates, writes and checkpoints at a time. A lenient job
    # commits once per batch; a worker that dies loses at most one batch,
    # which the next worker runs again from the start.
    "JOB_BATCH_SIZE": 1000,
    # Items of a lenient write job that one worker runs at a time (a chunk,
    # rounded up to a multiple of JOB_BATCH_SIZE): a larger job is split into
    # chunks that several workers run in parallel. 50 000 items is a minute
    # or so of work on one worker, long enough that claiming a chunk and
    # replaying the lookups before it (for duplicates) cost little, short
    # enough that a 100 000-item job already uses two workers. 0 or None
    # runs every job on one worker.
    "JOB_CHUNK_SIZE": 50_000,
    # The storage (a key of Django's STORAGES) and the path prefix for job
    # input and result files.
    "JOB_STORAGE": "default",
    "JOB_STORAGE_PREFIX": "bulk_jobs/",
    # Threads the embedded runner starts in each process that submits a job.
    # 0 starts none: jobs then wait for a `manage.py run_bulk_jobs` worker.
    "JOB_WORKERS": 2,
    # Seconds between a running job's heartbeats (and its looks for a cancel
    # request), and between an idle embedded worker's looks for jobs.
    "JOB_HEARTBEAT_INTERVAL": 5,
    # Seconds without a heartbeat after which a running job is taken to be
    # abandoned by a dead worker, and another worker takes it over.
    "JOB_STALE_AFTER": 60,
    # How many times a job may be started (its worker died) before it fails.
    "JOB_MAX_ATTEMPTS": 3,
    # Told when a job ends, after the ``job_finished`` signal: the dotted path
    # of a callable ``callback(job)``, or an http(s) URL that receives a POST
    # of the job's status JSON (5 s timeout, no retries). ``None``: nobody.
    # Not in IMPORT_STRINGS, since a URL is no dotted path: it is imported
    # when a job ends.
    "JOB_FINISHED_CALLBACK": None,
    # Seconds an ``Idempotency-Key`` and the answer to its first request are
    # kept (with ``rest_framework_bulk.idempotency`` installed); a retry after
    # that runs as a new request.
    "IDEMPOTENCY_KEY_TTL": 24 * 60 * 60,
}

#: Settings that name a class, given as a dotted path (or the class itself)
#: and read as the class.
IMPORT_STRINGS = [
    "DEFAULT_JOB_RUNNER_CLASS",
]

#: The old names of renamed settings, each with its name now.
RENAMED_SETTINGS = {
    "JOB_RUNNER": "DEFAULT_JOB_RUNNER_CLASS",
}


def with_current_names(user_settings):
    """``user_settings``, with each value set under an old name moved to its new one.

    A value set under the new name wins over one set under the old.
    """
    if not isinstance(user_settings, dict):
        return user_settings
    current = {key: value for key, value in user_settings.items() if key not in RENAMED_SETTINGS}
    for old, new in RENAMED_SETTINGS.items():
        if old in user_settings:
            current.setdefault(new, user_settings[old])
    return current


class _FromSettings:
    def __repr__(self) -> str:
        return "FROM_SETTINGS"


#: An option left to its setting (for parser and renderer class attributes,
#: where ``None`` already means something).
FROM_SETTINGS: Any = _FromSettings()


def get_view_option(view: Any, name: str, setting: str, default: Any = FROM_SETTINGS) -> Any:
    """A per-view option ``name``, for code that serves any view.

    The view's ``get_<name>()`` hook when it has one (every bulk view does;
    the hook falls back to the setting), else its ``<name>`` attribute, else
    ``default``, else the setting. The settings are the only source of
    defaults.
    """
    hook = getattr(view, f"get_{name}", None)
    if callable(hook):
        return hook()
    value = getattr(view, name, FROM_SETTINGS)
    if value is FROM_SETTINGS:
        value = default
    if value is FROM_SETTINGS:
        value = getattr(api_settings, setting)
    return value


class BulkAPISettings(APISettings):
    """DRF's ``APISettings``, reading ``REST_FRAMEWORK_BULK`` (with renamed settings' old names)."""

    # Job workers read settings from their own threads while a test (or a
    # setting_changed receiver) reloads them: without a lock, a reload that
    # iterates the cached names races a read that adds one.
    _lock = threading.RLock()

    def __getattr__(self, attr):
        with self._lock:
            return super().__getattr__(attr)

    def reload(self):
        with self._lock:
            super().reload()

    @property
    def user_settings(self):
        if not hasattr(self, "_user_settings"):
            self._user_settings = with_current_names(getattr(settings, "REST_FRAMEWORK_BULK", {}))
        return self._user_settings


# The stubs type `defaults` as DRF's own settings (a TypedDict of its keys), but
# APISettings is made to be reused with other defaults, as here.
api_settings = BulkAPISettings(None, DEFAULTS, IMPORT_STRINGS)  # type: ignore[arg-type]


def reload_api_settings(*args, setting, **kwargs):
    if setting == "REST_FRAMEWORK_BULK":
        api_settings.reload()


setting_changed.connect(reload_api_settings)
