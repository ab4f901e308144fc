"""
One bulk action of one view, from raw items to per-item outcomes.

``BulkOperation`` is the engine every bulk path runs: the list-route views,
the ``/bulk/`` endpoint and the job worker. It

1. checks the envelope (a list, at most ``MAX_ITEMS`` items);
2. finds the targets of updates and deletes in
   ``view.filter_queryset(view.get_queryset())``, locked in primary-key order;
3. runs ``view.check_object_permissions()`` on every target;
4. validates through the view's serializer (a ``BulkListSerializer``);
5. writes through the view's ``perform_bulk_*`` hooks;

all in one transaction. By default any failure rejects the whole request
and nothing is written (``BulkError``); with ``lenient=True`` valid items are
written and the others reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import EmptyResultSet, ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, DataError, IntegrityError, models, router, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.serializers import LIST_SERIALIZER_KWARGS

from . import gcpause
from .compat import FullResultSet
from .deletes import BULK_DESTROY_HOOKS, DESTROY_HOOKS, BulkDestroyOperation, overrides
from .exceptions import BulkError, RequestError, TooManyItems, TransactionConflict
from .plans import BulkPlan
from .results import (
    ACTIONS,
    CREATE,
    DESTROY,
    PARTIAL_UPDATE,
    STATUS_WORDS,
    UPDATE,
    UPSERT,
    BulkResult,
    ItemError,
    ItemResult,
    describe,
)
from .serializers import BulkListSerializer
from .settings import api_settings, get_view_option
from .targets import (
    check_object_permissions,
    display,
    fetch,
    find_targets,
    get_lookup_field,
    get_model_field,
    has_object_permissions,
    lookup_values,
)
from .versions import VersionField, get_version_field
from .writers import is_refusal, is_transient_error

__all__ = [
    "ACTIONS",
    "BULK_DESTROY_HOOKS",
    "DESTROY_HOOKS",
    "has_object_permissions",
    "overrides",
    "BulkOperation",
    "BulkResult",
    "ItemResult",
    "narrowed",
    "permitted",
    "read_by_lookup",
]


def permitted(view, objects) -> list:
    """The objects of ``objects`` that the view's object permissions let the user see."""
    if not has_object_permissions(view):
        return list(objects)
    allowed = []
    for obj in objects:
        try:
            view.check_object_permissions(view.request, obj)
        except (exceptions.PermissionDenied, exceptions.NotAuthenticated):
            continue
        allowed.append(obj)
    return allowed


def read_by_lookup(view, queryset, model_field, values: Sequence, *, batch_size: int) -> list:
    """Read what a bulk GET or an export job names: the objects lined up with ``values``.

    ``values`` are converted lookup values (``None`` names nothing);
    ``queryset`` is ``filter_queryset(get_queryset())`` (with any client
    filters). An object the user may not see (``check_object_permissions()``
    refuses it) is ``None``, as one that does not exist. One query per
    batch, no row locks.
    """
    found = fetch(queryset, model_field, values, batch_size=batch_size, lock_rows=False)
    objects = [found.get(value) if value is not None else None for value in values]
    if has_object_permissions(view):
        allowed = {id(obj) for obj in permitted(view, [obj for obj in objects if obj is not None])}
        objects = [obj if id(obj) in allowed else None for obj in objects]
    return objects


def narrowed(queryset: models.QuerySet, filtered: models.QuerySet) -> bool:
    """Whether ``filtered`` selects fewer rows than ``queryset`` could.

    Compares the ``WHERE`` clauses, not the objects: filter backends such as
    django-filter return a new queryset even when they filter nothing.
    """
    if queryset is filtered:
        return False
    return _where(queryset) != _where(filtered)


def _where(queryset: models.QuerySet):
    query = queryset.query
    compiler = query.get_compiler(queryset.db)
    try:
        sql, params = compiler.compile(query.where)
    except EmptyResultSet:
        return ("<empty>", ())
    except FullResultSet:
        return ("", ())
    return (sql, tuple(str(param) for param in params))


class BulkOperation(BulkDestroyOperation):
    """Run one bulk ``action`` for ``view`` on a list of items.

    ``view`` is a view instance with its ``request`` set (as DRF sets it when
    it dispatches, or as the job worker rebuilds it).
    """

    def __init__(
        self,
        view,
        action: str,
        *,
        lenient: bool = False,
        dry_run: bool = False,
        upsert_field: str | None = None,
    ):
        assert action in ACTIONS, f"`action` must be one of {ACTIONS}, not {action!r}."
        assert (action == UPSERT) == bool(upsert_field), (
            "`upsert_field` goes with the `upsert` action, and only with it."
        )
        self.view = view
        self.action = action
        self.lenient = lenient
        self.dry_run = dry_run
        self.upsert_field = upsert_field

    @property
    def max_items(self) -> int:
        """The view's ``get_bulk_max_items()``, else ``MAX_ITEMS``."""
        return get_view_option(self.view, "bulk_max_items", "MAX_ITEMS")

    @property
    def batch_size(self) -> int:
        """The view's ``get_bulk_batch_size()``, else ``BATCH_SIZE``."""
        return get_view_option(self.view, "bulk_batch_size", "BATCH_SIZE")

    def run(self, data: Any, *, start_index: int = 0) -> BulkResult:
        """Run the operation on ``data``, a list of items (``None`` or ``{}``: a delete without a body).

        Returns the ``BulkResult``. Raises ``BulkError`` when items are refused
        and the operation is strict, and ``RequestError`` when the request as a
        whole is. Every write happens in one transaction, rolled back on error or
        for a dry run. ``start_index`` is the index of the first item in the
        client's request (a job's batch).
        """
        items = self.check_items(data)
        queryset = self.view.get_queryset()
        using = router.db_for_write(queryset.model)
        try:
            with gcpause.paused():
                result = self.run_in_transaction(items, start_index, queryset, using)
        except BulkError as exc:
            exc.set_lines(items or (), start_index)
            raise
        except DjangoValidationError as exc:
            # Raised by a user hook: the transaction is already rolled back.
            raise RequestError(describe(exc.messages), "invalid") from exc
        except (ProtectedError, RestrictedError) as exc:
            raise RequestError(
                _(
                    "Some of the objects are still referred to and cannot be deleted; nothing was deleted."
                ),
                "protected",
                status.HTTP_409_CONFLICT,
            ) from exc
        except IntegrityError as exc:
            raise RequestError(
                _("The request conflicts with existing data; nothing was written."),
                "conflict",
                status.HTTP_409_CONFLICT,
            ) from exc
        except DataError as exc:
            raise RequestError(
                _("A value of the request does not fit the database; nothing was written."),
                "invalid_value",
            ) from exc
        except DatabaseError as exc:
            if is_transient_error(exc):
                # A deadlock or serialization failure with a concurrent
                # request: the transaction is rolled back, a retry is safe.
                raise TransactionConflict() from exc
            if not is_refusal(exc):
                raise  # a lost connection, a locked database: not the client's doing
            # Refused by the database itself (a trigger, a check constraint).
            raise RequestError(
                _("The database refused the request; nothing was written."),
                "conflict",
                status.HTTP_409_CONFLICT,
            ) from exc
        result.sort()
        result.set_lines(items or (), start_index)
        return result

    def run_in_transaction(
        self, items: list | None, start_index: int, queryset, using: str
    ) -> BulkResult:
        """Run the action on the items in one transaction on ``using``."""
        with transaction.atomic(using=using):
            if self.action == DESTROY:
                result = self.destroy(items, start_index, queryset)
            elif items is None:
                raise AssertionError("Only a delete goes without items (check_items()).")
            elif self.action == CREATE:
                result = self.create(items, start_index)
            elif self.action == UPSERT:
                result = self.upsert(items, start_index, queryset)
            else:
                result = self.update(
                    items, start_index, queryset, partial=self.action == PARTIAL_UPDATE
                )
            if self.dry_run:
                transaction.set_rollback(True, using=using)
        return result

    def check_items(self, data: Any) -> list | None:
        """The items of ``data``; ``None`` for a ``DELETE`` without a body.

        An empty body (DRF's ``{}``) names nothing, which only a delete may
        do: it then deletes the filtered list, if ``allow_bulk_destroy()``
        agrees. Anything else that is not a list, ``null`` included, is
        refused.
        """
        if not isinstance(data, list):
            if self.action == DESTROY and isinstance(data, Mapping) and not data:
                return None
            if data is None:
                message = _("Expected a list of items but got null.")
            elif not isinstance(data, (dict, str, bytes)) and not data:
                message = _("Expected a list of items but got no body.")
            else:
                message = _("Expected a list of items but got %(type)s.") % {
                    "type": type(data).__name__
                }
            raise RequestError(message, "not_a_list")
        if len(data) > self.max_items:
            raise TooManyItems(len(data), self.max_items)
        return data

    # Serializers --------------------------------------------------------

    def get_serializer(self, *args, plan: BulkPlan | None = None, **kwargs) -> BulkListSerializer:
        """The view's list serializer, handed ``plan`` (with the operation's handling and versions)."""
        serializer = self.view.get_serializer(*args, many=True, **kwargs)
        if not isinstance(serializer, BulkListSerializer):
            # A serializer without `list_serializer_class = BulkListSerializer`
            # still gets batched, atomic writes: build its list as DRF's
            # many_init() would, with our list class.
            kwargs["context"] = serializer.context
            child = type(serializer.child)(*args, **kwargs)
            list_kwargs = {
                key: value for key, value in kwargs.items() if key in LIST_SERIALIZER_KWARGS
            }
            serializer = BulkListSerializer(*args, child=child, **list_kwargs)
        plan = plan if plan is not None else BulkPlan()
        plan.lenient = self.lenient
        plan.in_transaction = True
        version = self.version
        # The view's answer wins over the serializer's Meta, "no version" too.
        plan.version_field = version.name if version is not None else ""
        plan.version_required = self.version_required
        serializer.plan = plan
        return serializer

    @property
    def version(self) -> VersionField | None:
        """The view's version field (``get_bulk_version_field()``), if any."""
        if not hasattr(self, "_version"):
            name = get_version_field(self.view)
            self._version = VersionField(self.view.get_queryset().model, name) if name else None
        return self._version

    @property
    def version_required(self) -> bool:
        """Whether every update and delete item must carry a version."""
        hook = getattr(self.view, "get_bulk_version_required", None)
        required = bool(hook()) if hook is not None else False
        if required and self.version is None:
            raise ImproperlyConfigured(
                f"'{type(self.view).__name__}' requires a version on every item but names no version "
                "field. Set `bulk_version_field` on the view or `Meta.bulk_version_field` on the serializer."
            )
        return required

    def new_result(self, action: str, total: int) -> BulkResult:
        """An empty ``BulkResult`` for ``action``, reporting versions if the view has them."""
        result = BulkResult(action, total, dry_run=self.dry_run)
        result.version = self.version
        return result

    def lookup_field(self) -> str:
        """The field items name their objects by: the view's ``get_bulk_lookup_field()``."""
        hook = getattr(self.view, "get_bulk_lookup_field", None)
        if hook is not None:
            return hook()
        return get_lookup_field(self.view.get_serializer_class())

    # Actions ------------------------------------------------------------

    def create(self, items: list, start: int) -> BulkResult:
        """Validate the items and create them through ``perform_bulk_create()``."""
        plan = BulkPlan(positions=[start + index for index in range(len(items))])
        serializer = self.get_serializer(data=items, plan=plan)
        result = self.new_result(CREATE, len(items))
        result.serializer = serializer
        self.validate(serializer, result)
        self.save(serializer, result, self.view.perform_bulk_create, CREATE)
        return result

    def update(self, items: list, start: int, queryset, *, partial: bool) -> BulkResult:
        """Find the items' targets, then validate and update them through ``perform_bulk_update()``."""
        action = PARTIAL_UPDATE if partial else UPDATE
        result = self.new_result(action, len(items))
        filtered = self.view.filter_queryset(queryset)
        targets, errors = self.find(items, start, filtered, scalars=False)
        for error in errors:
            result.add_error(error)
        positions = [index for index, target in enumerate(targets) if target is not None]
        if errors and not self.lenient:
            raise BulkError(errors, len(items))
        instances = [targets[index] for index in positions]
        # The instance is the queryset, as djangorestframework-bulk passed
        # it (list serializers written for it read `self.instance`); the
        # lined-up targets go in `bulk_targets`.
        plan = BulkPlan(targets=instances, positions=[start + index for index in positions])
        serializer = self.get_serializer(
            filtered, data=[items[index] for index in positions], partial=partial, plan=plan
        )
        result.serializer = serializer
        self.validate(serializer, result)
        self.save(serializer, result, self.view.perform_bulk_update, action)
        return result

    def upsert(self, items: list, start: int, queryset) -> BulkResult:
        """Update the items whose natural key exists in scope, create the others.

        An update writes only the fields the item carries. The key is looked
        up in ``filter_queryset(get_queryset())`` under a row lock, so a row
        out of scope is never updated: creating its twin fails validation or
        the database's unique constraint instead, and that item is reported.
        """
        result = self.new_result(UPSERT, len(items))
        filtered = self.view.filter_queryset(queryset)
        field = self.upsert_field
        assert field is not None, "the upsert action comes with its field"
        model_field = get_model_field(queryset.model, field)
        values, errors = lookup_values(items, field, model_field, start=start)
        found = fetch(
            filtered,
            model_field,
            values,
            batch_size=self.batch_size,
            lock_rows=api_settings.LOCK_ROWS,
        )
        existing = [i for i, value in enumerate(values) if value is not None and value in found]
        new = [i for i, value in enumerate(values) if value is not None and value not in found]
        denied = self.check_permissions(
            [found[values[i]] for i in existing],
            [start + i for i in existing],
            [values[i] for i in existing],
        )
        errors.extend(denied)
        version = self.version
        if version is not None:
            # A version names a row the client read: if it is gone, do not
            # bring it back.
            gone = [i for i in new if version.sent(items[i]) not in (None, "")]
            errors.extend(
                version.conflict(start + i, None, lookup=display(values[i])) for i in gone
            )
            new = [i for i in new if i not in gone]
        refused = {error.index for error in denied}
        existing = [i for i in existing if start + i not in refused]
        for error in errors:
            result.add_error(error)

        instances = [found[values[i]] for i in existing]
        updater = self.get_serializer(
            filtered,
            data=[items[i] for i in existing],
            partial=True,
            plan=BulkPlan(targets=instances, positions=[start + i for i in existing]),
        )
        creator = self.get_serializer(
            data=[items[i] for i in new], plan=BulkPlan(positions=[start + i for i in new])
        )
        updater.is_valid()
        creator.is_valid()
        errors = [*errors, *updater.item_errors, *creator.item_errors]
        if errors and not self.lenient:
            raise BulkError(errors, len(items))
        self.save(updater, result, self.view.perform_bulk_update, UPDATE)
        self.save(creator, result, self.view.perform_bulk_create, CREATE)
        return result

    def find(self, items: list, start: int, queryset, *, scalars: bool):
        """Targets lined up with ``items`` (``None`` where not found or refused) and the errors.

        Each target is looked up in ``queryset`` (the filtered queryset,
        under a row lock) and checked with the view's object permissions.
        """
        lookup_field = self.lookup_field()
        if scalars and not self.needs_objects():
            # Nothing will look at the rows but their keys.
            model_field = get_model_field(queryset.model, lookup_field)
            names = {queryset.model._meta.pk.attname, model_field.attname}
            if self.version is not None:
                names.add(self.version.attname)
            queryset = queryset.select_related(None).only(*names)
        targets, values, errors = find_targets(
            queryset,
            items,
            lookup_field,
            start=start,
            scalars=scalars,
            batch_size=self.batch_size,
            lock_rows=api_settings.LOCK_ROWS,
        )
        indexes, objects, shown = [], [], []
        for index, (value, obj) in enumerate(zip(values, targets), start):
            if obj is not None:
                indexes.append(index)
                objects.append(obj)
                shown.append(value)
        denied = self.check_permissions(objects, indexes, shown)
        if denied:
            refused = {error.index for error in denied}
            targets = [
                None if start + index in refused else target for index, target in enumerate(targets)
            ]
            errors.extend(denied)
        return targets, errors

    def check_permissions(self, objects, indexes, shown) -> list[ItemError]:
        """The view's object permissions on each of ``objects``: an error per refusal."""
        if not self.has_object_permissions():
            return []
        return check_object_permissions(self.view, objects, indexes, shown)

    def has_object_permissions(self) -> bool:
        """Whether any permission of the view looks at objects at all."""
        return has_object_permissions(self.view)

    def validate(self, serializer: BulkListSerializer, result: BulkResult) -> None:
        """Validate ``serializer``; a strict operation raises for any item that failed."""
        if not serializer.is_valid() and not self.lenient:
            if not serializer.item_errors:
                # The list as a whole (e.g. a list-level validator) was refused.
                raise RequestError(describe(serializer.errors), "invalid")
            raise BulkError(serializer.item_errors, result.total)

    def save(
        self, serializer: BulkListSerializer, result: BulkResult, perform, action: str
    ) -> None:
        """Write the items ``serializer`` validated through ``perform`` (a ``perform_bulk_*`` hook).

        The serializer's outcome (its errors, what it saved) goes into ``result``.
        """
        outcome = serializer.outcome
        for error in outcome.errors:
            result.add_error(error)
        if self.dry_run:
            plan = serializer.plan
            status_word = "would_" + ("create" if action == CREATE else "update")
            for index in outcome.validated:
                instance = plan.targets[index] if plan.targets is not None else None
                result.add(
                    ItemResult(
                        plan.position(index),
                        status_word,
                        pk=instance.pk if instance is not None else None,
                    )
                )
            return
        if not outcome.validated:
            return
        known = len(outcome.errors)
        perform(serializer)
        for error in outcome.errors[known:]:
            result.add_error(error)
        for index, instance, status_word in outcome.saved:
            result.add_done(index, instance, status_word or STATUS_WORDS[action])
