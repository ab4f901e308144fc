"""
django-filter on ``/bulk/``: the view's ``FilterSet`` is the allow-list.

The only module of the package that imports django-filter
(``pip install drf-bulk[filter]``), and only for a view that declares
``filterset_class`` or ``filterset_fields``. When such a view lists
``DjangoFilterBackend`` (or a subclass) in ``filter_backends`` and sets no
``bulk_filter_fields``, every verb on ``/bulk/`` filters with that backend's
``FilterSet``, so a filter the list route accepts is accepted on ``/bulk/``
and selects the same rows::

    class ItemViewSet(BulkOperationsMixin, viewsets.ModelViewSet):
        filter_backends = [DjangoFilterBackend]
        filterset_fields = {"account": ["exact"], "quantity": ["gte", "lte"]}

On ``/bulk/`` the backend runs in its place among the view's filter backends,
with three differences from the list route:

* a query parameter that no filter of the ``FilterSet`` reads, and that is
  not reserved (``ids``, ``format``, pagination, ...), is refused with a 400
  (code ``filter_not_allowed``) rather than ignored: a typo must not widen a
  ``DELETE``;
* a value the ``FilterSet`` refuses is a 400 with the code
  ``invalid_filter_value`` for every message (the messages are
  django-filter's), in the usual error body; so is an integer that its
  column cannot hold, given to a filter on an integer field or a foreign
  key (the list route matches nothing with it, or on Django 4.2 fails);
* the parameters the endpoint reads itself (``ids``, ``upsert``,
  ``dry_run``, ``format``, ``delimiter`` and the view's
  ``bulk_reserved_params``) never reach the ``FilterSet``.

Only the ``FilterSet``'s filters reach the ORM, with the field names it
declares: a relation it does not declare is a parameter it does not read.
Its filters come from the query string only, never from a request body.

A view that also sets ``bulk_filter_fields`` keeps them as the ``/bulk/``
allow-list, as before django-filter was read: the ``FilterSet`` still
filters (its errors answered as above), and ``bulk_filter_fields`` decides
which parameters are accepted.
"""

from __future__ import annotations

import decimal
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

from django.db import connections, models
from django.utils.datastructures import MultiValueDict
from django.utils.encoding import force_str
from rest_framework.exceptions import ErrorDetail, ValidationError

from .filters import _shorten

if TYPE_CHECKING:
    from django_filters.rest_framework import DjangoFilterBackend as _FilterBackendBase
else:
    _FilterBackendBase = object

__all__ = ["bulk_filter_backends", "get_filterset_backend", "uses_filterset"]

HAS_DJANGO_FILTER = importlib.util.find_spec("django_filters") is not None

#: The code of every error a ``FilterSet`` reports on ``/bulk/``.
INVALID_CODE = "invalid_filter_value"
NOT_ALLOWED_CODE = "filter_not_allowed"


def get_filterset_backend(view) -> type | None:
    """
    The ``DjangoFilterBackend`` class among the view's ``filter_backends``,
    if the view gives it a ``FilterSet`` (``filterset_class`` or
    ``filterset_fields``); ``None`` otherwise, and always without django-filter.
    """
    if not HAS_DJANGO_FILTER or not (
        getattr(view, "filterset_class", None) or getattr(view, "filterset_fields", None)
    ):
        return None
    from django_filters.rest_framework import DjangoFilterBackend

    for backend in getattr(view, "filter_backends", None) or ():
        if isinstance(backend, type) and issubclass(backend, DjangoFilterBackend):
            return backend
    return None


def uses_filterset(view) -> bool:
    """
    Whether the view's ``FilterSet`` decides which query parameters
    ``/bulk/`` accepts: it has one, and no ``bulk_filter_fields``.
    """
    return (
        getattr(view, "bulk_filter_fields", None) is None
        and get_filterset_backend(view) is not None
    )


@contextmanager
def bulk_filter_backends(view) -> Iterator[bool]:
    """
    Within the block, the view's ``DjangoFilterBackend`` is the ``/bulk/``
    one described above; yields :func:`uses_filterset`.

        with bulk_filter_backends(view) as filterset:
            queryset = view.filter_queryset(queryset)

    On a view that also sets ``bulk_filter_fields``, those decide which
    parameters are accepted (the caller applies them); the ``FilterSet``
    still filters, its errors in the bulk error body.

    The other backends, and every ``filter_queryset()`` override, run as
    they are: only the entry in ``filter_backends`` changes, on the view
    instance.
    """
    backend = get_filterset_backend(view)
    if backend is None:
        yield False
        return
    missing = object()
    saved = view.__dict__.get("filter_backends", missing)
    view.filter_backends = [
        bulk_backend(entry) if entry is backend else entry for entry in view.filter_backends
    ]
    try:
        yield uses_filterset(view)
    finally:
        if saved is missing:
            del view.filter_backends
        else:
            view.filter_backends = saved


@cache
def bulk_backend(backend: type) -> type:
    """``backend`` (a ``DjangoFilterBackend``) as ``/bulk/`` runs it."""
    return type(backend.__name__, (BulkFilterSetBackendMixin, backend), {})


class BulkFilterSetBackendMixin(_FilterBackendBase):
    """
    What ``/bulk/`` changes in a ``DjangoFilterBackend``: refuses parameters
    the ``FilterSet`` does not read, and answers refused values in the
    bulk error body. The backend's own ``get_filterset_class()`` and
    ``get_filterset_kwargs()`` still decide the ``FilterSet``.
    """

    def get_filterset_kwargs(self, request, queryset, view) -> dict:
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        data = kwargs.get("data")
        own = view.get_bulk_filter().reserved
        if data is not None and hasattr(data, "getlist") and own.intersection(data):
            data = data.copy()
            for name in own:
                data.pop(name, None)
            kwargs["data"] = data
        return kwargs

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        bulk_filter = view.get_bulk_filter()
        errors: dict[str, list[ErrorDetail]] = {}
        reserved = bulk_filter.get_reserved()
        read = parameters_read(filterset)
        known = set().union(*read.values())
        message = force_str(bulk_filter.default_error_messages["not_allowed"])
        strict = uses_filterset(view)
        for key in request.query_params if strict else ():
            if key not in known and key not in reserved:
                name = _shorten(key)
                errors[name] = [ErrorDetail(message.format(field=name), code=NOT_ALLOWED_CODE)]
        if not errors:
            errors = out_of_range(filterset, read, bulk_filter, connections[queryset.db])
        if not errors and not filterset.is_valid():
            for key, error_list in filterset.errors.as_data().items():
                errors[key] = [
                    ErrorDetail(_message(error), code=INVALID_CODE) for error in error_list
                ]
        if errors:
            raise ValidationError(errors)
        return filterset.qs


def _message(error) -> str:
    # As django-filter's `translate_validation()` words it on the list route.
    return str(error.message % error.params if error.params else error.message)


class _Recorder(MultiValueDict):
    """Empty form data that remembers the names a widget asks for."""

    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def __getitem__(self, key):
        self.names.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.names.add(key)
        return super().__contains__(key)

    def get(self, key, default=None):
        self.names.add(key)
        return super().get(key, default)

    def getlist(self, key, default=None):
        self.names.add(key)
        return super().getlist(key, default)


def parameters_read(filterset: Any) -> dict[str, frozenset[str]]:
    """
    The query parameters each filter of the ``FilterSet`` reads: its name, or
    the names its widget reads instead (``price_min`` and ``price_max`` for a
    ``RangeFilter``, ``name_lookup`` for a ``LookupChoiceFilter``).
    """
    form = filterset.form
    read = {}
    for name, field in form.fields.items():
        recorder = _Recorder()
        try:
            field.widget.value_from_datadict(recorder, MultiValueDict(), form.add_prefix(name))
        except Exception:  # A widget that cannot read empty data: its name, at least.
            pass
        read[name] = frozenset(recorder.names or {form.add_prefix(name)})
    return read


def out_of_range(filterset: Any, read: dict, bulk_filter, connection) -> dict:
    """
    Errors for the integers given to filters on integer columns (a foreign
    key to one included) that the database cannot hold. The list route
    leaves them to Django, which matches nothing from Django 5.0 on, but
    fails in the database before (``OverflowError`` on SQLite); ``/bulk/``
    refuses them, as it does with ``bulk_filter_fields``.
    """
    from django_filters.utils import get_model_field

    model = filterset.queryset.model
    data = filterset.data
    message = force_str(bulk_filter.default_error_messages["invalid"])
    errors = {}
    for name, filter_ in filterset.filters.items():
        field = get_model_field(model, filter_.field_name) if filter_.field_name else None
        related = field.related_model if field is not None and field.is_relation else None
        if isinstance(related, type):  # not a generic relation, nor unresolved
            field = getattr(field, "target_field", None) or related._meta.pk
        if not isinstance(field, models.IntegerField):
            continue
        for key in read.get(name, ()):
            for text in data.getlist(key) if hasattr(data, "getlist") else [data.get(key)]:
                if isinstance(text, str) and not _fits(field, text, bulk_filter, connection):
                    errors[name] = [ErrorDetail(message.format(field=name), code=INVALID_CODE)]
    return errors


def _fits(field, text: str, bulk_filter, connection) -> bool:
    # In the forms an `in` or `range` filter takes: comma-separated values.
    for part in text.split(","):
        try:
            number = decimal.Decimal(part.strip())
        except (decimal.InvalidOperation, ValueError):
            continue  # Not a number: the FilterSet's form says so.
        if not number.is_finite():
            continue
        if number.adjusted() > 40:  # Far out of any range; int() of it could take long.
            return False
        try:
            bulk_filter._check_value(field, int(number), connection)
        except (ValueError, ArithmeticError):
            return False
    return True
