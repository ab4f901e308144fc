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
        ({"JOB_CHUNK_SIZE": -1}, "rest_framework_bulk.E110"),
        ({"JOB_CHUNK_SIZE": 1.5}, "rest_framework_bulk.E110"),
        ({"JOB_CHUNK_SIZE": True}, "rest_framework_bulk.E110"),
    ],
)
def test_bad_job_settings(settings, overrides, expected):
    settings.REST_FRAMEWORK_BULK = overrides

    assert [error.id for error in check_job_settings()] == [expected]


@pytest.mark.parametrize("size", [0, None, 1, 50_000])
def test_chunk_size_may_be_off_or_any_whole_number(settings, size):
    settings.REST_FRAMEWORK_BULK = {"JOB_CHUNK_SIZE": size}

    assert check_job_settings() == []


TASK_RUNNER = "rest_framework_bulk.jobs.django_tasks.TaskRunner"
DATABASE_BACKEND = {"BACKEND": "django_tasks_db.DatabaseBackend"}


def without_task_framework(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("django.tasks", "django_tasks") else find_spec(name, *a),
    )


def test_task_runner_without_a_task_framework(settings, monkeypatch):
    settings.REST_FRAMEWORK_BULK = {"JOB_RUNNER": TASK_RUNNER}
    without_task_framework(monkeypatch)

    errors = check_job_runner()

    assert [error.id for error in errors] == ["rest_framework_bulk.E107"]
    assert "pip install drf-bulk[tasks]" in errors[0].hint


def test_task_runner_on_a_backend_that_is_not_configured(settings):
    settings.REST_FRAMEWORK_BULK = {"JOB_RUNNER": TASK_RUNNER, "JOB_TASK_BACKEND": "jobs"}
    settings.TASKS = {"default": DATABASE_BACKEND}

    errors = check_job_runner()

    assert [error.id for error in errors] == ["rest_framework_bulk.E108"]
    assert "['default']" in errors[0].hint


def test_task_runner_on_a_queue_the_backend_does_not_allow(settings):
    settings.REST_FRAMEWORK_BULK = {"JOB_RUNNER": TASK_RUNNER, "JOB_TASK_QUEUE_NAME": "bulk"}
    settings.TASKS = {"default": {**DATABASE_BACKEND, "QUEUES": ["default", "mail"]}}

    errors = check_job_runner()

    assert [error.id for error in errors] == ["rest_framework_bulk.E109"]
    assert "TASKS['default']['QUEUES']" in errors[0].hint


@pytest.mark.parametrize("backend", ["immediate.ImmediateBackend", "dummy.DummyBackend"])
def test_task_runner_on_a_backend_without_workers_is_a_warning(settings, backend):
    pytest.importorskip("django_tasks_db")
    package = "django.tasks" if importlib.util.find_spec("django.tasks") else "django_tasks"
    settings.REST_FRAMEWORK_BULK = {"JOB_RUNNER": TASK_RUNNER}
    settings.TASKS = {**settings.TASKS, "default": {"BACKEND": f"{package}.backends.{backend}"}}

    errors = check_job_runner()

    assert [(error.id, error.is_serious()) for error in errors] == [
        ("rest_framework_bulk.W101", False)
    ]


def test_task_runner_on_a_backend_with_workers(settings):
    pytest.importorskip("django_tasks_db")
    settings.REST_FRAMEWORK_BULK = {"JOB_RUNNER": TASK_RUNNER, "JOB_TASK_QUEUE_NAME": "bulk"}
    settings.TASKS = {"default": {**DATABASE_BACKEND, "QUEUES": ["default", "bulk"]}}

    assert check_job_runner() == []
