"""A task runner of a project's own, for the task runner's tests."""

from __future__ import annotations

from rest_framework_bulk.jobs.django_tasks import TaskRunner


class UrgentTaskRunner(TaskRunner):
    def get_task_options(self, job_id):
        return {**super().get_task_options(job_id), "priority": 50}
