from __future__ import annotations

import subprocess
import sys

import pytest
from django.test import override_settings

from rest_framework_bulk.checks import check_settings
from rest_framework_bulk.settings import api_settings


def ids(errors):
    return [error.id for error in errors]


def test_defaults_pass():
    assert check_settings() == []


@pytest.mark.parametrize(
    "value, expected",
    [
        ({"MAX_ITEMS": 0}, "rest_framework_bulk.E003"),
        ({"BATCH_SIZE": "1000"}, "rest_framework_bulk.E003"),
        ({"LOCK_ROWS": "yes"}, "rest_framework_bulk.E004"),
        ({"SAVE_PER_ITEM": "auto"}, "rest_framework_bulk.E005"),
        ({"CSV_NULL_VALUE": None}, "rest_framework_bulk.E006"),
        ({"MAX_ITEM": 5}, "rest_framework_bulk.E002"),
        ([], "rest_framework_bulk.E001"),
        ({"JOB_BATCH_SIZE": 2000, "MAX_ITEMS": 1000}, "rest_framework_bulk.E007"),
    ],
)
def test_bad_settings_are_reported(value, expected):
    with override_settings(REST_FRAMEWORK_BULK=value):
        errors = check_settings()
    assert ids(errors) == [expected]
    assert errors[0].hint


def test_override_settings_takes_effect():
    assert api_settings.MAX_ITEMS == 10_000
    with override_settings(REST_FRAMEWORK_BULK={"MAX_ITEMS": 3}):
        assert api_settings.MAX_ITEMS == 3
    assert api_settings.MAX_ITEMS == 10_000


def test_import_does_not_swallow_errors():
    """Without settings, using a name raises the real error instead of hiding it."""
    code = (
        "import rest_framework_bulk\n"
        "assert rest_framework_bulk.__version__\n"
        "try:\n"
        "    rest_framework_bulk.BulkModelViewSet\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PATH": ""}, check=True
    )
    assert result.stdout.strip() == "ImproperlyConfigured"


def test_public_names():
    import rest_framework_bulk
    from rest_framework_bulk.routes import BulkRouter, BulkSimpleRouter  # noqa: F401

    for name in [
        "BulkSerializerMixin",
        "BulkListSerializer",
        "BulkCreateModelMixin",
        "BulkUpdateModelMixin",
        "BulkDestroyModelMixin",
        "BulkCreateAPIView",
        "BulkUpdateAPIView",
        "BulkDestroyAPIView",
        "ListBulkCreateAPIView",
        "ListCreateBulkUpdateAPIView",
        "ListCreateBulkUpdateDestroyAPIView",
        "ListBulkCreateUpdateAPIView",
        "ListBulkCreateDestroyAPIView",
        "ListBulkCreateUpdateDestroyAPIView",
        "BulkModelViewSet",
    ]:
        assert getattr(rest_framework_bulk, name).__name__ == name


@pytest.mark.django_db
def test_works_without_being_an_installed_app(api):
    from django.conf import settings

    from .factories import AccountFactory
    from .models import Item

    account = AccountFactory()
    apps = [app for app in settings.INSTALLED_APPS if app != "rest_framework_bulk"]
    with override_settings(INSTALLED_APPS=apps, REST_FRAMEWORK_BULK={"MAX_ITEMS": 1}):
        payload = [
            {"account": account.pk, "sku": f"S{i}", "ref": f"r{i}", "name": "n"} for i in range(2)
        ]
        assert api.bulk("post", "/api/items/", payload).status_code == 413
        assert api.bulk("post", "/api/items/", payload[:1]).status_code == 201
    assert Item.objects.count() == 1
