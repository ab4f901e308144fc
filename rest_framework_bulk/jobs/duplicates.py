"""
Items of one job that name the same object.

A synchronous update, delete or upsert refuses an item whose lookup value an
earlier item already named (``duplicate_lookup``): the row would be written
twice, and which write wins would depend on the order of the statements. The
engine sees one batch at a time, so a job looks for duplicates across all of
its batches itself, with the engine's own conversion of lookup values
(:func:`rest_framework_bulk.lookup_values`), so that ``"7"`` and
``7`` are the same object exactly when they are for a synchronous request.

The first item naming an object goes on; each later one fails with
``duplicate_lookup``, whether or not the first one succeeds. A strict job
therefore fails with those errors and writes nothing; a lenient job does not
run the later items and reports them.

The values seen are kept in memory: about a hundred bytes per item.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext

from ..exceptions import ItemError
from ..operations import DESTROY, PARTIAL_UPDATE, UPDATE, UPSERT
from ..targets import display, get_model_field, lookup_values


class DuplicateLookups:
    """Finds the items naming an object that an earlier item of the job named."""

    #: The operations whose items name objects.
    OPERATIONS = (UPDATE, PARTIAL_UPDATE, DESTROY, UPSERT)

    def __init__(self, model, field: str | None, operation: str):
        self.field = field if operation in self.OPERATIONS else None
        self.model_field = get_model_field(model, self.field) if self.field else None
        # A DELETE body may be a list of bare lookup values.
        self.scalars = operation == DESTROY
        #: Each lookup value seen, with the index of the first item naming it.
        self.seen: dict[Any, int] = {}

    @property
    def enabled(self) -> bool:
        return self.field is not None

    def check(self, items: Sequence, start: int) -> list[ItemError]:
        """The duplicate errors of ``items``, the job's items from index ``start``.

        Items whose lookup value is missing or invalid are left to the
        engine, which reports them as it does for a request.
        """
        if self.field is None or self.model_field is None:
            return []
        errors = []
        for offset, item in enumerate(items):
            values, _errors = lookup_values(
                [item], self.field, self.model_field, scalars=self.scalars
            )
            value = values[0]
            if value is None:
                continue
            index = start + offset
            first = self.seen.setdefault(value, index)
            if first != index:
                errors.append(self.duplicate(index, first, value))
        return errors

    def duplicate(self, index: int, first: int, value: Any) -> ItemError:
        # The wording of `lookup_values()`, with the job's indexes.
        shown = display(value)
        return ItemError(
            index,
            "duplicate_lookup",
            gettext("Item %(first)d already names the object with `%(field)s` %(value)s.")
            % {"first": first, "field": self.field, "value": shown},
            lookup=shown,
        )
