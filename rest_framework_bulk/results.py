"""
What a bulk operation did, item by item, and the summary built from it.

One record type serves every answer: ``ItemResult`` is the outcome of one
item, and ``ItemError`` is an ``ItemResult`` that failed. The same records
make the per-item ``items`` of a response, the ``errors`` of an error body,
the outcome records a job keeps between batches and its result files.
``summary_error()`` builds the entries of the ``errors`` list of a summary,
for a request's answer and a job's alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.db import models

from .values import display

if TYPE_CHECKING:
    from .versions import VersionField

__all__ = [
    "ACTIONS",
    "NO_VERSION",
    "STATUS_WORDS",
    "BulkResult",
    "ItemError",
    "ItemResult",
    "describe",
    "summary_error",
]

#: ``ItemResult.current_version`` when the outcome is not about versions.
NO_VERSION = object()

#: The actions of a bulk operation.
CREATE = "create"
UPDATE = "update"
PARTIAL_UPDATE = "partial_update"
DESTROY = "destroy"
UPSERT = "upsert"
ACTIONS = (CREATE, UPDATE, PARTIAL_UPDATE, DESTROY, UPSERT)

#: The status word of a written item, by action.
STATUS_WORDS = {
    "create": "created",
    "update": "updated",
    "partial_update": "updated",
    "destroy": "deleted",
}

#: Item error codes reported with the status ``invalid``; any other code is
#: its own status (``not_found``, ``permission_denied``, ``conflict``...).
INVALID_CODES = frozenset({"invalid", "invalid_lookup", "missing_lookup", "duplicate_lookup"})


class ItemResult:
    """The outcome of one item: written (``code`` is ``None``) or refused."""

    __slots__ = (
        "index",
        "status",
        "pk",
        "lookup",
        "code",
        "detail",
        "codes",
        "instance",
        "current_version",
        "line",
    )

    def __init__(
        self,
        index: int,
        status: str,
        *,
        pk: Any = None,
        lookup: Any = None,
        code: str | None = None,
        detail: Any = None,
        codes: Any = None,
        instance: models.Model | None = None,
        current_version: Any = NO_VERSION,
        line: int | None = None,
    ):
        self.index = index
        self.status = status
        self.pk = pk
        self.lookup = lookup
        self.code = code
        self.detail = detail
        self.codes = codes
        self.instance = instance
        # The row's version after the write; for a `version_conflict`, the
        # row's version now (None: the row is gone).
        self.current_version = current_version
        # The item's line in a CSV input.
        self.line = line

    @property
    def ok(self) -> bool:
        return self.code is None

    def as_dict(self) -> dict:
        """The item's record, as responses, job outcomes and result files show it."""
        data: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.line is not None:
            data["line"] = self.line
        if self.pk is not None:
            data["id"] = display(self.pk)
        elif self.lookup is not None:
            data["lookup"] = self.lookup
        if self.code is not None:
            data["code"] = self.code
            data["detail"] = self.detail
            if self.codes is not None:
                data["codes"] = self.codes
        if self.current_version is not NO_VERSION:
            data["current_version"] = self.current_version
        return data

    def as_error(self) -> dict:
        """The item's entry in the ``errors`` of an error body: its record without a status."""
        data = self.as_dict()
        del data["status"]
        return data

    def __repr__(self) -> str:
        return f"<{type(self).__name__} index={self.index} status={self.status!r}>"


class ItemError(ItemResult):
    """An item that failed with ``code``; ``detail`` says why.

    ``detail`` is a message or DRF's ``{field: [messages]}``, and ``codes``
    the matching codes (``ValidationError.get_codes()``).
    """

    __slots__ = ()

    def __init__(
        self,
        index: int,
        code: str,
        detail: Any,
        *,
        lookup: Any = None,
        codes: Any = None,
        line: int | None = None,
        current_version: Any = NO_VERSION,
    ):
        super().__init__(
            index,
            "invalid" if code in INVALID_CODES else code,
            lookup=lookup,
            code=code,
            detail=detail,
            codes=codes,
            current_version=current_version,
            line=line,
        )


def describe(detail: Any) -> str:
    """A one-line text for an error detail, as django-bulk-drf's ``error``."""
    if isinstance(detail, dict):
        parts = []
        for field, messages in detail.items():
            text = (
                "; ".join(str(m) for m in messages)
                if isinstance(messages, list)
                else describe(messages)
            )
            parts.append(f"{field}: {text}")
        return " ".join(parts)
    if isinstance(detail, list):
        return " ".join(describe(item) for item in detail)
    return str(detail)


_NOTHING = object()


def summary_error(
    index: int, code: str | None, detail: Any, *, line: int | None = None, data: Any = _NOTHING
) -> dict:
    """An entry of a summary's ``errors``: django-bulk-drf's shape, plus ``code`` and ``line``."""
    entry: dict[str, Any] = {"index": index, "code": code, "error": echo(describe(detail))}
    if line is not None:
        entry["line"] = line
    if data is not _NOTHING:
        entry["data"] = echo(data)
    return entry


_SURROGATE = re.compile("[\ud800-\udfff]")


def echo(value: Any) -> Any:
    """A client's item as a response can carry it back.

    Lone surrogates (which a client's JSON can spell as escapes) cannot be
    encoded as UTF-8: they are sent back as U+FFFD. Anything else is
    returned as it is.
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, Mapping):
        pairs = [(echo(key), echo(item)) for key, item in value.items()]
        if all(k is key and v is item for (k, v), (key, item) in zip(pairs, value.items())):
            return value
        return dict(pairs)
    if isinstance(value, (list, tuple)):
        items = [echo(item) for item in value]
        if all(new is old for new, old in zip(items, value)):
            return value
        return items
    return value


def line_of(item: Any) -> int | None:
    """The line of a CSV row (``CSVRow.line``); ``None`` for JSON items."""
    return getattr(item, "line", None)


class BulkResult:
    """What a bulk operation did, item by item."""

    def __init__(self, action: str, total: int, *, dry_run: bool = False, serializer=None):
        self.action = action
        self.total = total
        self.dry_run = dry_run
        #: The serializer that validated and wrote the items, if one did.
        self.serializer = serializer
        self.items: list[ItemResult] = []
        #: The view's version field; written items then report their new version.
        self.version: VersionField | None = None

    def add(self, item: ItemResult) -> None:
        self.items.append(item)

    def add_error(self, error: ItemError) -> None:
        self.items.append(error)

    def add_done(self, index: int, instance: models.Model, status: str) -> None:
        current = NO_VERSION
        if self.version is not None:
            current = self.version.represent(getattr(instance, self.version.attname))
        self.items.append(
            ItemResult(index, status, pk=instance.pk, instance=instance, current_version=current)
        )

    def sort(self) -> None:
        self.items.sort(key=lambda item: item.index)

    def set_lines(self, items: Sequence, start: int = 0) -> None:
        """Give each outcome the CSV line of its item, if the items are CSV rows."""
        for item in self.items:
            if 0 <= item.index - start < len(items):
                item.line = line_of(items[item.index - start])

    @property
    def succeeded(self) -> list[ItemResult]:
        return [item for item in self.items if item.ok]

    @property
    def failed(self) -> list[ItemResult]:
        return [item for item in self.items if not item.ok]

    @property
    def instances(self) -> list[models.Model]:
        return [item.instance for item in self.items if item.ok and item.instance is not None]

    def ids(self, status: str) -> list:
        return [display(item.pk) for item in self.items if item.status == status]

    def summary(self, data: Sequence | None = None) -> dict:
        """The result body: the original django-bulk-drf summary plus per-item results."""
        errors = []
        for item in self.failed:
            extra = {}
            if data is not None and 0 <= item.index < len(data):
                extra["data"] = data[item.index]
            errors.append(
                summary_error(item.index, item.code, item.detail, line=item.line, **extra)
            )
        if self.dry_run:
            created, updated, deleted = [], self.ids("would_update"), self.ids("would_delete")
        else:
            created, updated, deleted = (
                self.ids("created"),
                self.ids("updated"),
                self.ids("deleted"),
            )
        return {
            "total_items": self.total,
            "success_count": len(self.succeeded),
            "error_count": len(self.failed),
            "dry_run": self.dry_run,
            "errors": errors,
            "created_ids": created,
            "updated_ids": updated,
            "deleted_ids": deleted,
            "items": [item.as_dict() for item in self.items],
        }
