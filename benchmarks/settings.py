"""Settings for the benchmarks.

The server comes from ``DATABASE_URL`` (``postgres://``, ``mysql://`` or
``sqlite://``), parsed the same way as for the test suite; the runner
creates a database of its own on it (``<name>_bench_<pid>``) and drops it at
the end. Without ``DATABASE_URL`` the benchmarks use a SQLite file in a
temporary directory, removed at exit: a file rather than ``:memory:`` so
that commits cost what they cost in production.

Everything that would add the same constant to every request (sessions,
authentication, the browsable API) is left out: the numbers are about what
grows with the size of the list.
"""

from __future__ import annotations

import os
import tempfile
from importlib.util import find_spec
from pathlib import Path

from tests.settings import database_from_url

SECRET_KEY = "drf-bulk-benchmarks"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "benchmarks.urls"
ALLOWED_HOSTS = ["testserver"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "benchmarks",
]
# Looked up without importing it, so that a broken engine still lets the
# plain DRF and ORM cases run.
if find_spec("rest_framework_bulk") is not None:
    INSTALLED_APPS.insert(3, "rest_framework_bulk")

MIDDLEWARE: list[str] = []

# A 100 000 item JSON body is about 15 MB; Django refuses more than 2.5 MB
# by default.
DATA_UPLOAD_MAX_MEMORY_SIZE = None

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_PAGINATION_CLASS": None,
}

REST_FRAMEWORK_BULK = {
    # The default refuses lists above 10 000 items; the benchmarks send up
    # to 100 000. Everything else keeps its default.
    "MAX_ITEMS": 1_000_000,
}

BENCHMARK_TMPDIR = None
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": database_from_url(os.environ["DATABASE_URL"])}
    _name = DATABASES["default"]["NAME"]
    # Each run works in a database of its own, created and dropped by the
    # runner, so that two runs (or a run and the test suite) on one server
    # never touch each other's tables.
    if _name != ":memory:":
        _path = Path(_name)
        _bench = f"{_path.stem}_bench_{os.getpid()}{_path.suffix}"
        DATABASES["default"].setdefault("TEST", {})["NAME"] = str(_path.with_name(_bench))
else:
    BENCHMARK_TMPDIR = tempfile.mkdtemp(prefix="drf-bulk-bench-")
    _path = str(Path(BENCHMARK_TMPDIR) / "bench.sqlite3")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _path,
            "TEST": {"NAME": _path},
        }
    }
