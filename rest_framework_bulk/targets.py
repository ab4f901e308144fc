"""
Finding the objects a bulk request names.

Every item of an update or delete names its target by the lookup field
(``Meta.update_lookup_field`` on the serializer, ``id`` by default). Targets
are only ever looked up in the queryset the view hands over, which is
``filter_queryset(get_queryset())``: an object the caller may not see is
"not found", exactly as on a detail route.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models, transaction
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from .results import ItemError
from .validation import chunks, query_chunk_size
from .values import convert, display, shorten

__all__ = [
    "DEFAULT_LOOKUP_FIELD",
    "check_object_permissions",
    "has_object_permissions",
    "convert",
    "display",
    "fetch",
    "fetch_all",
    "find_targets",
    "get_lookup_field",
    "get_model_field",
    "lookup_values",
    "not_found",
]

DEFAULT_LOOKUP_FIELD = "id"


def get_lookup_field(serializer) -> str:
    """The name items use to say which object they update.

    ``serializer`` is a serializer, list serializer or serializer class: its
    (child's) ``Meta.update_lookup_field``, ``id`` by default. Views answer
    ``get_bulk_lookup_field()``, which reads this for their serializer class.
    """
    child = getattr(serializer, "child", serializer)
    meta = getattr(child, "Meta", None)
    return getattr(meta, "update_lookup_field", DEFAULT_LOOKUP_FIELD)


def get_model_field(model, lookup_field: str) -> models.Field:
    opts = model._meta
    if lookup_field == "pk":
        return opts.pk
    try:
        return opts.get_field(lookup_field)
    except Exception:
        raise ImproperlyConfigured(
            f"'{model.__name__}' has no field named '{lookup_field}', which the serializer "
            "uses to match bulk updates to objects. Set `Meta.update_lookup_field` on the "
            "serializer to a field of the model."
        ) from None


def lookup_values(
    items: Sequence,
    lookup_field: str,
    model_field: models.Field,
    *,
    scalars: bool = False,
    start: int = 0,
):
    """Read and convert each item's lookup value.

    Returns ``(values, errors)``; ``values[i]`` is ``None`` where item ``i`` is
    in error. ``scalars`` accepts bare values (``[1, 2, 3]``) as well as
    objects, as a DELETE body may.
    """
    values: list[Any] = []
    errors: list[ItemError] = []
    seen: dict[Any, int] = {}
    for index, item in enumerate(items, start):
        if isinstance(item, dict):
            raw = item.get(lookup_field)
            if raw is None:
                errors.append(
                    ItemError(
                        index,
                        "missing_lookup",
                        _("This item has no `%(field)s`, so it cannot be matched to an object.")
                        % {"field": lookup_field},
                    )
                )
                values.append(None)
                continue
        elif scalars and item is not None and not isinstance(item, (list, bool)):
            raw = item
        else:
            errors.append(
                ItemError(
                    index,
                    "invalid",
                    _("Expected an object with `%(field)s`, got %(type)s.")
                    % {"field": lookup_field, "type": type(item).__name__},
                )
            )
            values.append(None)
            continue
        try:
            value = convert(model_field, raw)
        except ValueError:
            errors.append(
                ItemError(
                    index,
                    "invalid_lookup",
                    _("%(value)s is not a valid `%(field)s`.")
                    % {"value": shorten(raw), "field": lookup_field},
                    lookup=display(raw),
                )
            )
            values.append(None)
            continue
        if value in seen:
            errors.append(
                ItemError(
                    index,
                    "duplicate_lookup",
                    _("Item %(first)d already names the object with `%(field)s` %(value)s.")
                    % {"first": seen[value], "field": lookup_field, "value": display(value)},
                    lookup=display(value),
                )
            )
            values.append(None)
            continue
        seen[value] = index
        values.append(value)
    return values, errors


def find_targets(
    queryset: models.QuerySet,
    items: Sequence,
    lookup_field: str,
    *,
    start: int = 0,
    scalars: bool = False,
    batch_size: int,
    lock_rows: bool,
) -> tuple[list, list, list[ItemError]]:
    """Match each item to its object in ``queryset`` by ``lookup_field``.

    Returns ``(targets, values, errors)``, lined up with ``items``:
    ``targets[i]`` is the object (``None`` where item ``i`` is in error or
    names no object of ``queryset``) and ``values[i]`` the converted lookup
    value. The engine and a ``BulkListSerializer`` given a queryset both
    match items here.
    """
    model_field = get_model_field(queryset.model, lookup_field)
    values, errors = lookup_values(items, lookup_field, model_field, scalars=scalars, start=start)
    found = fetch(queryset, model_field, values, batch_size=batch_size, lock_rows=lock_rows)
    targets = []
    for index, value in enumerate(values, start):
        obj = found.get(value) if value is not None else None
        if value is not None and obj is None:
            errors.append(not_found(index, lookup_field, value))
        targets.append(obj)
    return targets, values, errors


def lock(queryset: models.QuerySet) -> models.QuerySet:
    """``queryset`` ordered by primary key and locked with ``SELECT ... FOR UPDATE``."""
    queryset = queryset.order_by("pk")
    if connections[queryset.db].features.has_select_for_update_of:
        return queryset.select_for_update(of=("self",))
    return queryset.select_for_update()


def lockable(queryset: models.QuerySet) -> bool:
    query = queryset.query
    return not (query.distinct or query.combinator or query.group_by is not None or query.is_sliced)


def fetch(
    queryset: models.QuerySet,
    model_field: models.Field,
    values: Sequence,
    *,
    batch_size: int,
    lock_rows: bool,
) -> dict:
    """Map each value to its object in ``queryset``, one query per batch.

    With ``lock_rows`` the rows are locked (``SELECT ... FOR UPDATE``) in
    primary-key order, so that two requests touching the same rows wait for
    each other instead of deadlocking.
    """
    wanted = sorted({value for value in values if value is not None}, key=_sort_key)
    if not wanted:
        return {}
    name = "pk" if model_field.primary_key else model_field.name
    attname = model_field.attname
    size = query_chunk_size(queryset, batch_size)
    connection = connections[queryset.db]
    locking = (
        lock_rows
        and connection.features.has_select_for_update
        and transaction.get_connection(queryset.db).in_atomic_block
    )
    found: dict = {}
    if locking and not lockable(queryset):
        # Lock the base rows first, then read them through the view's queryset.
        base = queryset.model._base_manager.db_manager(queryset.db)
        pks: list = []
        for chunk in chunks(wanted, size):
            pks.extend(queryset.filter(**{f"{name}__in": chunk}).values_list("pk", flat=True))
        pks.sort(key=_sort_key)
        for chunk in chunks(pks, size):
            list(lock(base.filter(pk__in=chunk)).values_list("pk", flat=True))
            for obj in queryset.filter(pk__in=chunk):
                found[getattr(obj, attname)] = obj
        return found
    for chunk in chunks(wanted, size):
        batch = queryset.filter(**{f"{name}__in": chunk})
        for obj in lock(batch) if locking else batch:
            found[getattr(obj, attname)] = obj
    return found


def fetch_all(queryset: models.QuerySet, *, limit: int, batch_size: int, lock_rows: bool) -> list:
    """The objects of ``queryset`` in primary-key order, at most ``limit + 1`` of them."""
    connection = connections[queryset.db]
    locking = (
        lock_rows
        and connection.features.has_select_for_update
        and transaction.get_connection(queryset.db).in_atomic_block
    )
    if locking and lockable(queryset):
        return list(lock(queryset)[: limit + 1])
    objects = list(queryset.order_by("pk")[: limit + 1])
    if locking and objects:
        base = queryset.model._base_manager.db_manager(queryset.db)
        for chunk in chunks([obj.pk for obj in objects], query_chunk_size(queryset, batch_size)):
            list(lock(base.filter(pk__in=chunk)).values_list("pk", flat=True))
    return objects


def _sort_key(value):
    return (str(type(value)), value) if not isinstance(value, (int, float)) else ("", value)


def has_object_permissions(view) -> bool:
    """Whether any permission of ``view`` looks at objects at all."""
    return any(
        type(permission).has_object_permission is not BasePermission.has_object_permission
        for permission in view.get_permissions()
    )


def check_object_permissions(
    view, objects: Sequence, indexes: Sequence[int], lookups: Sequence
) -> list[ItemError]:
    """Run the view's object permissions on each object; one error per refusal."""
    errors = []
    request = view.request
    for obj, index, lookup in zip(objects, indexes, lookups):
        try:
            view.check_object_permissions(request, obj)
        except exceptions.NotAuthenticated as exc:
            errors.append(ItemError(index, "not_authenticated", exc.detail, lookup=display(lookup)))
        except exceptions.PermissionDenied as exc:
            errors.append(ItemError(index, "permission_denied", exc.detail, lookup=display(lookup)))
    return errors


def not_found(index: int, lookup_field: str, value: Any) -> ItemError:
    return ItemError(
        index,
        "not_found",
        _("No object with `%(field)s` %(value)s was found.")
        % {"field": lookup_field, "value": display(value)},
        lookup=display(value),
    )
