"""``manage.py recover_bulk_jobs``: send lost jobs to the runner again (run it from cron)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ...runners import get_runner


class Command(BaseCommand):
    help = (
        "Enqueue again, on DEFAULT_JOB_RUNNER_CLASS, the bulk jobs whose worker died or whose task or "
        "message was lost; they resume from their checkpoint."
    )

    def handle(self, *args, **options):
        count = get_runner().recover()
        self.stdout.write(f"Enqueued {count} lost bulk job(s) again.")
