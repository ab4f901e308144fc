"""Deleting expired jobs."""

from __future__ import annotations

from django.utils import timezone

from .models import BulkJob


def purge_expired(now=None, *, batch_size: int = 500) -> int:
    """Delete the jobs past ``expires_at`` (not those running) and their files.

    Returns how many jobs were deleted. Each job's files go once its delete
    is committed (the ``post_delete`` receiver).
    """
    now = now or timezone.now()
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
