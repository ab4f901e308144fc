"""``manage.py purge_bulk_jobs``: delete expired jobs and their files (run it from cron)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ...models import BulkJob
from ...purge import purge_expired


class Command(BaseCommand):
    help = "Delete the bulk jobs past their expiry (JOB_RETENTION after they finished) and their files."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count the expired jobs.")

    def handle(self, *args, dry_run=False, **options):
        if dry_run:
            count = BulkJob.objects.expired().count()
            self.stdout.write(f"{count} expired bulk job(s).")
            return
        count = purge_expired()
        self.stdout.write(f"Deleted {count} expired bulk job(s).")
