"""Deleting expired jobs (and expired idempotency keys, when that app is installed)."""

from __future__ import annotations

from django.apps import apps
from django.utils import timezone

from .models import BulkJob


def purge_expired(now=None, *, batch_size: int = 500) -> int:
    """Delete the jobs past ``expires_at`` (not those running) and their files.

    Returns how many jobs were deleted. Each job's files go once its delete
    is committed (the ``post_delete`` receiver). The expired
    ``Idempotency-Key`` records go too (see ``purge_expired_idempotency_keys()``).
    """
    now = now or timezone.now()
    purge_expired_idempotency_keys(now)
    count = 0
    while True:
        ids = list(BulkJob.objects.expired(now).values_list("pk", flat=True)[:batch_size])
        if not ids:
            return count
        deleted = (
            BulkJob.objects.filter(pk__in=ids).expired(now).delete()[1].get(BulkJob._meta.label, 0)
        )
        if not deleted:
            return count
        count += deleted


def purge_expired_idempotency_keys(now=None) -> int:
    """Delete the expired ``Idempotency-Key`` records, if ``rest_framework_bulk.idempotency`` is installed."""
    if not apps.is_installed("rest_framework_bulk.idempotency"):
        return 0
    return apps.get_model("rest_framework_bulk_idempotency.IdempotencyKey").objects.purge_expired(
        now
    )
