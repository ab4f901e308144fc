"""
Batched validation: what DRF looks up once per item, looked up once per batch.

DRF validates each item of a list on its own. A ``PrimaryKeyRelatedField``
runs one ``SELECT`` per item, and so does every ``UniqueValidator`` and
``UniqueTogetherValidator``. ``BatchValidation`` prepares a child serializer
for one batch of raw items:

* related fields (primary key, slug, and lists of them) are fetched with one
  query per field, through the field's own ``get_queryset()``;
* unique validators get a stand-in queryset that answers from one query per
  constraint, and that also sees the items earlier in the same request, so
  duplicates inside one payload fail validation instead of the database.

The serializer's own validators, ``validate_<field>()`` and ``validate()``
still run for every item, and the messages and codes are DRF's own. Anything
this module cannot answer from the batch falls back to the ordinary query.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connections, models
from rest_framework import relations, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.fields import SkipField, empty
from rest_framework.validators import UniqueTogetherValidator, UniqueValidator

from .csv import CSVRow
from .lookups import filtered_in_chunks
from .values import INTEGER_RANGE, convert, integer_range


def chunks(values: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def query_chunk_size(queryset: models.QuerySet, batch_size: int, params_per_value: int = 1) -> int:
    """How many values one ``__in`` list may hold on the queryset's database."""
    features = connections[queryset.db].features
    limit = getattr(features, "max_query_params", None)
    if limit:
        return max(1, min(batch_size, (limit - 50) // params_per_value))
    return batch_size


class BatchValidation:
    """Prepare ``child`` (a ``Serializer``) to validate ``items`` in a batch.

    ``instances`` lines up with ``items`` for updates (``None`` for creates).
    Call ``start(index)`` before validating each item.
    """

    def __init__(self, child, items: Sequence, instances: Sequence | None, batch_size: int):
        self.child = child
        self.items = items
        self.instances = instances
        self.batch_size = batch_size
        self.index = 0
        #: Items that failed validation: they will not be written, so their
        #: values claim nothing against later items.
        self.failed: set[int] = set()
        self.bound_integers()
        self.prefetch_relations()
        self.prefetch_unique()

    def start(self, index: int) -> None:
        self.index = index

    def fail(self, index: int) -> None:
        self.failed.add(index)

    def bound_integers(self) -> None:
        """Give unbounded integer fields the range any database column has.

        DRF takes an integer field's bounds from the model field, and Django
        reports none on some backends (SQLite): ``2**70`` would then reach
        the driver and fail there.
        """
        low, high = INTEGER_RANGE
        for field in self.child.fields.values():
            if field.read_only or not isinstance(field, serializers.IntegerField):
                continue
            if field.max_value is None:
                message = field.error_messages["max_value"].format(max_value=high)
                field.validators = [*field.validators, MaxValueValidator(high, message=message)]
            if field.min_value is None:
                message = field.error_messages["min_value"].format(min_value=low)
                field.validators = [*field.validators, MinValueValidator(low, message=message)]

    # Related fields -----------------------------------------------------

    def prefetch_relations(self) -> None:
        for field in self.child.fields.values():
            if field.read_only:
                continue
            many = isinstance(field, relations.ManyRelatedField)
            cache = RelationCache.for_field(field.child_relation if many else field)
            if cache is not None:
                cache.fill(self.raw_values(field, many=many), self.batch_size)

    def raw_values(self, field, many: bool = False) -> list:
        values: list = []
        for item in self.items:
            if not isinstance(item, dict):
                continue
            try:
                value = field.get_value(item)
            except Exception:  # a field's get_value() is not ours to judge here
                continue
            if value is empty or value is None:
                continue
            if many:
                if isinstance(value, (list, tuple)):
                    values.extend(value)
            else:
                values.append(value)
        return values

    # Unique validators --------------------------------------------------

    def prefetch_unique(self) -> None:
        fields = self.child.fields
        for field in fields.values():
            if field.read_only or not field.validators:
                continue
            validators = list(field.validators)
            for position, validator in enumerate(validators):
                if isinstance(validator, BatchedUniqueValidator):
                    # Set up by an earlier batch on the same field: start again from DRF's.
                    validator = validator.original
                if type(validator) is UniqueValidator and validator.lookup == "exact":
                    source = field.source_attrs[-1] if field.source_attrs else field.source
                    keys = self.internal_values(field)
                    validators[position] = BatchedUniqueValidator(
                        validator,
                        PrefetchedQuerySet.build(
                            self, validator.queryset, [source], [[key] for key in keys]
                        ),
                    )
            field.validators = validators

        validators = list(self.child.validators)
        for position, validator in enumerate(validators):
            if not isinstance(validator, UniqueTogetherValidator):
                continue
            if getattr(validator, "condition", None) is not None:
                continue
            try:
                sources = [fields[name].source for name in validator.fields]
            except KeyError:
                continue
            keys = []
            partial_items = []
            defaults = getattr(validator, "defaults", {})
            for index, item in enumerate(self.items):
                instance = self.instances[index] if self.instances is not None else None
                values = [self.internal_value(fields[name], item) for name in validator.fields]
                if instance is None and defaults:
                    values = [
                        defaults[source]() if value is empty and source in defaults else value
                        for value, source in zip(values, sources)
                    ]
                if instance is not None and any(value is empty for value in values):
                    partial_items.append(index)
                keys.append(values)
            if self.instances is not None:
                # DRF reads every instance's values of these fields (to fill
                # omitted ones, to skip unchanged ones): fetch the related
                # objects it will read once, not once per item.
                relations = [s for s in sources if is_forward_relation(validator.queryset.model, s)]
                if relations:
                    prefetch(self.instances, relations)
                for index in partial_items:
                    keys[index] = [
                        getattr(self.instances[index], source, None) if value is empty else value
                        for value, source in zip(keys[index], sources)
                    ]
            together = type(validator).__new__(type(validator))
            together.__dict__.update(validator.__dict__)
            together.queryset = PrefetchedQuerySet.build(self, validator.queryset, sources, keys)
            validators[position] = together
        self.child.validators = validators

    def internal_value(self, field, item, bounds: list | None = None) -> Any:
        """The item's value for ``field`` as validation will see it, or ``empty``.

        ``bounds`` are the field's range validators, when already looked up.
        """
        if not isinstance(item, dict):
            return empty
        try:
            value = field.get_value(item)
            if value is empty:
                return empty
            if value is None:
                return None
            value = field.to_internal_value(value)
            # A number its own field refuses (2**70 beyond max_value) never
            # reaches the batch's query, where the driver could choke on it.
            if bounds is None:
                bounds = range_validators(field)
            for validator in bounds:
                validator(value)
            return value
        except (SkipField, Exception):
            return empty

    def internal_values(self, field) -> list:
        """``internal_value()`` of every item for ``field``."""
        bounds = range_validators(field)
        own = vars(field)
        if (
            type(field) in TEXT_FIELDS
            and not bounds
            and "to_internal_value" not in own
            and "get_value" not in own
        ):
            # CharField.to_internal_value() of a str, without a call per item.
            name = field.field_name
            trim = field.trim_whitespace
            values = []
            for item in self.items:
                if type(item) is dict or type(item) is CSVRow:
                    value = item.get(name, empty)
                    if type(value) is str:
                        values.append(value.strip() if trim else value)
                        continue
                values.append(self.internal_value(field, item, bounds))
            return values
        return [self.internal_value(field, item, bounds) for item in self.items]


#: Fields whose value of a str is the str, trimmed if the field trims.
TEXT_FIELDS = (serializers.CharField, serializers.EmailField, serializers.SlugField)


def range_validators(field) -> list:
    return [v for v in field.validators if isinstance(v, (MinValueValidator, MaxValueValidator))]


class RelationCache:
    """Answers a related field's ``to_internal_value`` from one query per batch."""

    #: The field's queryset, set by ``for_field()``.
    queryset: models.QuerySet

    def __init__(self, field, lookup: str, key_field: models.Field, original):
        self.field = field
        self.lookup = lookup
        self.key_field = key_field
        self.original = original
        self.objects: dict = {}
        self.fetched: set = set()

    @classmethod
    def for_field(cls, field) -> RelationCache | None:
        existing = getattr(field, "_bulk_relation_cache", None)
        if existing is not None:
            return existing
        kind = type(field).to_internal_value
        if kind is relations.PrimaryKeyRelatedField.to_internal_value:
            lookup = "pk"
        elif kind is relations.SlugRelatedField.to_internal_value:
            lookup = field.slug_field
        else:
            return None
        queryset = field.get_queryset()
        if queryset is None:
            return None
        try:
            key_field = (
                queryset.model._meta.pk
                if lookup == "pk"
                else queryset.model._meta.get_field(lookup)
            )
        except Exception:
            return None
        cache = cls(field, lookup, key_field, field.to_internal_value)
        cache.queryset = queryset
        if isinstance(key_field, models.IntegerField) and not key_field.is_relation:
            # What convert() checks an int against, looked up once per batch.
            cache.integer_range = integer_range(key_field)
        field._bulk_relation_cache = cache
        field.to_internal_value = types.MethodType(cache.to_internal_value, field)
        return cache

    integer_range: tuple[int, int] | None = None

    def key(self, data):
        if self.lookup == "pk" and getattr(self.field, "pk_field", None) is not None:
            data = self.field.pk_field.to_internal_value(data)
        if isinstance(self.key_field, models.ForeignKey):
            raise LookupError  # a pk that is itself a relation: let the ordinary path decide
        bounds = self.integer_range
        if bounds is not None:
            if type(data) is int and bounds[0] <= data <= bounds[1]:
                return data
            # A CSV cell: ASCII digits are the integer they spell, as
            # convert() reads them; anything else goes through it.
            if type(data) is str and data.isascii() and data.isdigit() and len(data) < 19:
                value = int(data)
                if bounds[0] <= value <= bounds[1]:
                    return value
        return convert(self.key_field, data)

    def fill(self, values: Iterable, batch_size: int) -> None:
        keys = set()
        for value in values:
            try:
                key = self.key(value)
            except Exception:  # refused, or left to the field, when validated
                continue
            if key not in self.fetched:
                keys.add(key)
        if not keys:
            return
        for chunk in chunks(list(keys), query_chunk_size(self.queryset, batch_size)):
            lookup = "pk__in" if self.lookup == "pk" else f"{self.lookup}__in"
            for obj in self.queryset.filter(**{lookup: chunk}).order_by():
                value = obj.pk if self.lookup == "pk" else getattr(obj, self.lookup)
                if value in self.objects:
                    # Not unique in this queryset: DRF's get() would say so.
                    self.objects[value] = None
                else:
                    self.objects[value] = obj
            self.fetched.update(chunk)

    def to_internal_value(self, field, data):
        try:
            key = self.key(data)
        except ValueError:
            # Not a value of the key's type (2.9 for an integer key, 2**70,
            # a list): DRF would coerce some of these to another row, or
            # fail with a database error.
            if self.lookup == "pk":
                field.fail("incorrect_type", data_type=type(data).__name__)
            field.fail("invalid")
        except Exception:
            return self.original(data)
        if key not in self.fetched or isinstance(key, str):
            # Unknown to this batch, or a string the database may compare
            # differently (collations): ask the database as DRF would.
            obj = self.objects.get(key)
            if obj is not None:
                return obj
            return self.original(data)
        obj = self.objects.get(key)
        if obj is None:
            if key in self.objects:
                return self.original(data)
            if self.lookup == "pk":
                field.fail("does_not_exist", pk_value=data)
            field.fail("does_not_exist", slug_name=self.lookup, value=str(data))
        return obj


def is_forward_relation(model, source: str) -> bool:
    try:
        field = model._meta.get_field(source)
    except Exception:
        return False
    return bool(field.is_relation and (field.many_to_one or field.one_to_one) and field.concrete)


def prefetch(instances: Sequence, lookups: Iterable[str]) -> None:
    """``prefetch_related_objects()`` for each lookup that applies; others are skipped."""
    objects = [obj for obj in instances if obj is not None]
    if not objects:
        return
    for lookup in lookups:
        try:
            models.prefetch_related_objects(objects, lookup)
        except (AttributeError, ValueError, TypeError):
            continue


def _normalise(value, vendor: str):
    if isinstance(value, models.Model):
        return value.pk
    if vendor == "mysql" and isinstance(value, str):
        # MySQL/MariaDB compare with case-insensitive, pad-space collations.
        return value.rstrip(" ").casefold()
    return value


class PrefetchedQuerySet:
    """Stands in for a unique validator's queryset during one batch.

    DRF's validators call ``filter(**values)``, ``exclude(pk=...)`` and
    ``exists()``. Exact matches on the prefetched fields are answered from
    memory; anything else runs the real query.
    """

    def __init__(self, batch, queryset, sources, existing, claims, filters=None, excluded=None):
        self.batch = batch
        self.queryset = queryset
        self.model = queryset.model
        self.sources = sources
        self.existing = existing  # key tuple -> set of pks in the database
        self.claims = claims  # key tuple -> indexes of the items carrying it
        self.filters = filters or {}
        self.excluded = excluded or []
        self.vendor = connections[queryset.db].vendor

    @classmethod
    def build(cls, batch: BatchValidation, queryset, sources: list[str], keys: list[list]):
        queryset = queryset.all()
        vendor = connections[queryset.db].vendor
        model = queryset.model
        claims: dict[tuple, list[int]] = {}
        wanted: list[list] = []
        plain = (int, str) if vendor != "mysql" else (int,)
        for index, key in enumerate(keys):
            if len(key) == 1 and type(key[0]) in plain:
                # One text or integer value, its own normal form and query value (most keys).
                normal = (key[0],)
                query = key
            elif any(value is empty or value is None for value in key):
                continue
            else:
                normal = tuple(_normalise(value, vendor) for value in key)
                query = [value.pk if isinstance(value, models.Model) else value for value in key]
            indexes = claims.get(normal)
            if indexes is None:
                wanted.append(query)
                claims[normal] = [index]
            else:
                indexes.append(index)
        existing: dict[tuple, set] = {}
        columns = [cls._column(model, source) for source in sources]
        size = query_chunk_size(queryset, batch.batch_size, len(sources))
        # Chunks of values (one column) or of keys (several).
        found: Iterable[tuple[Sequence, models.QuerySet]]
        if len(columns) == 1:
            found = filtered_in_chunks(queryset, columns[0], [key[0] for key in wanted], size)
        else:
            found = (
                (
                    chunk,
                    queryset.filter(
                        **{
                            f"{column}__in": {key[i] for key in chunk}
                            for i, column in enumerate(columns)
                        }
                    ),
                )
                for chunk in chunks(wanted, size)
            )
        for chunk, named in found:
            try:
                for *values, pk in named.order_by().values_list(*columns, "pk"):
                    normal = tuple(_normalise(value, vendor) for value in values)
                    existing.setdefault(normal, set()).add(pk)
            except (TypeError, ValueError, ArithmeticError, DjangoValidationError):
                # A value the database cannot compare: leave it to the real query.
                for key in chunk if len(columns) > 1 else ([value] for value in chunk):
                    claims.pop(tuple(_normalise(value, vendor) for value in key), None)
        return cls(batch, queryset, sources, existing, claims)

    @staticmethod
    def _column(model, source: str) -> str:
        try:
            field = model._meta.get_field(source)
        except Exception:
            return source
        return field.attname if getattr(field, "attname", None) else source

    def _copy(self, **changes) -> PrefetchedQuerySet:
        state = {
            "filters": dict(self.filters),
            "excluded": list(self.excluded),
        }
        state.update(changes)
        return PrefetchedQuerySet(
            self.batch, self.queryset, self.sources, self.existing, self.claims, **state
        )

    def all(self):
        return self

    def filter(self, *args, **kwargs):
        if args:
            return self.real().filter(*args, **kwargs)
        filters = dict(self.filters)
        for lookup, value in kwargs.items():
            name = lookup[: -len("__exact")] if lookup.endswith("__exact") else lookup
            if "__" in name:
                return self.real().filter(**kwargs)
            filters[name] = value
        return self._copy(filters=filters)

    def exclude(self, *args, **kwargs):
        if args or set(kwargs) != {"pk"}:
            return self.real().exclude(*args, **kwargs)
        return self._copy(excluded=[*self.excluded, kwargs["pk"]])

    def none(self):
        return self.queryset.none()

    def real(self) -> models.QuerySet:
        queryset = self.queryset.filter(**self.filters)
        for pk in self.excluded:
            queryset = queryset.exclude(pk=pk)
        return queryset

    def exists(self) -> bool:
        if set(self.filters) != set(self.sources):
            return self.real().exists()
        answer = self.taken([self.filters[source] for source in self.sources], self.excluded)
        if answer is None:
            return self.real().exists()
        return answer

    def taken(self, values: Sequence, excluded: Sequence) -> bool | None:
        """Whether a row, or an earlier item of the request, holds ``values``.

        ``values`` line up with the prefetched sources; rows whose primary
        key is in ``excluded`` do not count. ``None`` when the batch did not
        prefetch these values: only the database can say.
        """
        vendor = self.vendor
        key = tuple([_normalise(value, vendor) for value in values])
        indexes = self.claims.get(key)
        if indexes is None:
            return None
        current = self.batch.index
        rows = self.existing.get(key)
        if not rows and indexes[0] >= current:
            return False  # no row holds it and no earlier item claims it
        skip = {_normalise(pk, vendor) for pk in excluded}
        if rows and any(pk not in skip for pk in rows):
            return True
        # An earlier item of this request claims the same value.
        instances = self.batch.instances
        for index in indexes:
            if index >= current:
                break
            if index in self.batch.failed:
                continue
            other = instances[index] if instances is not None else None
            if other is None or other.pk not in skip:
                return True
        return False

    def __getattr__(self, name):
        return getattr(self.real(), name)

    def __iter__(self):
        return iter(self.real())

    def __repr__(self) -> str:
        return f"<PrefetchedQuerySet {self.model.__name__} {self.sources}>"


class BatchedUniqueValidator(UniqueValidator):
    """A field's ``UniqueValidator`` during one batch, answered from its prefetch.

    DRF's validator builds ``filter(<field>=value).exclude(pk=...)`` and asks
    ``exists()`` of it for every item; this one looks the value up in what
    the batch fetched and raises DRF's error (the validator's message, code
    ``unique``). A value the batch did not fetch, or an instance DRF would
    refuse to judge, goes through DRF's own ``__call__()`` on the same
    stand-in queryset.
    """

    def __init__(self, original: UniqueValidator, queryset: PrefetchedQuerySet):
        # The stand-in answers the calls DRF's validator makes of a queryset.
        super().__init__(
            queryset=queryset,  # type: ignore[arg-type]
            message=original.message,
            lookup=original.lookup,
        )
        #: The field's own validator, which the next batch starts from.
        self.original = original
        self.source = queryset.sources[0]

    def __call__(self, value, serializer_field):
        instance = getattr(serializer_field.parent, "instance", None)
        if serializer_field.source_attrs[-1] == self.source and (
            instance is None or isinstance(instance, models.Model)
        ):
            excluded = () if instance is None else (instance.pk,)
            try:
                taken = self.queryset.taken((value,), excluded)
            except (TypeError, ValueError):
                taken = None  # not a value the lookup can hold: DRF's way decides
            if taken is not None:
                if taken:
                    raise ValidationError(self.message, code="unique")
                return
        super().__call__(value, serializer_field)


class UniqueConstraintValidator(UniqueTogetherValidator):
    """A model ``UniqueConstraint`` for DRF versions that do not validate it.

    As DRF 3.15 and later do, a field with a model default may be omitted on
    create; the default is what the database will store, so it is checked.
    """

    def __init__(self, queryset, fields, defaults):
        super().__init__(queryset=queryset, fields=fields)
        self.defaults = defaults

    def enforce_required_fields(self, attrs, serializer):
        if serializer.instance is not None:
            return
        missing = {
            name: self.missing_message
            for name in self.fields
            if serializer.fields[name].source not in attrs
            and serializer.fields[name].source not in self.defaults
        }
        if missing:
            raise ValidationError(missing, code="required")

    def __call__(self, attrs, serializer):
        if serializer.instance is None and self.defaults:
            attrs = {**{source: default() for source, default in self.defaults.items()}, **attrs}
        return super().__call__(attrs, serializer)


def unique_constraint_validators(serializer) -> list:
    """Validators for model ``UniqueConstraint``s DRF left out.

    DRF 3.15 and later turn plain model ``UniqueConstraint``s into validators;
    DRF 3.14 does not. Without one, a conflict inside a bulk write would only
    surface as an ``IntegrityError``.
    """
    model = getattr(getattr(serializer, "Meta", None), "model", None)
    if model is None:
        return []
    covered = {
        frozenset(validator.fields)
        for validator in serializer.validators
        if isinstance(validator, UniqueTogetherValidator)
    }
    sources = {
        field.source: name
        for name, field in serializer.fields.items()
        if not field.read_only and field.source != "*"
    }
    added = []
    for constraint in model._meta.total_unique_constraints:
        fields = list(constraint.fields)
        if len(fields) < 2 or not all(name in sources for name in fields):
            continue
        names = [sources[name] for name in fields]
        if frozenset(names) in covered:
            continue
        defaults = {
            name: model._meta.get_field(name).get_default
            for name in fields
            if model._meta.get_field(name).has_default()
        }
        added.append(UniqueConstraintValidator(model._default_manager, names, defaults))
        covered.add(frozenset(names))
    return added


__all__ = ["BatchValidation", "prefetch", "unique_constraint_validators"]
