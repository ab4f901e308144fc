from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks
from django.test import override_settings

import rest_framework_bulk.checks
import rest_framework_bulk.jobs.checks
from rest_framework_bulk.checks import check_renamed_settings, check_settings
from rest_framework_bulk.jobs.runners import BaseRunner, EmbeddedRunner
from rest_framework_bulk.settings import api_settings

SETTINGS_DOC = Path(__file__).resolve().parent.parent / "docs" / "ref" / "settings.rst"


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


def test_a_class_setting_reads_as_the_class():
    assert api_settings.DEFAULT_JOB_RUNNER_CLASS is EmbeddedRunner
    with override_settings(REST_FRAMEWORK_BULK={"DEFAULT_JOB_RUNNER_CLASS": BaseRunner}):
        assert api_settings.DEFAULT_JOB_RUNNER_CLASS is BaseRunner


def test_a_renamed_setting_still_works_and_is_reported():
    old = {"JOB_RUNNER": "rest_framework_bulk.jobs.runners.BaseRunner"}
    with override_settings(REST_FRAMEWORK_BULK=old):
        assert api_settings.DEFAULT_JOB_RUNNER_CLASS is BaseRunner
        assert check_settings() == []
        warnings = check_renamed_settings()
    assert ids(warnings) == ["rest_framework_bulk.W001"]
    assert warnings[0].level == checks.WARNING
    assert "'DEFAULT_JOB_RUNNER_CLASS'" in warnings[0].msg
    assert "Rename 'JOB_RUNNER' to 'DEFAULT_JOB_RUNNER_CLASS'" in warnings[0].hint


def test_the_new_name_wins_over_the_old():
    both = {
        "JOB_RUNNER": "rest_framework_bulk.jobs.runners.BaseRunner",
        "DEFAULT_JOB_RUNNER_CLASS": "rest_framework_bulk.jobs.runners.EmbeddedRunner",
    }
    with override_settings(REST_FRAMEWORK_BULK=both):
        assert api_settings.DEFAULT_JOB_RUNNER_CLASS is EmbeddedRunner
        warnings = check_renamed_settings()
    assert ids(warnings) == ["rest_framework_bulk.W001"]
    assert "ignored" in warnings[0].msg
    assert warnings[0].hint == "Remove 'JOB_RUNNER'."


def test_new_names_are_not_reported():
    new = {"DEFAULT_JOB_RUNNER_CLASS": "rest_framework_bulk.jobs.runners.BaseRunner"}
    with override_settings(REST_FRAMEWORK_BULK=new):
        assert check_renamed_settings() == []
    assert check_renamed_settings() == []


def check_ids(module) -> set[str]:
    return set(
        re.findall(r'id="(rest_framework_bulk\.[EW]\d{3})"', Path(module.__file__).read_text())
    )


def test_check_ids_are_unique_numbered_in_order_and_documented():
    core, jobs = check_ids(rest_framework_bulk.checks), check_ids(rest_framework_bulk.jobs.checks)
    assert not core & jobs
    assert all(name[-3] == "0" for name in core) and all(name[-3] == "1" for name in jobs)
    for group in ("E0", "W0", "E1", "W1"):
        numbers = sorted(int(name[-2:]) for name in core | jobs if name[-4:-2] == group)
        assert numbers == list(range(1, len(numbers) + 1)), group
    listed = re.findall(r"\* - ``(rest_framework_bulk\.[EW]\d{3})``", SETTINGS_DOC.read_text())
    assert sorted(listed) == sorted(core | jobs)


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
