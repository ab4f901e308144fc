"""
Client filters for bulk requests, limited to what the view allows.

A view lists the filters a client may use in ``bulk_filter_fields``, in the
same forms as django-filter's ``filterset_fields``:

    class ItemViewSet(BulkModelViewSet):
        # exact match only
        bulk_filter_fields = ["account", "sku"]

        # or: field -> allowed lookups
        bulk_filter_fields = {
            "account": ["exact", "in"],
            "price": ["gte", "lte"],
            "account__name": ["exact"],  # relations must be listed in full
        }

Without it, only the view's ``lookup_field`` may be filtered on (``exact``
and ``in``).

A client sends filters either as query parameters
(``?price__gte=100&account__in=1,2``) or as a JSON object
(``{"price": {"gte": 100, "lte": 1000}, "account": 1}``; a plain value means
``exact``). Anything not listed, including any relation not spelled out in
the list, is refused with a 400 (code ``filter_not_allowed``), and a value
that does not fit the field is refused with a 400 (code
``invalid_filter_value``). Only names taken from the list reach the ORM.
"""

from __future__ import annotations

import datetime
import decimal
import math
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, NoReturn, cast

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connections, models
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.filters import BaseFilterBackend
from rest_framework.settings import api_settings

from .schemas import bulk_filter_parameters

__all__ = ["LOOKUPS", "RESERVED_QUERY_PARAMS", "BulkFilter", "BulkFilterBackend", "FilterLookup"]

#: The lookups a view may allow.
LOOKUPS = frozenset(
    {
        "exact",
        "iexact",
        "in",
        "gt",
        "gte",
        "lt",
        "lte",
        "range",
        "isnull",
        "contains",
        "icontains",
        "startswith",
        "istartswith",
        "endswith",
        "iendswith",
    }
)
# Lookups whose value is matched as text, whatever the field's type.
TEXT_LOOKUPS = frozenset(
    {"iexact", "contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"}
)

#: Query parameters that belong to the request, not to the filters.
RESERVED_QUERY_PARAMS = frozenset(
    {
        "ids",
        "upsert",
        "dry_run",
        "format",
        "page",
        "page_size",
        "delimiter",
        "fields",
        "limit",
        "offset",
        "cursor",
    }
)

_MAX_SHOWN = 100
# Far beyond any real filter, short of what makes databases reject the number.
_MAX_DECIMAL_PLACES = 100


class FilterLookup(NamedTuple):
    """One validated filter: ``queryset.filter(**{lookup.expression: lookup.value})``."""

    field: str
    lookup: str
    value: Any
    #: Whether the field is reached through a to-many relation (rows may repeat).
    many: bool = False

    @property
    def expression(self) -> str:
        return f"{self.field}__{self.lookup}"


class _Target(NamedTuple):
    path: str  # as written in the allow-list
    field: models.Field | models.ForeignObjectRel  # the field named by the path
    value_field: models.Field  # the field whose type the value must have
    many: bool


def _shorten(text: Any) -> str:
    text = str(text)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "…"


class BulkFilter:
    """
    Validates the filters a client sends against the view's
    ``bulk_filter_fields`` and applies them to a queryset.

        bulk_filter = BulkFilter(view)
        queryset = bulk_filter.filter_queryset(queryset, request.query_params)
        queryset = bulk_filter.filter_queryset(queryset, request.data.get("filters"))

    ``filters`` may be a ``QueryDict`` (query parameters: the names in
    ``reserved`` are skipped, a repeated parameter applies every value) or a
    JSON object. All the errors are collected and raised together as one
    ``ValidationError`` keyed by the client's names.

    Subclass it to change the limits or the wording of ``default_error_messages``.
    """

    reserved: frozenset[str] = RESERVED_QUERY_PARAMS
    #: The lookups that compare values as text.
    text_lookups: frozenset[str] = TEXT_LOOKUPS
    #: The most values an ``in`` lookup accepts.
    max_in_values = 1000
    #: The longest text accepted as a value.
    max_value_length = 4096

    default_error_messages = {
        "not_allowed": _('Filtering on "{field}" is not allowed.'),
        "lookup_not_allowed": _(
            'The "{lookup}" lookup is not allowed on "{field}". Allowed: {allowed}.'
        ),
        "invalid": _('Enter a valid value for "{field}".'),
        "invalid_list": _(
            'Enter a list of values for "{field}", as a JSON list or comma-separated text.'
        ),
        "too_many_values": ngettext_lazy(
            '"{field}" accepts at most {max} value.',
            '"{field}" accepts at most {max} values.',
            "max",
        ),
        "invalid_range": _('Enter two values, a start and an end, for "{field}".'),
        "invalid_boolean": _('Enter true or false for "{field}".'),
        "null": _('"{field}" cannot be null.'),
        "no_lookups": _('Give at least one lookup for "{field}".'),
        "invalid_filters": _("Invalid filters. Expected a dictionary, but got {datatype}."),
    }
    error_codes = {
        "not_allowed": "filter_not_allowed",
        "lookup_not_allowed": "filter_not_allowed",
        "invalid_filters": "invalid",
    }
    default_error_code = "invalid_filter_value"

    def __init__(self, view: Any = None, *, fields: Any = None, reserved: Any = None):
        self.view = view
        self.fields = fields
        if reserved is not None:
            self.reserved = frozenset(reserved)

    # Configuration

    def get_filter_fields(self) -> dict[str, tuple[str, ...]]:
        """
        The allow-list as ``{field path: lookups}``: the ``fields`` argument,
        else the view's ``bulk_filter_fields``, else the view's lookup field
        with ``exact`` and ``in``.
        """
        fields = (
            self.fields
            if self.fields is not None
            else getattr(self.view, "bulk_filter_fields", None)
        )
        if fields is None:
            lookup_field = getattr(self.view, "lookup_field", None) or "pk"
            fields = {lookup_field: ["exact", "in"]}
        if isinstance(fields, Mapping):
            items = list(fields.items())
        elif isinstance(fields, (list, tuple, set, frozenset)):
            items = [(name, ["exact"]) for name in fields]
        else:
            raise ImproperlyConfigured(
                f"`{self._owner()}.bulk_filter_fields` should be a list of field names or a dict "
                "mapping field names to lists of lookups."
            )
        allowed = {}
        for name, lookups in items:
            if isinstance(lookups, str) or not all(isinstance(lookup, str) for lookup in lookups):
                raise ImproperlyConfigured(
                    f"`{self._owner()}.bulk_filter_fields[{name!r}]` should be a list of lookups, "
                    f'such as ["exact", "in"].'
                )
            unknown = sorted(set(lookups) - LOOKUPS)
            if unknown:
                raise ImproperlyConfigured(
                    f"`{self._owner()}.bulk_filter_fields[{name!r}]` has unsupported lookups {unknown}. "
                    f"Use some of: {', '.join(sorted(LOOKUPS))}."
                )
            allowed[str(name)] = tuple(lookups)
        return allowed

    def get_reserved(self) -> frozenset[str]:
        """
        The query parameters that are not filters: ``reserved``, DRF's format,
        search and ordering parameters, and those of the view's paginator.
        """
        names = set(self.reserved)
        names.update(
            name
            for name in (
                api_settings.URL_FORMAT_OVERRIDE,
                api_settings.SEARCH_PARAM,
                api_settings.ORDERING_PARAM,
            )
            if name
        )
        paginator = getattr(self.view, "paginator", None)
        for attr in (
            "page_query_param",
            "page_size_query_param",
            "limit_query_param",
            "offset_query_param",
            "cursor_query_param",
        ):
            name = getattr(paginator, attr, None)
            if isinstance(name, str) and name:
                names.add(name)
        return frozenset(names)

    # Filtering

    def filter_queryset(self, queryset: QuerySet, filters: Any) -> QuerySet:
        """``queryset`` narrowed by the client's ``filters``; unchanged if there are none."""
        lookups = self.get_lookups(queryset, filters)
        if not lookups:
            return queryset
        # One filter() call, so that conditions on a to-many relation apply to
        # the same related row, as in a single filter(**kwargs).
        conditions = [Q((lookup.expression, lookup.value)) for lookup in lookups]
        if any(lookup.many for lookup in lookups):
            # Through a to-many relation a row can match more than once. A
            # primary-key subquery rather than distinct() keeps the queryset
            # usable for update() and delete() (Django 4.2 refuses both after
            # distinct()).
            return queryset.filter(
                pk__in=queryset.model._base_manager.filter(*conditions).values("pk")
            )
        return queryset.filter(*conditions)

    def get_lookups(self, queryset: QuerySet, filters: Any) -> list[FilterLookup]:
        """
        Validate ``filters`` and return them as :class:`FilterLookup`; an
        empty list means the client asked for no filtering. Raises a
        ``ValidationError`` listing every filter that is not allowed or whose
        value is not valid.
        """
        allowed = self.get_filter_fields()
        targets = {
            path: self._resolve(queryset.model, path, lookups) for path, lookups in allowed.items()
        }
        connection = connections[queryset.db]
        lookups: list[FilterLookup] = []
        errors: dict[str, list[ErrorDetail]] = {}
        for key, value, in_query in self._iter_filters(filters):
            try:
                lookups.extend(
                    self._get_key_lookups(key, value, in_query, allowed, targets, connection)
                )
            except ValidationError as exc:
                # fail() raises with one message, which DRF wraps in a list.
                errors.setdefault(_shorten(key), []).extend(cast("list[ErrorDetail]", exc.detail))
        if errors:
            raise ValidationError(errors)
        return lookups

    def fail(self, key: str, **kwargs: Any) -> NoReturn:
        """Raise the error ``key`` of ``default_error_messages``, with its code."""
        # format() on the message itself, so that a plural (ngettext_lazy) picks its form.
        message = str(self.default_error_messages[key].format(**kwargs))
        raise ValidationError(message, code=self.error_codes.get(key, self.default_error_code))

    def _iter_filters(self, filters: Any) -> Iterator[tuple[str, Any, bool]]:
        if filters is None:
            return
        if hasattr(filters, "getlist"):
            reserved = self.get_reserved()
            for key in filters:
                if key not in reserved:
                    for value in filters.getlist(key):
                        yield key, value, True
        elif isinstance(filters, Mapping):
            for key, value in filters.items():
                yield str(key), value, False
        else:
            try:
                self.fail("invalid_filters", datatype=type(filters).__name__)
            except ValidationError as exc:
                raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: exc.detail}) from None

    def _get_key_lookups(
        self, key, value, in_query, allowed, targets, connection
    ) -> list[FilterLookup]:
        if isinstance(value, Mapping) and not in_query:
            # {"price": {"gte": 1, "lte": 9}}: the key is a field, the inner keys lookups.
            if key not in allowed:
                self.fail("not_allowed", field=_shorten(key))
            if not value:
                self.fail("no_lookups", field=_shorten(key))
            pairs = []
            for lookup, inner in value.items():
                if lookup not in allowed[key]:
                    self._refuse(key, str(lookup), f"{key}__{lookup}", allowed, targets)
                pairs.append((key, lookup, inner, f"{key}__{lookup}"))
        else:
            path, lookup = self._split(key, allowed, targets)
            pairs = [(path, lookup, value, key)]
        result = []
        for path, lookup, raw, name in pairs:
            target = targets[path]
            converted = self._convert(target, lookup, raw, _shorten(name), connection)
            # Hand the ORM the allow-list's own strings, never the client's.
            field = target.path
            lookup = allowed[field][allowed[field].index(lookup)]
            result.append(FilterLookup(field, lookup, converted, target.many))
        return result

    def _split(self, key: str, allowed, targets) -> tuple[str, str]:
        # Only an exact match against the allow-list is accepted: "a__b" is
        # either the field "a__b" (exact) or the field "a" with the lookup "b".
        if key in allowed and "exact" in allowed[key]:
            return key, "exact"
        path, sep, lookup = key.rpartition("__")
        if sep and path in allowed and lookup in allowed[path]:
            return path, lookup
        if key in allowed:
            self._refuse(key, "exact", key, allowed, targets)
        if sep and path in allowed:
            self._refuse(path, lookup, key, allowed, targets)
        self.fail("not_allowed", field=_shorten(key))

    def _refuse(self, path: str, lookup: str, name: str, allowed, targets) -> NoReturn:
        # Name the lookup when it is one ("price__gt"), else the whole key
        # ("account__owner__password" is a field, not a lookup on "account__owner").
        if lookup in LOOKUPS or targets[path].field.get_lookup(lookup) is not None:
            self.fail(
                "lookup_not_allowed",
                field=path,
                lookup=_shorten(lookup),
                allowed=", ".join(allowed[path]),
            )
        self.fail("not_allowed", field=_shorten(name))

    # Values

    def _convert(self, target: _Target, lookup: str, raw: Any, name: str, connection) -> Any:
        if lookup == "isnull":
            return self._to_boolean(raw, name)
        if lookup == "in":
            return [
                self._to_value(target, lookup, item, name, connection)
                for item in self._to_list(raw, name)
            ]
        if lookup == "range":
            if not isinstance(raw, (str, list, tuple)):
                self.fail("invalid_range", field=name)
            items = self._split_text(raw) if isinstance(raw, str) else list(raw)
            if len(items) != 2 or None in items:
                self.fail("invalid_range", field=name)
            return tuple(self._to_value(target, lookup, item, name, connection) for item in items)
        return self._to_value(target, lookup, raw, name, connection)

    def _split_text(self, text: str) -> list[str]:
        return [item.strip() for item in text.split(",")] if text else []

    def _to_list(self, raw: Any, name: str) -> list[Any]:
        if isinstance(raw, str):
            items = self._split_text(raw)
        elif isinstance(raw, (list, tuple)):
            items = list(raw)
        else:
            self.fail("invalid_list", field=name)
        if len(items) > self.max_in_values:
            self.fail("too_many_values", field=name, max=self.max_in_values)
        return items

    def _to_boolean(self, raw: Any, name: str) -> bool:
        try:
            return serializers.BooleanField().to_internal_value(raw)
        except (ValidationError, TypeError):
            self.fail("invalid_boolean", field=name)

    def _to_text(self, raw: Any, name: str) -> str:
        if isinstance(raw, bool):
            text = "true" if raw else "false"
        elif isinstance(raw, str):
            text = raw
        elif isinstance(raw, (int, float, decimal.Decimal)):
            try:
                text = str(raw)
            except ValueError:  # An int too long to print (sys.set_int_max_str_digits).
                self.fail("invalid", field=name)
        else:
            self.fail("invalid", field=name)
        if len(text) > self.max_value_length or "\x00" in text:
            self.fail("invalid", field=name)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            self.fail("invalid", field=name)
        return text

    def _to_value(self, target: _Target, lookup: str, raw: Any, name: str, connection) -> Any:
        if raw is None:
            if lookup in ("exact", "iexact", "in"):
                return None
            self.fail("null", field=name)
        text = self._to_text(raw, name)
        if lookup in TEXT_LOOKUPS:
            return text
        field = target.value_field
        if isinstance(field, models.BooleanField):
            return self._to_boolean(text, name)
        try:
            value = field.to_python(text)
            value = self._check_value(field, value, connection)
        except (DjangoValidationError, TypeError, ValueError, ArithmeticError, LookupError):
            self.fail("invalid", field=name)
        return value

    def _check_value(self, field: models.Field, value: Any, connection) -> Any:
        """Refuse values the database would reject with an error rather than a non-match."""
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int) and isinstance(field, models.IntegerField):
            try:
                low, high = connection.ops.integer_field_range(field.get_internal_type())
            except KeyError:  # A custom field type: let the database judge.
                low = high = None
            # No backend stores more than 64 bits, whatever it reports (SQLite
            # on Django 4.2 reports no range at all).
            low = -(2**63) if low is None else low
            high = 2**63 - 1 if high is None else high
            if (low is not None and value < low) or (high is not None and value > high):
                raise ValueError("out of range")
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError("not finite")
        elif isinstance(value, decimal.Decimal):
            if not value.is_finite():
                raise ValueError("not finite")
            # A finite decimal's exponent is an int, not "n", "N" or "F".
            exponent = cast(int, value.as_tuple().exponent)
            whole_digits = value.adjusted() + 1
            if exponent < -_MAX_DECIMAL_PLACES:
                raise ValueError("too precise")
            if isinstance(field, models.DecimalField) and field.max_digits is not None:
                if whole_digits > field.max_digits - (field.decimal_places or 0):
                    raise ValueError("out of range")
        elif isinstance(value, datetime.datetime):
            # Databases compare in UTC (or in the naive default time zone):
            # convert now, so that a date near year 1 or 9999 that cannot be
            # converted fails here rather than in the database adapter.
            if settings.USE_TZ:
                if timezone.is_naive(value):
                    value = timezone.make_aware(value)
                value = value.astimezone(datetime.timezone.utc)
            elif timezone.is_aware(value):
                value = timezone.make_naive(value)
        return value

    # Model paths

    def _resolve(self, model: type[models.Model], path: str, lookups: tuple[str, ...]) -> _Target:
        opts = model._meta
        field: models.Field | models.ForeignObjectRel | None = None
        many = False
        parts = path.split("__")
        for index, part in enumerate(parts):
            if field is not None:
                # A class once the app registry is ready (not "self").
                related = field.related_model if field.is_relation else None
                if not isinstance(related, type):
                    self._bad_path(path, model, f'"{parts[index - 1]}" is not a relation')
                opts = related._meta
            try:
                found = opts.pk if part == "pk" else opts.get_field(part)
            except FieldDoesNotExist:
                self._bad_path(path, model, f'"{opts.model.__name__}" has no field "{part}"')
            if not isinstance(found, (models.Field, models.ForeignObjectRel)):
                # A GenericForeignKey: no model to follow, no lookups.
                self._bad_path(path, model, "generic relations cannot be filtered on")
            field = found
            if field.is_relation and (field.many_to_many or field.one_to_many):
                many = True
        assert field is not None  # a path has at least one part
        if isinstance(field, models.Field) and not field.is_relation:
            value_field = field
        else:
            related = field.related_model
            if not isinstance(related, type):
                self._bad_path(path, model, "generic relations cannot be filtered on")
            if isinstance(field, models.ForeignKey):
                value_field = field.target_field
            else:
                value_field = related._meta.pk
        for lookup in lookups:
            if field.get_lookup(lookup) is None:
                self._bad_path(path, model, f'it does not support the "{lookup}" lookup')
        return _Target(path, field, value_field, many)

    def _bad_path(self, path: str, model: type[models.Model], reason: str) -> NoReturn:
        raise ImproperlyConfigured(
            f'`{self._owner()}.bulk_filter_fields` lists "{path}", which cannot filter '
            f"`{model.__name__}`: {reason}. List model fields, and relations spelled out "
            'with "__" (such as "account__name").'
        )

    def _owner(self) -> str:
        return type(self.view).__name__ if self.view is not None else type(self).__name__


class BulkFilterBackend(BaseFilterBackend):
    """
    A DRF filter backend that applies :class:`BulkFilter` to the query
    parameters of every request.

    It refuses any query parameter that is neither an allowed filter nor
    reserved, so use it instead of, not beside, other backends that read
    query parameters of their own.
    """

    def filter_queryset(self, request, queryset, view):
        bulk_filter_class = getattr(view, "bulk_filter_class", BulkFilter)
        return bulk_filter_class(view).filter_queryset(queryset, request.query_params)

    def get_schema_operation_parameters(self, view):
        """The allowed filters, as OpenAPI query parameters (for DRF's and drf-spectacular's generators)."""
        return bulk_filter_parameters(view, getattr(view, "bulk_filter_class", BulkFilter))
