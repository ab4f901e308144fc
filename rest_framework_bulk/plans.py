"""
The hand-off between the engine and ``BulkListSerializer``.

The engine (:class:`~rest_framework_bulk.operations.BulkOperation`) finds
and checks the targets, then gives the serializer a ``BulkPlan``: which
instance each item updates, where each item stands in the request, and how
to handle failures. The serializer validates and writes, and reports a
``BulkOutcome``: which items passed, which failed and why, what was saved.
Nothing else passes between them.

A serializer used on its own (``ItemSerializer(queryset, data=[...],
many=True)``) makes its own plan from its instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.db import models

    from .results import ItemError

__all__ = ["BulkOutcome", "BulkPlan"]


@dataclass
class BulkPlan:
    """What the serializer is asked to do with its items."""

    #: The instance each item updates, lined up with the data; ``None`` to create.
    targets: list[models.Model | None] | None = None
    #: Each item's index in the request, when the data is a part of it.
    positions: list[int] | None = None
    #: Write the valid items and report the others, rather than refuse all.
    lenient: bool = False
    #: The caller holds a transaction that it rolls back on error, so
    #: ``save()`` needs no savepoint of its own.
    in_transaction: bool = False
    #: The version field's name; ``None`` reads the child's
    #: ``Meta.bulk_version_field``, ``""`` checks no versions.
    version_field: str | None = None
    #: Refuse update items that carry no version (428 ``version_required``).
    version_required: bool = False

    def position(self, index: int) -> int:
        """The request index of the item at ``index`` in the data."""
        return self.positions[index] if self.positions is not None else index


@dataclass
class BulkOutcome:
    """What the serializer did with its items."""

    #: Indexes (into the data) of the items that passed validation, in order.
    validated: list[int] = field(default_factory=list)
    #: The items that failed, by request index.
    errors: list[ItemError] = field(default_factory=list)
    #: ``(request index, instance, status word)`` of each item saved.
    saved: list[tuple[int, models.Model, str]] = field(default_factory=list)
    #: The version of each row as read, by primary key, for the writes.
    expected_versions: dict[Any, Any] = field(default_factory=dict)
