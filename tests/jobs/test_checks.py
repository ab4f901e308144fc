from __future__ import annotations

import importlib.util

import pytest

from rest_framework_bulk.jobs.checks import check_job_runner, check_job_settings
from rest_framework_bulk.jobs.runners import EmbeddedRunner


def test_default_runner_is_fine():
    assert check_job_runner() == []


def test_runner_that_cannot_be_imported(settings):
    settings.REST_FRAMEWORK_BULK = {"JOB_RUNNER": "nowhere.Runner"}

    assert [error.id for error in check_job_runner()] == ["rest_framework_bulk.E102"]


def test_runner_under_its_new_name_that_cannot_be_imported(settings):
    settings.REST_FRAMEWORK_BULK = {"DEFAULT_JOB_RUNNER_CLASS": "nowhere.Runner"}

    errors = check_job_runner()

    assert [error.id for error in errors] == ["rest_framework_bulk.E102"]
    assert "'DEFAULT_JOB_RUNNER_CLASS'" in errors[0].msg


def test_runner_given_as_a_class(settings):
    settings.REST_FRAMEWORK_BULK = {"DEFAULT_JOB_RUNNER_CLASS": EmbeddedRunner}

    assert check_job_runner() == []


def test_celery_runner_without_celery(settings, monkeypatch):
    settings.REST_FRAMEWORK_BULK = {"JOB_RUNNER": "rest_framework_bulk.jobs.celery.CeleryRunner"}
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "celery" else find_spec(name, *a),
    )

    errors = check_job_runner()

    assert [error.id for error in errors] == ["rest_framework_bulk.E101"]
    assert "pip install drf-bulk[celery]" in errors[0].hint


@pytest.mark.skipif(importlib.util.find_spec("celery") is None, reason="Celery is not installed")
def test_celery_runner_with_celery(settings):
    settings.REST_FRAMEWORK_BULK = {"JOB_RUNNER": "rest_framework_bulk.jobs.celery.CeleryRunner"}

    assert check_job_runner() == []


def test_default_job_settings_are_fine():
    assert check_job_settings() == []


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"JOB_STORAGE": "nowhere"}, "rest_framework_bulk.E103"),
        ({"JOB_HEARTBEAT_INTERVAL": 40, "JOB_STALE_AFTER": 60}, "rest_framework_bulk.E104"),
        ({"JOB_HEARTBEAT_INTERVAL": "5"}, "rest_framework_bulk.E104"),
        ({"JOB_WORKERS": -1}, "rest_framework_bulk.E105"),
    ],
)
def test_bad_job_settings(settings, overrides, expected):
    settings.REST_FRAMEWORK_BULK = overrides

    assert [error.id for error in check_job_settings()] == [expected]
