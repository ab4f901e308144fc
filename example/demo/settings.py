"""Settings for the drf-bulk demo project.

For local use only: DEBUG is on, the secret key is public and anyone may
read and write products. Bulk jobs belong to a user: ``seed_demo`` creates
``demo`` (password ``demo``), for ``curl -u demo:demo``.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "drf-bulk-demo-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_bulk",
    "rest_framework_bulk.jobs",
    "rest_framework_bulk.idempotency",
    "store",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "demo.urls"
WSGI_APPLICATION = "demo.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        # Job worker threads write while requests do: wait for the lock
        # rather than fail with "database is locked".
        "OPTIONS": {"timeout": 20},
    }
}
if django.VERSION >= (5, 1):
    # Take the write lock when a transaction starts, so that two writers
    # queue instead of one failing when it upgrades a read lock.
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
# Bulk jobs keep their input and result files in the default storage.
MEDIA_ROOT = BASE_DIR / "media"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # `curl -u demo:demo`; anonymous requests still read and write products.
        "rest_framework.authentication.BasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.AllowAny",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}

REST_FRAMEWORK_BULK = {
    # Writes on /api/products/bulk/ with more items than this run as a job
    # (the default is 10000); `make_demo_csv` makes a file large enough.
    "ASYNC_THRESHOLD": 1000,
}

# `pip install drf-bulk[filter]` adds django-filter: the demo then filters
# products with ?account=<id> and ?active=true|false.
if find_spec("django_filters") is not None:
    INSTALLED_APPS.append("django_filters")
    REST_FRAMEWORK["DEFAULT_FILTER_BACKENDS"] = [
        "django_filters.rest_framework.DjangoFilterBackend",
    ]

# `pip install drf-bulk[spectacular]` adds drf-spectacular: the OpenAPI schema of
# the demo API is then at /api/schema/ (and `manage.py spectacular`).
if find_spec("drf_spectacular") is not None:
    INSTALLED_APPS.append("drf_spectacular")
    REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "drf_spectacular.openapi.AutoSchema"
    SPECTACULAR_SETTINGS = {
        "TITLE": "drf-bulk demo",
        "DESCRIPTION": "Products with bulk routes, the /bulk/ endpoint and the job API.",
        "VERSION": "1.0.0",
        "SERVE_INCLUDE_SCHEMA": False,
    }
