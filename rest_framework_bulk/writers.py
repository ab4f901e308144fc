"""
Batched writes, one statement per batch.

Django's ``bulk_update()`` builds a ``CASE WHEN pk = ... THEN ...`` expression
per column, which databases evaluate slowly. ``update_rows()`` instead joins
the table to a list of values:

* PostgreSQL: ``UPDATE t SET c = v.c FROM (VALUES (...), ...) AS v(pk, c) WHERE t.pk = v.pk``
* SQLite 3.33+: the same ``UPDATE ... FROM`` with ``column1, column2, ...``
* MariaDB / MySQL: ``UPDATE t JOIN (SELECT ... UNION ALL SELECT ...) v ON ... SET ...``

Any other backend falls back to ``bulk_update()``.

``per_item_reason()`` is the write strategy: whether a serializer's items
can go out in such batches or must be saved one ``save()`` at a time.
"""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    InternalError,
    connections,
    models,
    router,
)
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForwardManyToOneDescriptor
from django.db.models.fields.reverse_related import ForeignObjectRel
from django.db.models.signals import post_init, post_save, pre_init, pre_save
from rest_framework import serializers
from rest_framework.utils import model_meta

from .lookups import filtered_in_chunks
from .validation import chunks, query_chunk_size
from .versions import StaleVersion


def max_params(connection) -> int:
    limit = getattr(connection.features, "max_query_params", None)
    return limit or 65_000


class InstanceBuilder:
    """What makes ``model(**attrs)`` for each item of a batch insert on ``using``.

    For a model that leaves construction to Django (no ``__init__()`` of its
    own, no ``pre_init``/``post_init`` receivers), the field loop of
    ``Model.__init__()`` is worked out once: each field is set as Django
    sets it (a related object through its relation, so that it is checked
    and cached), to the item's value or the field's default. An item with
    any other key (a property, a field named twice) is built by
    ``model(**attrs)`` itself.

    A foreign key to a saved object of ``using``, with Django's own
    descriptor and no database routers to ask, is set by its column, as the
    descriptor would set it; the object goes in the instance's cache once
    the rows are inserted (``finish()``), so that ``bulk_create()`` has no
    cached relation to check.
    """

    def __init__(self, model, using: str):
        self.model = model
        self.using = using
        self.cached: list[tuple[models.Model, str, Any]] = []
        self.build = self.compile()

    def __call__(self, attrs: dict) -> models.Model:
        return self.build(attrs)

    def finish(self) -> None:
        """Cache the related objects set by their columns."""
        for obj, name, value in self.cached:
            obj._state.fields_cache[name] = value
        self.cached.clear()

    def compile(self) -> Callable[[dict], models.Model]:
        model = self.model
        opts = model._meta

        def construct(attrs: dict) -> models.Model:
            return model(**attrs)

        if (
            opts.abstract
            or model.__init__ is not models.Model.__init__
            or model.__new__ is not object.__new__
            or type(model).__call__ is not type.__call__
            or pre_init.has_listeners(model)
            or post_init.has_listeners(model)
        ):
            return construct
        steps = []
        for field in opts.fields:
            if field.column is None or getattr(field, "generated", False):
                continue  # Django's __init__() skips them too
            related = field.name if isinstance(field.remote_field, ForeignObjectRel) else None
            # setattr() of an attribute without a data descriptor (most fields)
            # stores the value in the instance's __dict__: do that directly.
            plain = not hasattr(inspect.getattr_static(model, field.attname, None), "__set__")
            key = self.key_column(field) if related is not None else None
            steps.append((related, field.attname, field.get_default, plain, key))
        new = object.__new__
        cached = self.cached
        using = self.using

        def build(attrs: dict) -> models.Model:
            obj = new(model)
            values = obj.__dict__
            values["_state"] = ModelState()
            used = 0
            linked = len(cached)
            for related, attname, default, plain, key in steps:
                if related is not None and related in attrs:
                    value: Any = attrs[related]
                    used += 1
                    if (
                        key is not None
                        and type(value) is key[0]
                        and value._state.db == using
                        and not value._state.adding
                    ):
                        values[attname] = getattr(value, key[1])
                        cached.append((obj, related, value))
                    else:
                        setattr(obj, related, value)
                    continue
                if attname in attrs:
                    value = attrs[attname]
                    used += 1
                else:
                    value = default()
                if plain:
                    values[attname] = value
                else:
                    setattr(obj, attname, value)
            if used != len(attrs):
                del cached[linked:]  # not this object's after all
                return model(**attrs)
            return obj

        return build

    def key_column(self, field) -> tuple[type[models.Model], str] | None:
        """``(related model, attribute)`` when ``field`` may be set by its column (see the class)."""
        if router.routers or field.one_to_one or not field.many_to_one:
            return None
        if type(inspect.getattr_static(self.model, field.name, None)) is not (
            ForwardManyToOneDescriptor
        ):
            return None
        if len(field.related_fields) != 1:
            return None
        remote = field.remote_field.model
        if remote._meta.concrete_model is not remote:
            return None  # a proxy's objects are instances of another class too
        return remote, field.related_fields[0][1].attname


def insert_rows(model, objs: list, batch_size: int, using: str) -> list:
    """``bulk_create()`` in batches the backend can take; sets primary keys."""
    if not objs:
        return objs
    # bulk_create() itself lowers the batch size to what the backend takes.
    return model._base_manager.db_manager(using).bulk_create(objs, batch_size=batch_size)


def update_rows(
    model,
    objs: Sequence,
    fields: Sequence[models.Field],
    batch_size: int,
    using: str,
    *,
    condition: tuple[models.Field, dict] | None = None,
) -> int:
    """Write ``fields`` of ``objs`` (already set on each object) in batches.

    ``condition`` is ``(field, expected)``: each row is written only if
    ``field`` still holds ``expected[pk]`` (a per-item version), and
    ``StaleVersion`` is raised when a statement changed fewer rows than it
    named.
    """
    if not objs or not fields:
        return 0
    connection = connections[using]
    vendor = connection.vendor
    if vendor == "postgresql":
        statement = _postgresql_statement
    elif vendor == "sqlite" and sqlite3.sqlite_version_info >= (3, 33, 0):
        statement = _sqlite_statement
    elif vendor == "mysql":
        statement = _mysql_statement
    elif condition is not None:
        return _update_one_by_one(model, objs, fields, using, condition)
    else:
        model._base_manager.db_manager(using).bulk_update(objs, fields, batch_size=batch_size)
        return len(objs)
    pk = model._meta.pk
    columns = [pk, *fields]
    if condition is not None:
        # The expected version travels as the last column of the values.
        columns.append(condition[0])
    size = max(1, min(batch_size, (max_params(connection) - 10) // len(columns)))
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        for batch in chunks(list(objs), size):
            params = []
            for obj in batch:
                for field in columns[: len(columns) - (condition is not None)]:
                    params.append(field.get_db_prep_save(getattr(obj, field.attname), connection))
                if condition is not None:
                    params.append(condition[0].get_db_prep_save(condition[1][obj.pk], connection))
            sql = statement(
                connection, table, columns, len(batch), conditional=condition is not None
            )
            if statement is _postgresql_statement:
                params.extend(pk.get_db_prep_save(obj.pk, connection) for obj in batch)
            cursor.execute(sql, params)
            if condition is not None and cursor.rowcount != len(batch):
                raise StaleVersion(batch)
    return len(objs)


def can_delete_returning(using: str) -> bool:
    """Whether the database takes ``DELETE ... RETURNING``: PostgreSQL, SQLite 3.35+, MariaDB."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        return True
    if connection.vendor == "sqlite":
        return sqlite3.sqlite_version_info >= (3, 35, 0)
    return connection.vendor == "mysql" and getattr(connection, "mysql_is_mariadb", False)


def delete_returning(
    queryset: models.QuerySet, model_field: models.Field, values: Sequence, batch_size: int
) -> dict:
    """Delete the rows of ``queryset`` whose ``model_field`` is one of ``values``.

    One ``DELETE ... WHERE pk IN (SELECT pk FROM <queryset> WHERE ...)
    RETURNING pk, <field>`` per batch (on PostgreSQL one in all, the values
    bound as one array; see :mod:`~rest_framework_bulk.lookups`): the rows
    are never fetched first, and the rows outside ``queryset`` (the view's
    scope) are never touched.
    Returns the deleted rows' primary keys by ``model_field`` value. Only for
    a model that Django's collector could delete fast (no cascades, no
    signals); see ``can_delete_returning()``.
    """
    wanted = [value for value in values if value is not None]
    if not wanted:
        return {}
    model = queryset.model
    connection = connections[queryset.db]
    quote = connection.ops.quote_name
    pk = model._meta.pk
    name = "pk" if model_field.primary_key else model_field.name
    table = quote(model._meta.db_table)
    assert model_field.column is not None, "a lookup field is a concrete field"
    returning = f"{table}.{quote(pk.column)}, {table}.{quote(model_field.column)}"
    deleted: dict = {}
    size = query_chunk_size(queryset, batch_size)
    with connection.cursor() as cursor:
        for _chunk, named in filtered_in_chunks(queryset, name, wanted, size):
            subquery, params = named.order_by().values_list("pk").query.sql_with_params()
            cursor.execute(
                f"DELETE FROM {table} WHERE {table}.{quote(pk.column)} IN ({subquery}) "
                f"RETURNING {returning}",
                params,
            )
            for key, value in cursor.fetchall():
                deleted[model_field.to_python(value)] = pk.to_python(key)
    return deleted


def _update_one_by_one(model, objs, fields, using, condition) -> int:
    field, expected = condition
    base = model._base_manager.db_manager(using)
    stale = []
    for obj in objs:
        values = {f.attname: getattr(obj, f.attname) for f in fields}
        if not base.filter(pk=obj.pk, **{field.attname: expected[obj.pk]}).update(**values):
            stale.append(obj)
    if stale:
        raise StaleVersion(stale)
    return len(objs)


def _postgresql_statement(
    connection, table: str, columns: list, rows: int, *, conditional: bool = False
) -> str:
    qn = connection.ops.quote_name
    casts = []
    for field in columns:
        db_type = field.db_type(connection) if field.is_relation else field.cast_db_type(connection)
        # In parentheses: `-2147483648::integer` casts 2147483648 before negating it.
        casts.append(f"(%s)::{db_type}" if db_type else "%s")
    first = "(" + ", ".join(casts) + ")"
    other = "(" + ", ".join(["%s"] * len(columns)) + ")"
    names = ["_bulk_pk"] + [f"_bulk_{i}" for i in range(1, len(columns))]
    if conditional:
        names[-1] = "_bulk_expected"
    values = ", ".join([first] + [other] * (rows - 1))
    written = len(columns) - conditional
    assignments = ", ".join(
        f"{qn(field.column)} = v.{names[i]}" for i, field in enumerate(columns[:written]) if i
    )
    check = (
        f" AND {table}.{qn(columns[-1].column)} IS NOT DISTINCT FROM v._bulk_expected"
        if conditional
        else ""
    )
    return (
        f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v({', '.join(names)}) "
        f"WHERE {table}.{qn(columns[0].column)} = v._bulk_pk "
        # Lets the planner use the primary key index instead of scanning the
        # whole table for every batch.
        f"AND {table}.{qn(columns[0].column)} IN ({', '.join(['%s'] * rows)})"
        f"{check}"
    )


def _sqlite_statement(
    connection, table: str, columns: list, rows: int, *, conditional: bool = False
) -> str:
    qn = connection.ops.quote_name
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    values = ", ".join([row] * rows)
    written = len(columns) - conditional
    assignments = ", ".join(
        f"{qn(field.column)} = v.column{i + 1}" for i, field in enumerate(columns[:written]) if i
    )
    check = (
        f" AND {table}.{qn(columns[-1].column)} IS v.column{len(columns)}" if conditional else ""
    )
    return (
        f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v "
        f"WHERE {table}.{qn(columns[0].column)} = v.column1{check}"
    )


def _mysql_statement(
    connection, table: str, columns: list, rows: int, *, conditional: bool = False
) -> str:
    qn = connection.ops.quote_name
    names = ["_bulk_pk"] + [f"_bulk_{i}" for i in range(1, len(columns))]
    if conditional:
        names[-1] = "_bulk_expected"
    first = "SELECT " + ", ".join(f"%s AS {name}" for name in names)
    other = "SELECT " + ", ".join(["%s"] * len(columns))
    derived = " UNION ALL ".join([first] + [other] * (rows - 1))
    written = len(columns) - conditional
    assignments = ", ".join(
        f"{table}.{qn(field.column)} = v.{names[i]}"
        for i, field in enumerate(columns[:written])
        if i
    )
    check = f" AND {table}.{qn(columns[-1].column)} <=> v._bulk_expected" if conditional else ""
    return (
        f"UPDATE {table} JOIN ({derived}) AS v ON {table}.{qn(columns[0].column)} = v._bulk_pk{check} "
        f"SET {assignments}"
    )


# SQLSTATE of PostgreSQL's deadlock_detected and serialization_failure, and
# MySQL/MariaDB's ER_LOCK_DEADLOCK and ER_LOCK_WAIT_TIMEOUT.
_TRANSIENT_SQLSTATES = {"40P01", "40001"}
_TRANSIENT_MYSQL_ERRORS = {1213, 1205}


def is_transient_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a deadlock or serialization failure: the transaction
    lost a race with a concurrent one and may simply be run again."""
    if not isinstance(exc, DatabaseError):
        return False
    cause = exc.__cause__ or exc
    sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if sqlstate in _TRANSIENT_SQLSTATES:
        return True
    args: tuple[Any, ...] = getattr(cause, "args", ())
    return bool(args) and args[0] in _TRANSIENT_MYSQL_ERRORS


# MySQL/MariaDB's ER_SIGNAL_EXCEPTION: a trigger's SIGNAL SQLSTATE '45000'.
_MYSQL_SIGNAL = 1644
# SQLSTATE classes of refused data: 22 data exception, 23 integrity
# constraint violation, P0 PL/pgSQL RAISE (which psycopg reports as a
# ProgrammingError).
_REFUSAL_SQLSTATE_CLASSES = {"22", "23", "P0"}


def is_refusal(exc: BaseException) -> bool:
    """Whether the database refused the data of the statement: a constraint, a
    value it cannot store, a trigger that raised.

    A lost connection, a locked database or a deadlock is not a refusal: it
    says nothing about the items, and is left to propagate.
    """
    if isinstance(exc, (IntegrityError, DataError, InternalError)):
        return True
    if not isinstance(exc, DatabaseError) or is_transient_error(exc):
        return False
    cause = exc.__cause__ or exc
    sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None) or ""
    if sqlstate[:2] in _REFUSAL_SQLSTATE_CLASSES:
        return True
    args: tuple[Any, ...] = getattr(cause, "args", ())
    return bool(args) and args[0] == _MYSQL_SIGNAL


# The write strategy ----------------------------------------------------------


def per_item_reason(
    child, action: str, validated_data: list[dict], *, save_per_item: bool | None, using: str
) -> str | None:
    """Why the items of ``child`` (a serializer) must be saved one by one, or ``None``.

    Items go in batches (``insert_rows()``, ``update_rows()``) when
    ``child`` is a ``ModelSerializer`` whose ``create()``/``update()`` is
    its own, the model has no multi-table inheritance, no item carries
    many-to-many values and the database returns the keys of bulk inserts.
    ``save_per_item`` (the view's ``get_bulk_save_per_item()``): ``True``
    always saves item by item, ``False`` batches even a model with a custom
    ``save()`` or ``pre_save``/``post_save`` receivers, ``None`` batches
    only a model without them.
    """
    model = getattr(getattr(child, "Meta", None), "model", None)
    if model is None or not isinstance(child, serializers.ModelSerializer):
        return "not a ModelSerializer"
    if getattr(type(child), action) is not getattr(serializers.ModelSerializer, action):
        return f"{type(child).__name__}.{action}() is overridden"
    if save_per_item:
        return "bulk_save_per_item"
    if save_per_item is None:
        if model.save is not models.Model.save:
            return f"{model.__name__}.save() is overridden"
        if pre_save.has_listeners(model) or post_save.has_listeners(model):
            return f"{model.__name__} has pre_save or post_save receivers"
    opts = model._meta
    if opts.concrete_model._meta.parents:
        return "multi-table inheritance"
    info = model_meta.get_field_info(model)
    to_many = {name for name, relation in info.relations.items() if relation.to_many}
    for attrs in validated_data:
        for name in attrs:
            if name in to_many:
                return f"many-to-many values ({name})"
            if action == "update":
                try:
                    field = opts.get_field(name)
                except Exception:
                    return f"{name} is not a model field"
                if not field.concrete or field.many_to_many:
                    return f"{name} is not a concrete field"
    if action == "create" and not connections[using].features.can_return_rows_from_bulk_insert:
        return "the database returns no primary keys from bulk inserts"
    return None
