"""Django settings for building the documentation.

Enough for autodoc to import every public module: the apps whose models the
modules use, and nothing that needs a database.
"""

SECRET_KEY = "drf-bulk-docs"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "rest_framework_bulk",
    "rest_framework_bulk.jobs",
    "rest_framework_bulk.idempotency",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
