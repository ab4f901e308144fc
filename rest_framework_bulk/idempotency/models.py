"""One ``Idempotency-Key`` of one user on one view, and the answer to its first request."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class IdempotencyKeyQuerySet(models.QuerySet):
    def expired(self, now=None):
        """The records past their expiry, finished or not (a claim whose process died)."""
        return self.filter(expires_at__lte=now or timezone.now())

    def purge_expired(self, now=None, *, batch_size: int = 1000) -> int:
        """Delete the expired records, ``batch_size`` at a time; how many were deleted."""
        now = now or timezone.now()
        count = 0
        while True:
            ids = list(self.expired(now).values_list("pk", flat=True)[:batch_size])
            if not ids:
                return count
            count += self.filter(pk__in=ids).expired(now).delete()[0]


class IdempotencyKey(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    #: The view (``get_bulk_idempotency_scope()``).
    scope = models.CharField(_("view"), max_length=200)
    key = models.CharField(_("key"), max_length=255)
    #: SHA-256 of the request; empty while the first request runs.
    fingerprint = models.CharField(_("fingerprint"), max_length=64, blank=True, default="")
    #: Bytes of the first request's body.
    body_size = models.PositiveBigIntegerField(_("body size"), default=0)
    #: The first answer; ``None`` while its request runs.
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    content = models.BinaryField(_("content"), default=b"")
    headers = models.JSONField(_("headers"), default=dict)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    objects = IdempotencyKeyQuerySet.as_manager()

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "scope", "key"], name="bulk_idempotency_key_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.key
