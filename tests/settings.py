"""Settings for the test suite.

The database comes from ``DATABASE_URL`` (``postgres://``, ``mysql://`` or
``sqlite://``); without it the suite runs on SQLite with no service needed.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from typing import Any
from urllib.parse import unquote, urlsplit

import django

SECRET_KEY = "drf-bulk-tests"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_bulk",
    "rest_framework_bulk.jobs",
    "rest_framework_bulk.idempotency",
    "tests.apps.TestsConfig",
]

# The task runner's tests enqueue on django-tasks-db's database backend, on
# Django's own task framework or, before Django 6.0, the django-tasks backport.
if importlib.util.find_spec("django_tasks_db") is not None:
    if importlib.util.find_spec("django.tasks") is None:
        INSTALLED_APPS.append("django_tasks")
    INSTALLED_APPS.append("django_tasks_db")
    _tasks = "django.tasks" if importlib.util.find_spec("django.tasks") else "django_tasks"
    TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []},
        "dummy": {"BACKEND": f"{_tasks}.backends.dummy.DummyBackend", "QUEUES": []},
    }

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The browsable API's forms send the CSRF token its cookie matches.
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

STATIC_URL = "/static/"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def database_from_url(url: str) -> dict:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme in ("sqlite", "sqlite3"):
        name = unquote(parts.path.lstrip("/")) or ":memory:"
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name}
    engines = {
        "postgres": "django.db.backends.postgresql",
        "postgresql": "django.db.backends.postgresql",
        "mysql": "django.db.backends.mysql",
        "mariadb": "django.db.backends.mysql",
    }
    if scheme not in engines:
        raise ValueError(f"Unsupported DATABASE_URL scheme {scheme!r}.")
    config: dict[str, Any] = {
        "ENGINE": engines[scheme],
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }
    if engines[scheme] == "django.db.backends.mysql":
        config["OPTIONS"] = {"charset": "utf8mb4"}
        config["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
    return config


DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL", "sqlite://"))}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Job workers in other processes cannot open an in-memory database.
    DATABASES["default"].setdefault("TEST", {}).setdefault(
        "NAME", os.path.join(tempfile.gettempdir(), f"drf-bulk-tests-{os.getpid()}.sqlite3")
    )
    DATABASES["default"]["OPTIONS"] = {"timeout": 20}
    if django.VERSION >= (5, 1):
        DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"

# Job input and result files (job workers are pointed at the same folder).
MEDIA_ROOT = os.path.join(tempfile.gettempdir(), "drf-bulk-test-media")

# Lets two runs share one server (a developer's and CI's, say) without
# fighting over Django's test database.
if os.environ.get("TEST_DATABASE_NAME"):
    DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ["TEST_DATABASE_NAME"]
