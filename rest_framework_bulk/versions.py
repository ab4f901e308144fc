"""
Per-item versions: optimistic concurrency for bulk writes.

A view's ``bulk_version_field`` (or the serializer's
``Meta.bulk_version_field``) names a field that changes on every write: an
integer the engine increments, or a timestamp with ``auto_now``. Each item of
an update or delete may carry the value it last read, under the field's own
name; an item whose row has moved on fails with code ``version_conflict``
and nothing of it is written.

The check runs against the rows as fetched (locked with ``LOCK_ROWS``) and
the write repeats it: a batched ``UPDATE`` carries ``AND version = <read>``
and counts the rows it changed, and an item saved on its own or a delete
first claims its row with one conditional ``UPDATE``. Two concurrent
requests that read the same version cannot both pass, with or without row
locks.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models, transaction
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from .results import ItemError
from .validation import chunks
from .values import convert, display, shorten

__all__ = ["StaleVersion", "VersionField", "get_version_field"]

MESSAGES = {
    "version_conflict": _(
        "This object has changed since version %(sent)s was read; its current version is %(current)s. "
        "Nothing of this item was written."
    ),
    "version_gone": _("This object no longer exists; nothing of this item was written."),
    "version_required": _(
        "This item must carry `%(field)s`, the version of the object it was read at."
    ),
    "invalid": _("%(value)s is not a valid `%(field)s`."),
}


class StaleVersion(Exception):
    """Raised by a write that found rows no longer at the version it read."""

    def __init__(self, objects: Sequence[models.Model]):
        super().__init__(f"{len(objects)} rows changed since they were read")
        self.objects = list(objects)


def get_version_field(view, serializer_class=None) -> str | None:
    """The name of the version field for ``view``: its hook, else the serializer's ``Meta``."""
    hook = getattr(view, "get_bulk_version_field", None)
    if hook is not None:
        return hook()
    if serializer_class is None:
        serializer_class = view.get_serializer_class()
    return getattr(getattr(serializer_class, "Meta", None), "bulk_version_field", None)


class VersionField:
    """The version field of one model, and how to read, check and write it."""

    def __init__(self, model, name: str):
        try:
            field = model._meta.get_field(name)
        except Exception:
            raise ImproperlyConfigured(
                f"'{model.__name__}' has no field named '{name}', which is named as the bulk version "
                "field. Set `bulk_version_field` on the view (or `Meta.bulk_version_field` on the "
                "serializer) to an integer field or an `auto_now` timestamp of the model."
            ) from None
        self.counter = isinstance(field, models.IntegerField) and not isinstance(
            field, models.AutoField
        )
        if not self.counter and not (
            isinstance(field, models.DateField) and getattr(field, "auto_now", False)
        ):
            raise ImproperlyConfigured(
                f"The bulk version field '{model.__name__}.{name}' must be an integer field, which "
                "bulk writes increment, or a timestamp with `auto_now=True`, which they refresh."
            )
        self.model = model
        self.name = name
        self.field = field
        self.attname = field.attname

    # Reading what the client sent ----------------------------------------

    def sent(self, item: Any) -> Any:
        """The raw version ``item`` carries, or ``None``."""
        return item.get(self.name) if isinstance(item, dict) else None

    def check(
        self, index: int, item: Any, instance: models.Model, *, required: bool, lookup: Any = None
    ):
        """The error for ``item`` against ``instance`` as read, or ``None``."""
        raw = self.sent(item)
        if raw is None or raw == "":
            if required:
                return ItemError(
                    index,
                    "version_required",
                    MESSAGES["version_required"] % {"field": self.name},
                    lookup=lookup,
                )
            return None
        try:
            value = self.parse(raw)
        except ValueError:
            message = MESSAGES["invalid"] % {"value": shorten(raw), "field": self.name}
            return ItemError(
                index,
                "invalid",
                {self.name: [message]},
                codes={self.name: ["invalid"]},
                lookup=lookup,
            )
        current = getattr(instance, self.attname)
        if value != current:
            return self.conflict(index, instance, lookup=lookup, sent=raw)
        return None

    def parse(self, raw: Any) -> Any:
        if self.counter:
            return convert(self.field, raw)
        if isinstance(raw, datetime.date):
            return raw
        if not isinstance(raw, str):
            raise ValueError("a timestamp is sent as text")
        parser: serializers.Field
        if isinstance(self.field, models.DateTimeField):
            parser = serializers.DateTimeField()
        else:
            parser = serializers.DateField()
        try:
            return parser.to_internal_value(raw)
        except serializers.ValidationError as exc:
            raise ValueError(str(exc)) from None

    def conflict(
        self, index: int, instance: models.Model | None, *, lookup: Any = None, sent: Any = None
    ):
        if instance is None:
            return ItemError(
                index,
                "version_conflict",
                MESSAGES["version_gone"],
                lookup=lookup,
                current_version=None,
            )
        current = self.represent(getattr(instance, self.attname))
        message = MESSAGES["version_conflict"] % {
            "sent": shorten(sent) if sent is not None else "?",
            "current": current,
        }
        return ItemError(index, "version_conflict", message, lookup=lookup, current_version=current)

    def represent(self, value: Any) -> Any:
        """``value`` as the client reads it, and may send it back."""
        if value is None:
            return None
        if isinstance(value, datetime.datetime):
            return serializers.DateTimeField().to_representation(value)
        if isinstance(value, datetime.date):
            return serializers.DateField().to_representation(value)
        return display(value)

    # Writing ---------------------------------------------------------------

    def next_value(self, current: Any) -> Any:
        """The version a write stores: the read one plus one for a counter."""
        return (current or 0) + 1 if self.counter else current

    def claim(
        self, objects: Sequence[models.Model], expected: dict, using: str, *, batch_size: int
    ) -> list:
        """Check the rows of ``objects`` still hold ``expected[pk]``, and lock them.

        One conditional ``UPDATE`` per batch that writes the version
        (``expected + 1`` for a counter, unchanged for a timestamp, which the
        save that follows refreshes). Returns the objects whose rows moved on,
        with their current value read back.
        """
        stale = []
        base = self.model._base_manager.db_manager(using)
        for batch in chunks(list(objects), batch_size):
            condition = Q()
            for obj in batch:
                condition |= Q(pk=obj.pk, **{self.attname: expected[obj.pk]})
            value = F(self.attname) + 1 if self.counter else F(self.attname)
            count = (
                base.filter(pk__in=[obj.pk for obj in batch])
                .filter(condition)
                .update(**{self.attname: value})
            )
            if count != len(batch):
                stale.extend(self.stale(batch, expected, using))
        return stale

    def stale(self, objects: Sequence[models.Model], expected: dict, using: str) -> list:
        """The objects whose rows no longer hold ``expected[pk]``, refreshed."""
        current = self.current(objects, using)
        out: list[tuple[models.Model, models.Model | None]] = []
        for obj in objects:
            if obj.pk not in current:
                out.append((obj, None))
            elif current[obj.pk] != expected[obj.pk]:
                setattr(obj, self.attname, current[obj.pk])
                out.append((obj, obj))
        return out

    def current(self, objects: Sequence[models.Model], using: str) -> dict:
        """The committed version of each row, read with a locking read where there is one."""
        queryset = self.model._base_manager.db_manager(using).filter(
            pk__in=[obj.pk for obj in objects]
        )
        if (
            connections[using].features.has_select_for_update
            and transaction.get_connection(using).in_atomic_block
        ):
            # A plain read may answer from the transaction's snapshot (MySQL).
            queryset = queryset.select_for_update()
        return dict(queryset.values_list("pk", self.attname))
