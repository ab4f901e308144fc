"""
How a bulk delete runs, for ``BulkOperation``.

A delete by ids where nothing looks at the rows is one ``DELETE ...
RETURNING`` per batch (``destroy_returning()``). Otherwise the targets are
fetched and locked like an update's, checked (object permissions, versions),
and handed to the view's ``perform_bulk_destroy()`` as a queryset; a batch
the database or Django's collector refuses is tried object by object, to
name the items at fault.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, models, transaction
from django.db.models import ProtectedError, RestrictedError
from django.db.models.deletion import Collector
from django.db.models.signals import post_delete, pre_delete
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.mixins import DestroyModelMixin

from . import writers
from .exceptions import BulkError, RequestError, TooManyItems
from .results import DESTROY, STATUS_WORDS, BulkResult, ItemError, ItemResult
from .settings import api_settings
from .targets import (
    display,
    fetch_all,
    get_model_field,
    lockable,
    lookup_values,
    not_found,
)
from .writers import is_refusal

if TYPE_CHECKING:
    from .versions import VersionField

__all__ = ["BULK_DESTROY_HOOKS", "DESTROY_HOOKS", "BulkDestroyOperation", "overrides"]

#: The implementations of ``perform_destroy()`` that delete with ``instance.delete()``.
DESTROY_HOOKS: set = {DestroyModelMixin.perform_destroy}
#: The implementations of ``perform_bulk_destroy()`` that delete through the collector.
BULK_DESTROY_HOOKS: set = set()


def overrides(view_class, name: str, defaults: set) -> bool:
    """Whether ``view_class.name`` is the user's own rather than one of ``defaults``."""
    method = getattr(view_class, name, None)
    return method is not None and method not in defaults


class _Respelled(Exception):
    """The database matched a row by another spelling of the value asked for."""


class BulkDestroyOperation:
    """The delete action of ``BulkOperation``; see the module's docstring."""

    if TYPE_CHECKING:  # provided by BulkOperation
        view: Any
        lenient: bool
        dry_run: bool

        @property
        def max_items(self) -> int: ...
        @property
        def batch_size(self) -> int: ...
        @property
        def version(self) -> VersionField | None: ...
        @property
        def version_required(self) -> bool: ...

        def new_result(self, action: str, total: int) -> BulkResult: ...
        def lookup_field(self) -> str: ...
        def find(
            self, items: list, start: int, queryset, *, scalars: bool
        ) -> tuple[list, list]: ...
        def check_permissions(self, objects, indexes, shown) -> list[ItemError]: ...
        def has_object_permissions(self) -> bool: ...

    def destroy(self, items: list | None, start: int, queryset) -> BulkResult:
        """Delete the objects ``items`` names, or with no items the filtered list.

        ``allow_bulk_destroy(queryset, named)`` is asked every time: ``named``
        is the filtered queryset narrowed to the objects the body names, or
        the filtered queryset itself when there is no body. An empty list
        names nothing and deletes nothing.
        """
        result = self.new_result(DESTROY, len(items or ()))
        filtered = self.view.filter_queryset(queryset)
        if items is not None:
            if not items:
                return result
            if self.can_delete_returning(filtered):
                done = self.destroy_returning(items, start, queryset, filtered, result)
                if done is not None:
                    return done
            targets, errors = self.find(items, start, filtered, scalars=True)
            named = filtered.filter(pk__in=[target.pk for target in targets if target is not None])
            named.bulk_named = True
            if not self.view.allow_bulk_destroy(queryset, named):
                raise RequestError(
                    _("This view does not allow these objects to be deleted in bulk."),
                    "bulk_destroy_not_allowed",
                )
            errors.extend(self.check_versions(items, start, targets))
        else:
            if self.version is not None and self.version_required:
                raise RequestError(
                    _(
                        "This view requires a version on every item: name the objects to delete in the body."
                    ),
                    "version_required",
                    status.HTTP_428_PRECONDITION_REQUIRED,
                )
            if not self.view.allow_bulk_destroy(queryset, filtered):
                raise RequestError(
                    _(
                        "A bulk delete must name the objects to delete: send a list of "
                        "lookup values in the body, or narrow the list with query parameters."
                    ),
                    "unfiltered_delete",
                )
            if not self.needs_objects():
                filtered = filtered.select_related(None).only(queryset.model._meta.pk.attname)
            targets = fetch_all(
                filtered,
                limit=self.max_items,
                batch_size=self.batch_size,
                lock_rows=api_settings.LOCK_ROWS,
            )
            if len(targets) > self.max_items:
                raise TooManyItems(None, self.max_items)
            result.total = len(targets)
            errors = self.check_permissions(
                targets, [start + i for i in range(len(targets))], [obj.pk for obj in targets]
            )
        for error in errors:
            result.add_error(error)
        if errors and not self.lenient:
            raise BulkError(errors, result.total)
        failed = {error.index for error in errors}
        doomed = [
            (start + index, target)
            for index, target in enumerate(targets)
            if target is not None and start + index not in failed
        ]
        if self.dry_run:
            for index, target in doomed:
                result.add_done(index, target, "would_delete")
            return result
        if doomed and items is not None and self.version is not None:
            stale = self.claim_versions(items, start, doomed, queryset.db)
            for error in stale:
                result.add_error(error)
            if stale and not self.lenient:
                raise BulkError([*errors, *stale], result.total)
            refused_indexes = {error.index for error in stale}
            doomed = [(index, target) for index, target in doomed if index not in refused_indexes]
        if doomed:
            pks = {index: target.pk for index, target in doomed}
            refused = self.delete(queryset, doomed)
            for error in refused:
                result.add_error(error)
            if refused and not self.lenient:
                raise BulkError(refused, result.total)
            refused_indexes = {error.index for error in refused}
            for index, target in doomed:
                if index not in refused_indexes:
                    result.add(
                        ItemResult(index, STATUS_WORDS[DESTROY], pk=pks[index], instance=target)
                    )
        return result

    def can_delete_returning(self, filtered) -> bool:
        """Whether a delete by ids may skip reading the rows: one ``DELETE ... RETURNING`` per batch.

        Only when nothing looks at the rows: no object permissions, no
        custom ``perform_destroy()``/``perform_bulk_destroy()``, no overridden
        ``delete()``, no delete receivers, no cascades, no versions, not a
        dry run, and a database that returns rows from a ``DELETE``.
        """
        model = filtered.model
        return (
            not self.dry_run
            and self.version is None
            and lockable(filtered)
            and writers.can_delete_returning(filtered.db)
            and not self.needs_objects()
            and Collector(using=filtered.db, origin=filtered).can_fast_delete(model)
        )

    def destroy_returning(self, items: list, start: int, queryset, filtered, result: BulkResult):
        """Delete what ``items`` names with ``writers.delete_returning()``.

        The ids not returned were not found (in scope). A strict request
        with any error is rolled back. Returns ``None``, having written
        nothing, when the database refuses the statement (a trigger, a
        foreign key Django does not know of) or matches rows by another
        spelling of their value (a case-insensitive collation): the
        object-by-object path then names the items at fault.
        """
        lookup_field = self.lookup_field()
        model_field = get_model_field(queryset.model, lookup_field)
        values, errors = lookup_values(items, lookup_field, model_field, scalars=True, start=start)
        name = "pk" if model_field.primary_key else model_field.name
        named = filtered.filter(**{f"{name}__in": [value for value in values if value is not None]})
        named.bulk_named = True
        if not self.view.allow_bulk_destroy(queryset, named):
            raise RequestError(
                _("This view does not allow these objects to be deleted in bulk."),
                "bulk_destroy_not_allowed",
            )
        if errors and not self.lenient:
            raise BulkError(errors, len(items))
        try:
            with transaction.atomic(using=filtered.db):
                deleted = writers.delete_returning(
                    filtered, model_field, values, batch_size=self.batch_size
                )
                if not set(deleted) <= set(values):
                    raise _Respelled
                for index, value in enumerate(values, start):
                    if value is None:
                        continue
                    if value in deleted:
                        result.add(ItemResult(index, STATUS_WORDS[DESTROY], pk=deleted[value]))
                    else:
                        errors.append(not_found(index, lookup_field, value))
                if errors and not self.lenient:
                    raise BulkError(errors, len(items))
        except _Respelled:
            result.items = []
            return None
        except DatabaseError as exc:
            if not is_refusal(exc):
                raise
            result.items = []
            return None
        for error in errors:
            result.add_error(error)
        return result

    def delete(self, queryset, doomed: list) -> list[ItemError]:
        """Delete the ``(index, object)`` pairs through ``perform_bulk_destroy()``.

        When the database or Django's collector refuses the batch (a
        protected relation, a trigger), each object is tried on its own to
        name those at fault; their errors are returned.
        """
        db = queryset.db
        try:
            with transaction.atomic(using=db):
                self.view.perform_bulk_destroy(self.objects_to_delete(queryset, doomed))
            return []
        except (DatabaseError, ProtectedError, RestrictedError) as exc:
            if not is_refusal(exc):
                raise
        errors = []
        for index, target in doomed:
            try:
                with transaction.atomic(using=db):
                    self.view.perform_bulk_destroy(
                        self.objects_to_delete(queryset, [(index, target)])
                    )
            except (ProtectedError, RestrictedError):
                errors.append(
                    ItemError(
                        index,
                        "protected",
                        _(
                            "This object is still referred to by other objects and cannot be deleted."
                        ),
                        lookup=display(target.pk),
                    )
                )
            except DatabaseError as exc:
                if not is_refusal(exc):
                    raise
                errors.append(
                    ItemError(
                        index,
                        "conflict",
                        _("The database refused to delete this object."),
                        lookup=display(target.pk),
                    )
                )
        if not errors:
            # The objects go one by one but not together (rows referring
            # to each other): let the request fail as a whole.
            raise RequestError(
                _("The database refused to delete these objects together; nothing was deleted."),
                "conflict",
                status.HTTP_409_CONFLICT,
            )
        return errors

    def check_versions(self, items: list, start: int, targets: list) -> list[ItemError]:
        """A ``version_conflict`` (or ``version_required``) for each item of a delete at fault."""
        version = self.version
        if version is None:
            return []
        required = self.version_required
        attname = get_model_field(version.model, self.lookup_field()).attname
        errors = []
        for index, (item, target) in enumerate(zip(items, targets)):
            if target is None:
                continue
            lookup = display(getattr(target, attname))
            error = version.check(start + index, item, target, required=required, lookup=lookup)
            if error is not None:
                errors.append(error)
        return errors

    def claim_versions(self, items: list, start: int, doomed: list, using: str) -> list[ItemError]:
        """Lock the rows about to be deleted at the versions their items carry.

        Without row locks (``LOCK_ROWS`` off) another request may have
        written them since they were read: those items fail.
        """
        version = self.version
        if version is None:
            return []
        claimed = [
            (index, target)
            for index, target in doomed
            if version.sent(items[index - start]) not in (None, "")
        ]
        if not claimed:
            return []
        expected = {target.pk: getattr(target, version.attname) for _, target in claimed}
        stale = version.claim(
            [target for _, target in claimed], expected, using, batch_size=self.batch_size
        )
        positions = {target.pk: index for index, target in claimed}
        return [
            version.conflict(
                positions[obj.pk],
                current,
                lookup=display(obj.pk),
                sent=version.represent(expected[obj.pk]),
            )
            for obj, current in stale
        ]

    def objects_to_delete(self, queryset, doomed: list) -> models.QuerySet:
        """The queryset ``perform_bulk_destroy()`` gets: the doomed objects, already fetched."""
        model = queryset.model
        objects = model._base_manager.db_manager(queryset.db).filter(
            pk__in=[target.pk for _, target in doomed]
        )
        # The rows are fetched and locked already; spare the collector
        # from selecting them again.
        objects.bulk_instances = [target for _, target in doomed]
        return objects

    # Steps --------------------------------------------------------------

    def needs_objects(self) -> bool:
        """Whether deleting needs whole rows, not only their keys.

        It does for object permissions, a custom ``perform_destroy()`` or
        ``perform_bulk_destroy()``, a model whose ``delete()`` is overridden,
        and ``pre_delete``/``post_delete`` receivers, which may read any field.
        """
        view = type(self.view)
        model = self.view.get_queryset().model
        return (
            overrides(view, "perform_destroy", DESTROY_HOOKS)
            or overrides(view, "perform_bulk_destroy", BULK_DESTROY_HOOKS)
            or model.delete is not models.Model.delete
            or pre_delete.has_listeners(model)
            or post_delete.has_listeners(model)
            or self.has_object_permissions()
        )
