"""Settings for ``python -m benchmarks.jobs``: the benchmark settings plus the jobs app."""

from __future__ import annotations

import os
import tempfile

from benchmarks.settings import *  # noqa: F403
from benchmarks.settings import DATABASES, INSTALLED_APPS, REST_FRAMEWORK_BULK

INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework_bulk.jobs"]
ROOT_URLCONF = "benchmarks.jobs_urls"

# Job input and result files, and uploads above 2.5 MB, go to disk here.
# A helper worker process (``--workers 2``) uses the files and the test
# database of the run it helps.
MEDIA_ROOT = os.environ.get("BULK_BENCH_MEDIA_ROOT") or tempfile.mkdtemp(
    prefix="drf-bulk-bench-media-"
)
if os.environ.get("BULK_BENCH_DB_NAME"):
    DATABASES = {"default": {**DATABASES["default"], "NAME": os.environ["BULK_BENCH_DB_NAME"]}}
FILE_UPLOAD_TEMP_DIR = MEDIA_ROOT

REST_FRAMEWORK_BULK = {
    **REST_FRAMEWORK_BULK,
    # The request reads at most MAX_ITEMS + 1 rows before handing the rest
    # of the file to the job: keep the default so that the head stays small.
    "MAX_ITEMS": 10_000,
    "ASYNC_THRESHOLD": 1_000,
    # Room for the 200 MB (and larger) files of ``--csv-mb``.
    "CSV_MAX_FILE_SIZE": 4 * 1024 * 1024 * 1024,
    # The benchmark runs the job itself, in-process; no worker threads.
    "JOB_WORKERS": 0,
}
if os.environ.get("BULK_BENCH_CHUNK_SIZE"):
    REST_FRAMEWORK_BULK["JOB_CHUNK_SIZE"] = int(os.environ["BULK_BENCH_CHUNK_SIZE"])
