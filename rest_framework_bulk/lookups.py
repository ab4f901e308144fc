"""Filtering a queryset on a long list of values, in as few queries as the database allows.

``filter(<name>__in=values)`` compiles, binds and sends one parameter per
value: for a batch of a thousand keys that costs more than the query. On
PostgreSQL a column of text or integers is compared with ``= ANY(%s)``
instead, the values bound as one array, in one query whatever their number.
Elsewhere, or for any other field, the values go in ``IN`` lists that fit
the database's limit on parameters.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from django.core.exceptions import FieldDoesNotExist
from django.db import connections, models
from django.db.models import F, Lookup

#: ``get_prep_value()`` methods that return a str, or an int, unchanged.
_TEXT_PREP = (models.CharField.get_prep_value, models.TextField.get_prep_value)
_INTEGER_PREP = (models.IntegerField.get_prep_value,)
#: ``get_db_prep_value()`` methods that add nothing to ``get_prep_value()`` on PostgreSQL.
_PLAIN_DB_PREP = (
    models.Field.get_db_prep_value,
    models.IntegerField.get_db_prep_value,
    models.AutoField.get_db_prep_value,
)


class AnyOf(Lookup):
    """``<lhs> = ANY(%s)``, the right-hand side a list bound as one array (PostgreSQL)."""

    lookup_name = "bulk_any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", (*lhs_params, list(self.rhs))


def takes_as_array(field, values: Sequence) -> bool:
    """Whether ``values`` can be bound as one array for ``field`` (see the module's docstring)."""
    if field.is_relation or not field.concrete:
        return False
    cls = type(field)
    if cls.get_db_prep_value not in _PLAIN_DB_PREP:
        return False
    if cls.get_prep_value in _TEXT_PREP:
        kind: type = str
    elif cls.get_prep_value in _INTEGER_PREP:
        kind = int
    else:
        return False
    return all(type(value) is kind for value in values)


def filtered_in_chunks(
    queryset: models.QuerySet, name: str, values: Sequence, size: int
) -> Iterator[tuple[Sequence, models.QuerySet]]:
    """``(chunk, queryset.filter(<name>__in=chunk))`` for each chunk of ``values``.

    ``size`` is the most values one ``IN`` list may hold. On PostgreSQL, for
    a text or integer field (``name`` a field of the queryset's model, or
    ``pk``), one chunk of every value, filtered with ``= ANY(%s)``.
    """
    if not values:
        return
    opts = queryset.model._meta
    try:
        field = opts.pk if name == "pk" else opts.get_field(name)
    except FieldDoesNotExist:
        field = None
    if (
        field is not None
        and connections[queryset.db].vendor == "postgresql"
        and takes_as_array(field, values)
    ):
        yield values, queryset.filter(AnyOf(F(field.attname), values))
        return
    for start in range(0, len(values), size):
        chunk = values[start : start + size]
        yield chunk, queryset.filter(**{f"{name}__in": chunk})
