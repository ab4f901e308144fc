"""What the task runner enqueues; the jobs themselves run in ``test_execution.py`` and others."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from rest_framework_bulk.jobs.models import BulkJob

from .test_execution import items, submit

pytest.importorskip("django_tasks_db")

from django_tasks_db.models import DBTaskResult  # noqa: E402

pytestmark = [pytest.mark.urls("tests.jobs.urls"), pytest.mark.django_db(transaction=True)]

TASK_RUNNER = "rest_framework_bulk.jobs.django_tasks.TaskRunner"
#: No worker serves it: the tasks stay where the runner put them.
QUEUE = "nobody-serves-this"


@pytest.fixture
def task_runner(job_settings):
    def use(**overrides):
        job_settings.REST_FRAMEWORK_BULK = {
            **job_settings.REST_FRAMEWORK_BULK,
            "JOB_RUNNER": TASK_RUNNER,
            "JOB_TASK_QUEUE_NAME": QUEUE,
            **overrides,
        }

    use()
    return use


def test_a_job_is_one_task_that_carries_its_id(task_runner, api):
    job = submit(api, "/jobs/simple/", items(3))

    task = DBTaskResult.objects.get()
    assert task.task_path == "rest_framework_bulk.jobs.django_tasks.run_bulk_job"
    assert task.args_kwargs == {"args": [str(job.pk)], "kwargs": {}}
    assert (task.queue_name, task.backend_name, task.status) == (QUEUE, "default", "READY")
    assert BulkJob.objects.get(pk=job.pk).state == "PENDING"


def test_the_job_runs_on_the_backend_it_names(task_runner, api):
    from rest_framework_bulk.jobs.django_tasks import run_bulk_job

    task_runner(JOB_TASK_BACKEND="dummy")
    dummy = run_bulk_job.using(backend="dummy").get_backend()
    dummy.clear()

    job = submit(api, "/jobs/simple/", items(3))

    assert not DBTaskResult.objects.exists()
    [result] = dummy.results
    assert result.task.name == "run_bulk_job"
    assert (result.args, result.task.queue_name) == ([str(job.pk)], QUEUE)


def test_a_subclass_sets_the_tasks_options(task_runner, api):
    task_runner(JOB_RUNNER="tests.jobs.task_runners.UrgentTaskRunner")

    submit(api, "/jobs/simple/", items(3))

    assert DBTaskResult.objects.get().priority == 50


def test_recover_bulk_jobs_enqueues_a_lost_job_again(task_runner, api):
    lost = submit(api, "/jobs/simple/", items(3))
    waiting = submit(api, "/jobs/simple/", items(3))
    BulkJob.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(hours=1))

    output = io.StringIO()
    call_command("recover_bulk_jobs", stdout=output)

    assert output.getvalue() == "Enqueued 1 lost bulk job(s) again.\n"
    args = [task.args_kwargs["args"] for task in DBTaskResult.objects.all()]
    assert sorted(args) == sorted([[str(lost.pk)], [str(lost.pk)], [str(waiting.pk)]])
