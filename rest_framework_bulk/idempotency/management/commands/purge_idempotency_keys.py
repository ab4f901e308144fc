"""``manage.py purge_idempotency_keys``: delete expired idempotency keys (run it from cron)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ...models import IdempotencyKey


class Command(BaseCommand):
    help = "Delete the idempotency keys past their expiry (IDEMPOTENCY_KEY_TTL after their first request)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count the expired keys.")

    def handle(self, *args, dry_run=False, **options):
        if dry_run:
            count = IdempotencyKey.objects.expired().count()
            self.stdout.write(f"{count} expired idempotency key(s).")
            return
        count = IdempotencyKey.objects.purge_expired()
        self.stdout.write(f"Deleted {count} expired idempotency key(s).")
