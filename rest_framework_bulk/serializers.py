"""
Serializers for bulk writes.

``BulkListSerializer`` is DRF's ``ListSerializer`` that can update: each item
is validated against its own instance (so unique validators work), related
fields and unique checks cost one query per batch instead of one per item,
and writes go out in batches. Use it as the ``list_serializer_class`` of a
``BulkSerializerMixin`` model serializer::

    class ItemSerializer(BulkSerializerMixin, serializers.ModelSerializer):
        class Meta:
            model = Item
            fields = "__all__"
            list_serializer_class = BulkListSerializer
            update_lookup_field = "id"  # the default

It needs no view or request: ``ItemSerializer(queryset, data=[...], many=True)``
works in a shell, a test or a job.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    models,
    router,
    transaction,
)
from django.utils.translation import gettext_lazy as _
from rest_framework import relations, serializers
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.serializers import ListSerializer, raise_errors_on_nested_writes
from rest_framework.settings import api_settings as drf_settings
from rest_framework.utils import html

from . import compiled, writers
from .exceptions import BulkError
from .plans import BulkOutcome, BulkPlan
from .results import ItemError
from .settings import api_settings, get_view_option
from .targets import (
    DEFAULT_LOOKUP_FIELD,
    display,
    find_targets,
    get_lookup_field,
    get_model_field,
)
from .validation import BatchValidation, chunks, prefetch, unique_constraint_validators
from .versions import StaleVersion, VersionField

__all__ = ["BulkListSerializer", "BulkSerializerMixin"]

logger = logging.getLogger("rest_framework_bulk")

LOOKUP_CODES = {"missing_lookup", "invalid_lookup", "duplicate_lookup", "not_found"}


class BulkSerializerMixin:
    """Put the lookup value back into ``validated_data`` for bulk updates.

    DRF drops read-only fields such as ``id`` from ``validated_data``;
    djangorestframework-bulk put it back so that code in ``update()`` could
    read it, and so does this mixin, converted to the field's type.
    """

    _bulk_lookup: tuple[str, Any] | None = None

    def to_internal_value(self, data):
        """DRF's ``to_internal_value()``, with the item's lookup value put back."""
        ret = super().to_internal_value(data)
        if self._bulk_lookup is not None:
            name, value = self._bulk_lookup
            ret[name] = value
        return ret


class BulkListSerializer(ListSerializer):
    """A ``ListSerializer`` that creates and updates in batches.

    Pass a queryset (or a list of instances lined up with the data) as the
    instance to update; each item names its object by the child's
    ``Meta.update_lookup_field``.
    """

    # Kept for code written against djangorestframework-bulk; the child's
    # ``Meta.update_lookup_field`` is what counts.
    update_lookup_field = DEFAULT_LOOKUP_FIELD
    #: Always a serializer here; the stubs allow any field.
    child: serializers.Serializer

    default_error_messages = {
        "conflict": _(
            "This item conflicts with existing data (a unique or related-object constraint failed)."
        ),
        "data_error": _("A value of this item does not fit its database column."),
        "refused": _("The database refused this item."),
    }

    def __init__(self, *args, plan: BulkPlan | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        #: What to do: set by the engine, or made from the instance.
        self.plan = plan if plan is not None else BulkPlan()
        #: What was done: filled in by ``is_valid()`` and ``save()``.
        self.outcome = BulkOutcome()

    # The hand-off ---------------------------------------------------------

    @property
    def bulk_targets(self) -> list | None:
        """The instance each item updates, lined up with the data (``None``: a create)."""
        return self.plan.targets

    @property
    def item_errors(self) -> list[ItemError]:
        """The items that failed, as ``ItemError`` objects (also in ``outcome.errors``)."""
        return self.outcome.errors

    @property
    def validated_indexes(self) -> list[int]:
        """Indexes (into the data) of the items that passed validation."""
        return self.outcome.validated

    @property
    def saved(self) -> list[tuple[int, models.Model, str]]:
        """``(request index, instance, status word)`` of each item saved."""
        return self.outcome.saved

    @property
    def lenient(self) -> bool:
        """Whether valid items are written and the others reported (``plan.lenient``)."""
        return self.plan.lenient

    # Settings -----------------------------------------------------------

    @property
    def bulk_view(self):
        """The view in the serializer's context, if any."""
        return self.context.get("view")

    @property
    def batch_size(self) -> int:
        """Items per batch: the view's ``get_bulk_batch_size()``, else ``BATCH_SIZE``."""
        return get_view_option(self.bulk_view, "bulk_batch_size", "BATCH_SIZE")

    @property
    def model(self):
        """The child's ``Meta.model``, if it has one."""
        return getattr(getattr(self.child, "Meta", None), "model", None)

    @property
    def db(self) -> str:
        """The database the items are written to."""
        return router.db_for_write(self.model) if self.model is not None else "default"

    def position(self, index: int) -> int:
        """The request index of the item at ``index`` in the data."""
        return self.plan.position(index)

    @property
    def version(self) -> VersionField | None:
        """The version field the items are checked against, if any."""
        name = self.plan.version_field
        if name is None:
            name = getattr(getattr(self.child, "Meta", None), "bulk_version_field", None)
        if not name or self.model is None:
            return None
        cached = getattr(self, "_version", None)
        if cached is None or cached.name != name:
            cached = self._version = VersionField(self.model, name)
        return cached

    # Validation ---------------------------------------------------------

    def run_child_validation(self, data):
        """Validate one item; ``self.child.instance`` is already its own instance."""
        return self.child.run_validation(data)

    def to_internal_value(self, data):
        """Validate every item against its own instance, with batched lookups.

        The items that fail are in ``outcome.errors``; unless the plan is
        lenient, any failure raises ``ValidationError`` keyed by item index.
        """
        if html.is_html_input(data):
            data = html.parse_html_list(data, default=[])
        if not isinstance(data, list):
            message = self.error_messages["not_a_list"].format(input_type=type(data).__name__)
            raise ValidationError({drf_settings.NON_FIELD_ERRORS_KEY: [message]}, code="not_a_list")
        if not self.allow_empty and len(data) == 0:
            raise ValidationError(
                {drf_settings.NON_FIELD_ERRORS_KEY: [self.error_messages["empty"]]}, code="empty"
            )
        max_length = getattr(self, "max_length", None)
        if max_length is not None and len(data) > max_length:
            message = self.error_messages["max_length"].format(max_length=max_length)
            raise ValidationError({drf_settings.NON_FIELD_ERRORS_KEY: [message]}, code="max_length")
        min_length = getattr(self, "min_length", None)
        if min_length is not None and len(data) < min_length:
            message = self.error_messages["min_length"].format(min_length=min_length)
            raise ValidationError({drf_settings.NON_FIELD_ERRORS_KEY: [message]}, code="min_length")

        self.outcome = BulkOutcome()
        targets = self.get_targets(data)
        lookup_field = get_lookup_field(self)
        attname = None
        if targets is not None and self.model is not None:
            attname = get_model_field(self.model, lookup_field).attname
        child = self.child
        extra = unique_constraint_validators(child)
        if extra:
            child.validators = [*child.validators, *extra]
        failed = {error.index for error in self.item_errors}
        batch = BatchValidation(child, data, targets, self.batch_size)
        version = self.version if targets is not None else None
        run_child_validation = compiled.child_validator(self)

        ret = []
        for index, item in enumerate(data):
            if index in failed:
                continue
            instance = targets[index] if targets is not None else None
            if version is not None and instance is not None:
                # Checked before validation: a stale item is not written at all.
                lookup = display(getattr(instance, attname)) if attname else None
                error = version.check(
                    self.position(index),
                    item,
                    instance,
                    required=self.plan.version_required,
                    lookup=lookup,
                )
                if error is not None:
                    self.item_errors.append(error)
                    continue
            child.instance = instance
            child.initial_data = item
            child._bulk_lookup = (
                (lookup_field, getattr(instance, attname)) if attname and instance else None
            )
            batch.start(index)
            try:
                validated = run_child_validation(item)
            except ValidationError as exc:
                batch.fail(index)
                lookup = display(child._bulk_lookup[1]) if child._bulk_lookup else None
                self.item_errors.append(
                    ItemError(
                        self.position(index),
                        "invalid",
                        exc.detail,
                        codes=exc.get_codes(),
                        lookup=lookup,
                    )
                )
            else:
                ret.append(validated)
                self.outcome.validated.append(index)
        child.instance = None
        child._bulk_lookup = None

        if self.item_errors and not self.plan.lenient:
            self.item_errors.sort(key=lambda error: error.index)
            raise ValidationError(
                {error.index: self.error_detail(error, lookup_field) for error in self.item_errors}
            )
        return ret

    @staticmethod
    def error_detail(error: ItemError, lookup_field: str):
        """An item error in DRF's shape: field name to a list of messages."""
        if isinstance(error.detail, (dict, list)):
            return error.detail
        key = lookup_field if error.code in LOOKUP_CODES else drf_settings.NON_FIELD_ERRORS_KEY
        return {key: [ErrorDetail(str(error.detail), code=error.code)]}

    def get_targets(self, data: Sequence) -> list | None:
        """The instance each item updates, lined up with ``data``; ``None`` to create.

        The engine hands them over in its plan. Given a queryset instead, as
        in ``ItemSerializer(Item.objects.all(), data=[...], many=True)``, the
        items are matched to it here, as the engine matches them.
        """
        if self.plan.targets is not None:
            return self.plan.targets
        if self.instance is None:
            return None
        queryset = self.instance
        if isinstance(queryset, models.Manager):
            queryset = queryset.all()
        if not isinstance(queryset, models.QuerySet):
            instances = list(queryset)
            assert len(instances) == len(data), (
                f"`{type(self).__name__}` was given {len(instances)} instances for {len(data)} "
                "items. Pass a queryset to match items by their lookup field, or a list of "
                "instances in the same order as the data."
            )
            self.plan.targets = instances
            return instances
        targets, _values, errors = find_targets(
            queryset,
            data,
            get_lookup_field(self),
            batch_size=self.batch_size,
            lock_rows=api_settings.LOCK_ROWS,
        )
        self.item_errors.extend(errors)
        self.plan.targets = targets
        return targets

    # Output -------------------------------------------------------------

    def to_representation(self, data):
        """Each object's representation, with the relations it reads fetched once for the list."""
        iterable = data.all() if isinstance(data, models.manager.BaseManager) else data
        if isinstance(iterable, list) and iterable and isinstance(iterable[0], models.Model):
            prefetch(iterable, self.representation_lookups())
        render = compiled.child_renderer(self)
        return [render(item) for item in iterable]

    def representation_lookups(self) -> list[str]:
        """Relations the child reads per object, to fetch once for the whole list."""
        names = []
        for field in self.child.fields.values():
            source = cast(str, field.source)  # a bound field's source is set
            if field.write_only or source == "*" or "." in source:
                continue
            if isinstance(field, (relations.ManyRelatedField, serializers.BaseSerializer)):
                names.append(source)
            elif isinstance(field, relations.RelatedField) and not field.use_pk_only_optimization():
                names.append(source)
        return names

    # Saving -------------------------------------------------------------

    def save(self, **kwargs):
        """Create or update the validated items, in one transaction; ``kwargs`` are set on every item."""
        assert hasattr(self, "_errors"), "You must call `.is_valid()` before calling `.save()`."
        assert not self.errors, "You cannot call `.save()` on a serializer with invalid data."
        # Guard against incorrect use of `serializer.save(commit=False)`
        assert "commit" not in kwargs, (
            "'commit' is not a valid keyword argument to the 'save()' method. "
            "If you need to access data before committing to the database then "
            "inspect 'serializer.validated_data' instead. "
        )
        if (
            kwargs
            or self.plan.targets is not None
            or type(self).create is not BulkListSerializer.create
        ):
            validated_data = [{**attrs, **kwargs} for attrs in self.validated_data]
        else:
            # Our create() only reads the items, and copies what it hands to
            # code that may change them: ``validated_data`` stays as it was.
            validated_data = list(self.validated_data)
        self.outcome.saved = []
        with transaction.atomic(using=self.db, savepoint=not self.plan.in_transaction):
            if self.plan.targets is not None:
                instances = [self.plan.targets[index] for index in self.validated_indexes]
                self.instance = self.update(instances, validated_data)
            else:
                self.instance = self.create(validated_data)
        return self.instance

    def create(self, validated_data: list[dict]) -> list:
        """Create the objects: in batches when ``child.create()`` is ModelSerializer's."""
        entries = list(zip(self.validated_indexes, validated_data))
        model = self.model
        # Concurrent requests that insert the same unique keys in opposite
        # orders deadlock: insert in key order (answers keep request order).
        names = insert_order(model) if model is not None else ()
        if names:
            sort_in_key_order(entries, names)
        if not self.can_write_in_batches("create", validated_data):
            return self.write_per_item(
                entries, lambda attrs, _: self.child.create({**attrs}), "created"
            )
        raise_errors_on_nested_writes(
            "create", self.child, validated_data[0] if validated_data else {}
        )
        builder = writers.InstanceBuilder(model, self.db)
        build = builder.build
        objects = [(index, build(attrs)) for index, attrs in entries]

        def write(batch):
            writers.insert_rows(model, [obj for _, obj in batch], self.batch_size, self.db)

        try:
            return self.write_in_batches(objects, write, "created")
        finally:
            builder.finish()

    def update(self, instances: list, validated_data: list[dict]) -> list:
        """Update ``instances`` (lined up with ``validated_data``)."""
        entries = list(zip(self.validated_indexes, validated_data, instances))
        version = self.version
        if version is not None:
            # The client's value is what it read, never the version to store.
            for _index, attrs, instance in entries:
                attrs.pop(version.name, None)
                self.outcome.expected_versions[instance.pk] = getattr(instance, version.attname)
        if not self.can_write_in_batches("update", validated_data):
            return self.write_per_item(
                [(index, attrs) for index, attrs, _ in entries],
                lambda attrs, position: self.update_one(entries[position][2], attrs),
                "updated",
            )
        raise_errors_on_nested_writes(
            "update", self.child, validated_data[0] if validated_data else {}
        )
        model = self.model
        opts = model._meta
        auto_now = [f for f in opts.concrete_fields if getattr(f, "auto_now", False)]
        objects = []
        columns: dict[int, tuple] = {}
        for index, attrs, instance in entries:
            fields = []
            for name, value in attrs.items():
                field = opts.get_field(name)
                if field.primary_key:
                    continue
                setattr(instance, name, value)
                fields.append(field)
            for field in auto_now:
                field.pre_save(instance, False)
                if field not in fields:
                    fields.append(field)
            if version is not None and version.counter:
                setattr(
                    instance,
                    version.attname,
                    version.next_value(self.outcome.expected_versions[instance.pk]),
                )
                if version.field not in fields:
                    fields.append(version.field)
            columns[index] = tuple(fields)
            objects.append((index, instance))
        # Concurrent requests writing the same rows in opposite orders
        # deadlock when the rows are not locked up front: write in key order.
        objects.sort(key=lambda entry: _sort_value(entry[1].pk))
        condition = (version.field, self.outcome.expected_versions) if version is not None else None

        def write(batch):
            groups: dict[tuple, list] = {}
            for index, instance in batch:
                groups.setdefault(columns[index], []).append(instance)
            for fields, group in groups.items():
                writers.update_rows(
                    model, group, fields, self.batch_size, self.db, condition=condition
                )

        return self.write_in_batches(objects, write, "updated")

    def update_one(self, instance: models.Model, attrs: dict):
        """``child.update(instance, attrs)``, after claiming the row at its version."""
        version = self.version
        if version is not None:
            expected = self.outcome.expected_versions[instance.pk]
            stale = version.claim([instance], self.outcome.expected_versions, self.db, batch_size=1)
            if stale:
                raise StaleVersion([instance])
            if version.counter:
                setattr(instance, version.attname, version.next_value(expected))
        return self.child.update(instance, attrs)

    def can_write_in_batches(self, action: str, validated_data: list[dict]) -> bool:
        """Whether items may be written in batches rather than one ``save()`` each.

        Batches need ModelSerializer's own ``create()``/``update()``, a model
        without multi-table inheritance and no many-to-many values. A model
        whose ``save()`` is overridden or that has ``pre_save``/``post_save``
        receivers is saved item by item, unless the view's
        ``get_bulk_save_per_item()`` (or the ``SAVE_PER_ITEM`` setting) says
        otherwise. The choice and its reason are logged at DEBUG level on the
        ``rest_framework_bulk`` logger.
        """
        reason = self.per_item_reason(action, validated_data)
        logger.debug(
            "%s: %s %d items %s",
            type(self.child).__name__,
            action,
            len(validated_data),
            f"item by item ({reason})" if reason else "in batches",
        )
        return reason is None

    def per_item_reason(self, action: str, validated_data: list[dict]) -> str | None:
        """Why items must be saved one by one, or ``None`` if batches will do.

        See :func:`rest_framework_bulk.writers.per_item_reason`.
        """
        return writers.per_item_reason(
            self.child,
            action,
            validated_data,
            save_per_item=get_view_option(self.bulk_view, "bulk_save_per_item", "SAVE_PER_ITEM"),
            using=self.db,
        )

    def write_in_batches(self, objects: list, write, status: str) -> list:
        """Run ``write(batch)`` per batch in a savepoint.

        When the database refuses a batch, its items are retried one by one
        to name the ones at fault.
        """
        saved = []
        for batch in chunks(objects, self.batch_size):
            try:
                with transaction.atomic(using=self.db):
                    write(batch)
            except (DatabaseError, StaleVersion) as exc:
                if isinstance(exc, DatabaseError) and not writers.is_refusal(exc):
                    raise
                for entry in batch:
                    ok, _result = self.attempt(entry[0], partial(write, [entry]))
                    if ok:
                        saved.append(entry)
                self.raise_if_strict()
            else:
                saved.extend(batch)
        saved.sort(key=lambda entry: entry[0])
        position = self.plan.position
        self.outcome.saved = [(position(index), obj, status) for index, obj in saved]
        return [obj for _, obj in saved]

    def write_per_item(self, entries: list, write_one, status: str) -> list:
        """Save the items one ``child.create()``/``update()`` at a time, each in a savepoint when lenient."""
        saved = []
        for position, (index, attrs) in enumerate(entries):
            ok, instance = self.attempt(
                index, partial(write_one, attrs, position), savepoint=self.plan.lenient
            )
            if ok:
                saved.append((index, instance))
        self.raise_if_strict()
        saved.sort(key=lambda entry: entry[0])
        self.outcome.saved = [(self.position(index), obj, status) for index, obj in saved]
        return [obj for _, obj in saved]

    def attempt(self, index: int, action, savepoint: bool = True) -> tuple[bool, Any]:
        """Run ``action``; on a database refusal record an item error.

        Returns whether it succeeded, and what it returned.
        """
        try:
            if savepoint:
                with transaction.atomic(using=self.db):
                    return True, action()
            return True, action()
        except StaleVersion as exc:
            self.item_errors.extend(self.version_conflicts(index, exc.objects))
        except IntegrityError:
            self.item_errors.append(
                ItemError(self.position(index), "conflict", self.error_messages["conflict"])
            )
        except DataError:
            self.item_errors.append(
                ItemError(self.position(index), "invalid", self.error_messages["data_error"])
            )
        except DatabaseError as exc:
            if not writers.is_refusal(exc):
                raise
            # Refused by the database itself: a trigger, a check constraint.
            self.item_errors.append(
                ItemError(self.position(index), "conflict", self.error_messages["refused"])
            )
        except ValidationError as exc:
            self.item_errors.append(
                ItemError(self.position(index), "invalid", exc.detail, codes=exc.get_codes())
            )
        except DjangoValidationError as exc:
            # A model's save() that runs full_clean(), say.
            detail = serializers.as_serializer_error(exc)
            self.item_errors.append(
                ItemError(
                    self.position(index),
                    "invalid",
                    detail,
                    codes=ValidationError(detail).get_codes(),
                )
            )
        if not savepoint and not self.plan.lenient:
            self.raise_if_strict()
        return False, None

    def version_conflicts(self, index: int, objects: list) -> list[ItemError]:
        """Errors for the item at ``index`` whose rows moved on while it was written."""
        version = self.version
        assert version is not None, "versions are checked only with a version field"
        attname = get_model_field(self.model, get_lookup_field(self)).attname
        errors = []
        for obj, current in version.stale(objects, self.outcome.expected_versions, self.db) or [
            (obj, obj) for obj in objects
        ]:
            lookup = display(getattr(obj, attname))
            sent = version.represent(self.outcome.expected_versions.get(obj.pk))
            errors.append(version.conflict(self.position(index), current, lookup=lookup, sent=sent))
        return errors

    def raise_if_strict(self) -> None:
        """Raise ``BulkError`` for the items that failed, unless the plan is lenient."""
        if self.item_errors and not self.plan.lenient:
            total = (
                len(self.initial_data)
                if isinstance(getattr(self, "initial_data", None), list)
                else 0
            )
            raise BulkError(self.item_errors, total)


def insert_order(model) -> tuple[str, ...]:
    """The fields of ``model``'s first unique key other than the primary key."""
    opts = model._meta
    for field in opts.concrete_fields:
        if field.unique and not field.primary_key:
            return (field.name,)
    for names in opts.unique_together:
        return tuple(names)
    for constraint in opts.total_unique_constraints:
        return tuple(constraint.fields)
    return ()


def sort_in_key_order(entries: list, names: Sequence[str]) -> None:
    """Sort ``(index, attrs)`` entries by the values of ``names`` in ``attrs``."""
    if len(names) == 1:
        name = names[0]
        values = [attrs.get(name) for _, attrs in entries]
        kinds = {type(value) for value in values}
        if kinds == {str} or kinds == {int}:
            # What _sort_value() would order them by, without its tuples.
            order = sorted(range(len(entries)), key=values.__getitem__)
            entries[:] = [entries[position] for position in order]
            return
    entries.sort(key=lambda entry: tuple(_sort_value(entry[1].get(name)) for name in names))


def _sort_value(value) -> tuple:
    if isinstance(value, models.Model):
        value = value.pk
    if value is None:
        return (0, "", 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, "", value)
    return (2, type(value).__name__, str(value))
