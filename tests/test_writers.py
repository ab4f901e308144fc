"""Batched writes and the database errors they meet: ``rest_framework_bulk.writers``.

The statements are read back as the database received them; the errors are
real ones, provoked on the database the suite runs on.
"""

from __future__ import annotations

import decimal
import sqlite3
import threading
import uuid

import pytest
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.db.models.signals import post_init, pre_init
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIRequestFactory

from rest_framework_bulk.exceptions import RequestError, as_api_exception
from rest_framework_bulk.generics import ListBulkCreateUpdateDestroyAPIView
from rest_framework_bulk.versions import StaleVersion
from rest_framework_bulk.writers import (
    InstanceBuilder,
    insert_rows,
    is_refusal,
    is_transient_error,
    max_params,
    update_rows,
)

from .factories import AccountFactory, DocumentFactory, ItemFactory
from .models import Account, Document, Item, Ticket
from .serializers import ItemSerializer

pytestmark = pytest.mark.django_db

VENDOR = connection.vendor
ITEM = Item._meta
TICKET = Ticket._meta


def fields(meta, *names):
    return [meta.get_field(name) for name in names]


def updates(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().startswith("UPDATE")]


# max_params() -------------------------------------------------------------------


def test_max_params_is_the_backend_limit_or_a_safe_default():
    if connection.features.max_query_params:
        assert max_params(connection) == connection.features.max_query_params
    else:
        assert max_params(connection) == 65_000


# insert_rows() --------------------------------------------------------------------


def test_insert_rows_of_nothing_sends_nothing(django_assert_num_queries):
    objs: list = []
    with django_assert_num_queries(0):
        assert insert_rows(Item, objs, 10, "default") is objs


def test_insert_rows_writes_in_batches_and_sets_primary_keys():
    account = AccountFactory()
    objs = [Item(account=account, sku=f"S{n}", ref=f"R{n}", name="n") for n in range(5)]

    with CaptureQueriesContext(connection) as captured:
        written = insert_rows(Item, objs, 2, "default")

    inserts = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 3
    assert written == objs
    if connection.features.can_return_rows_from_bulk_insert:
        assert all(obj.pk is not None for obj in objs)
        assert sorted(Item.objects.values_list("pk", flat=True)) == sorted(o.pk for o in objs)
    assert sorted(Item.objects.values_list("sku", flat=True)) == [f"S{n}" for n in range(5)]


def test_insert_rows_goes_through_the_base_manager():
    # Task's default manager hides soft-deleted rows; writes must not care.
    from .models import Task

    objs = [Task(title="gone", deleted_at=timezone.now())]
    insert_rows(Task, objs, 10, "default")

    assert Task.all_objects.filter(title="gone").count() == 1
    assert Task.objects.filter(title="gone").count() == 0


def test_insert_rows_propagates_a_unique_violation():
    ItemFactory(sku="TAKEN")
    account = AccountFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(Item, [Item(account=account, sku="TAKEN", ref="r", name="n")], 10, "default")


# InstanceBuilder -----------------------------------------------------------------


def state(obj) -> tuple:
    """What ``Model.__init__()`` leaves on an instance, ``_state`` read out."""
    values = {key: value for key, value in vars(obj).items() if key != "_state"}
    return list(values.items()), vars(obj._state), list(vars(obj))


@pytest.mark.parametrize(
    "attrs",
    [
        {"sku": "S", "ref": "R", "name": "n", "price": decimal.Decimal("2.50"), "quantity": 3},
        {"sku": "S", "ref": "R", "name": "n"},  # price and quantity from their defaults
        {},
    ],
)
@pytest.mark.parametrize("relation", ["object", "id", "none"])
def test_instance_builder_builds_what_the_model_would(attrs, relation):
    account = AccountFactory()
    if relation == "object":
        attrs = {**attrs, "account": account}
    elif relation == "id":
        attrs = {**attrs, "account_id": account.pk}

    build = InstanceBuilder(Item, "default")
    built = build(dict(attrs))
    expected = Item(**attrs)
    if relation == "object":
        # Set by its column: nothing cached for bulk_create() to check...
        assert "account" not in built._state.fields_cache
        assert built._state.db is None
        del expected._state.db  # set by the relation's descriptor, and again by the insert
    build.finish()

    assert type(built) is Item
    assert state(built) == state(expected)
    if relation == "object":
        assert built.account is account  # ...and cached once inserted, as Django does


def test_instance_builder_objects_insert_as_the_model_s_own():
    account = AccountFactory()
    build = InstanceBuilder(Item, "default")
    objs = [
        build({"account": account, "sku": f"S{n}", "ref": f"R{n}", "name": "n"}) for n in range(3)
    ]

    with CaptureQueriesContext(connection) as captured:
        insert_rows(Item, objs, 10, "default")

    build.finish()

    [insert] = [q["sql"] for q in captured.captured_queries]
    assert insert.startswith("INSERT")
    assert all(obj.account is account and obj._state.db == "default" for obj in objs)
    rows = Item.objects.order_by("sku").values_list("account_id", "sku", "price", "quantity")
    assert list(rows) == [(account.pk, f"S{n}", decimal.Decimal("0.00"), 0) for n in range(3)]
    assert all(obj.updated_at is not None for obj in objs)  # auto_now, set by the insert


def test_instance_builder_leaves_other_keys_to_the_model():
    build = InstanceBuilder(Account, "default")

    with pytest.raises(TypeError) as own:
        Account(name="a", nope=1)
    with pytest.raises(TypeError) as built:
        build({"name": "a", "nope": 1})

    assert str(built.value) == str(own.value)


def test_instance_builder_keeps_no_link_for_an_item_the_model_builds():
    account = AccountFactory()
    builder = InstanceBuilder(Item, "default")

    with pytest.raises(TypeError):
        builder({"account": account, "sku": "S", "nope": 1})
    assert builder.cached == []

    built = builder({"account": account, "sku": "S", "ref": "R"})
    builder.finish()
    assert built._state.fields_cache == {"account": account}
    assert builder.cached == []


def unsaved_account():
    return Account(name="unsaved")


def account_of_another_database():
    account = AccountFactory()
    account._state.db = "other"
    return account


@pytest.mark.parametrize("make", [unsaved_account, account_of_another_database])
def test_instance_builder_sets_other_related_objects_through_their_relation(make):
    account = make()
    built = InstanceBuilder(Item, "default")({"account": account, "sku": "S", "ref": "R"})

    assert built._state.fields_cache["account"] is account
    assert vars(built._state) == vars(Item(account=account, sku="S", ref="R")._state)


def test_instance_builder_asks_the_routers_when_there_are_some(settings):
    settings.DATABASE_ROUTERS = ["tests.test_writers.RefusingRouter"]
    account = AccountFactory()

    with pytest.raises(ValueError, match="router prevents this relation") as own:
        Item(account=account)
    with pytest.raises(ValueError, match="router prevents this relation") as built:
        InstanceBuilder(Item, "default")({"account": account})

    assert str(built.value) == str(own.value)


class RefusingRouter:
    def allow_relation(self, obj1, obj2, **hints):
        return False


def test_an_unsaved_related_object_is_refused_by_the_insert_as_django_refuses_it():
    account = unsaved_account()
    built = InstanceBuilder(Item, "default")({"account": account, "sku": "S", "ref": "R"})

    with pytest.raises(ValueError) as own:
        Item.objects.bulk_create([Item(account=account, sku="T", ref="T")])
    with pytest.raises(ValueError) as refused:
        insert_rows(Item, [built], 10, "default")

    assert str(refused.value) == str(own.value)
    assert not Item.objects.exists()


@pytest.mark.parametrize("signal", [pre_init, post_init])
def test_instance_builder_sends_init_signals_when_anyone_listens(signal):
    seen = []

    def receiver(sender, **kwargs):
        seen.append(sender)

    signal.connect(receiver, sender=Account)
    try:
        build = InstanceBuilder(Account, "default")
        obj = build({"name": "a"})
    finally:
        signal.disconnect(receiver, sender=Account)

    assert seen == [Account]
    assert obj.name == "a"


# update_rows() --------------------------------------------------------------------


def test_update_rows_of_nothing_sends_nothing(django_assert_num_queries):
    item = ItemFactory()
    with django_assert_num_queries(0):
        assert update_rows(Item, [], fields(ITEM, "name"), 10, "default") == 0
        assert update_rows(Item, [item], [], 10, "default") == 0


def test_update_rows_sends_one_update_per_batch(django_assert_num_queries):
    items = ItemFactory.create_batch(5, quantity=1)
    bystander = ItemFactory(quantity=1, name="untouched")
    for n, item in enumerate(items):
        item.quantity = 10 + n
        item.name = f"renamed {n}"

    with django_assert_num_queries(3) as captured:
        count = update_rows(Item, items, fields(ITEM, "quantity", "name"), 2, "default")

    assert count == 5
    assert len(updates(captured)) == 3
    assert list(Item.objects.order_by("pk").values_list("quantity", "name")) == [
        *[(10 + n, f"renamed {n}") for n in range(5)],
        (1, "untouched"),
    ]
    bystander.refresh_from_db()
    assert bystander.quantity == 1


def test_update_rows_writes_only_the_fields_named():
    item = ItemFactory(name="before", quantity=1)
    item.name = "after"
    item.quantity = 99  # set on the object but not named: not written

    update_rows(Item, [item], fields(ITEM, "name"), 10, "default")

    assert Item.objects.values_list("name", "quantity").get(pk=item.pk) == ("after", 1)


def test_update_rows_uses_the_vendor_statement():
    items = ItemFactory.create_batch(2)
    for item in items:
        item.name = "x"

    with CaptureQueriesContext(connection) as captured:
        update_rows(Item, items, fields(ITEM, "name"), 10, "default")

    [sql] = updates(captured)
    if VENDOR == "postgresql":
        assert "FROM (VALUES (" in sql
        assert "AS v(_bulk_pk, _bulk_1)" in sql
        assert '"tests_item"."id" IN (' in sql  # lets the planner use the pk index
    elif VENDOR == "sqlite":
        assert "FROM (VALUES (" in sql
        assert "= v.column1" in sql
    elif VENDOR == "mysql":
        assert "JOIN (SELECT " in sql
        assert " UNION ALL SELECT " in sql
        assert "AS _bulk_pk" in sql
    assert "CASE WHEN" not in sql  # not Django's bulk_update()


def test_update_rows_batches_fit_the_parameter_limit():
    # Three values per row (pk, quantity, name): one row more than a statement
    # may carry on this database (SQLite's limit depends on its build and on
    # the Django version) needs a second statement.
    rows_per_statement = (max_params(connection) - 10) // 3
    count = rows_per_statement + 1
    account = AccountFactory()
    Item.objects.bulk_create(
        [Item(account=account, sku=f"S{n}", ref=f"R{n}", name="n") for n in range(count)],
        batch_size=500,
    )
    items = list(Item.objects.all())
    for item in items:
        item.quantity = 3
        item.name = "bulk"

    with CaptureQueriesContext(connection) as captured:
        update_rows(Item, items, fields(ITEM, "quantity", "name"), 10**6, "default")

    assert len(updates(captured)) == 2
    assert set(Item.objects.values_list("quantity", "name")) == {(3, "bulk")}


def test_update_rows_keeps_every_column_type():
    """Casts on PostgreSQL's VALUES list: a FK, a decimal, a timestamp, a UUID pk."""
    other = AccountFactory()
    item = ItemFactory(price="1.00")
    when = timezone.now().replace(microsecond=0) - timezone.timedelta(days=3)
    item.account = other
    item.price = decimal.Decimal("12.34")
    item.updated_at = when
    docs = DocumentFactory.create_batch(2)
    for n, doc in enumerate(docs):
        doc.title = f"title {n}"
        doc.version = 5

    update_rows(Item, [item], fields(ITEM, "account", "price", "updated_at"), 10, "default")
    update_rows(Document, docs, fields(Document._meta, "title", "version"), 10, "default")

    stored = Item.objects.get(pk=item.pk)
    assert (stored.account_id, stored.price, stored.updated_at) == (other.pk, item.price, when)
    assert sorted(Document.objects.values_list("title", "version")) == [
        ("title 0", 5),
        ("title 1", 5),
    ]
    assert isinstance(docs[0].pk, uuid.UUID)


def test_update_rows_propagates_a_unique_violation():
    first, second = ItemFactory.create_batch(2)
    second.sku = first.sku

    with pytest.raises(IntegrityError), transaction.atomic():
        update_rows(Item, [second], fields(ITEM, "sku"), 10, "default")


# update_rows() with a version condition ------------------------------------------


def versioned(count):
    tickets = [Ticket.objects.create(title=f"t{n}") for n in range(count)]
    expected = {t.pk: t.version for t in tickets}
    for ticket in tickets:
        ticket.title = "new"
        ticket.version += 1
    return tickets, expected


def test_update_rows_with_a_version_condition_writes_fresh_rows(django_assert_num_queries):
    tickets, expected = versioned(3)

    with django_assert_num_queries(2) as captured:
        count = update_rows(
            Ticket,
            tickets,
            fields(TICKET, "title", "version"),
            2,
            "default",
            condition=(TICKET.get_field("version"), expected),
        )

    assert count == 3
    assert set(Ticket.objects.values_list("title", "version")) == {("new", 2)}
    sql = updates(captured)[0]
    if VENDOR == "postgresql":
        assert "IS NOT DISTINCT FROM v._bulk_expected" in sql
    elif VENDOR == "sqlite":
        assert '"tests_ticket"."version" IS v.column4' in sql
    elif VENDOR == "mysql":
        assert "<=> v._bulk_expected" in sql


def test_update_rows_with_a_stale_version_raises_with_the_batch():
    tickets, expected = versioned(4)
    Ticket.objects.filter(pk=tickets[2].pk).update(version=9)

    with pytest.raises(StaleVersion) as raised:
        update_rows(
            Ticket,
            tickets,
            fields(TICKET, "title", "version"),
            2,
            "default",
            condition=(TICKET.get_field("version"), expected),
        )

    # The first batch went through; the second named a stale row, and its
    # fresh row was written by the same statement (the caller rolls back).
    assert [t.pk for t in raised.value.objects] == [tickets[2].pk, tickets[3].pk]
    stored = dict(Ticket.objects.values_list("pk", "version"))
    assert stored[tickets[0].pk] == 2
    assert stored[tickets[2].pk] == 9  # not overwritten


def test_update_rows_condition_counts_rows_even_when_nothing_changes():
    """MySQL reports changed rows unless asked for matched ones: a no-op write is not stale."""
    ticket = Ticket.objects.create(title="same")

    count = update_rows(
        Ticket,
        [ticket],
        fields(TICKET, "title"),
        10,
        "default",
        condition=(TICKET.get_field("version"), {ticket.pk: ticket.version}),
    )

    assert count == 1


# is_refusal() and is_transient_error() on real errors -------------------------------


def provoke(sql_or_callable):
    """The Django database error that running ``sql_or_callable`` raises."""
    with pytest.raises(DatabaseError) as raised, transaction.atomic():
        if callable(sql_or_callable):
            sql_or_callable()
        else:
            with connection.cursor() as cursor:
                cursor.execute(sql_or_callable)
    return raised.value


def test_a_unique_violation_is_a_refusal():
    ItemFactory(sku="TAKEN")
    account = AccountFactory()

    exc = provoke(lambda: Item.objects.create(account=account, sku="TAKEN", ref="r", name="n"))

    assert isinstance(exc, IntegrityError)
    assert is_refusal(exc)
    assert not is_transient_error(exc)


def test_a_value_the_column_cannot_hold_is_a_refusal():
    # PositiveIntegerField: a CHECK constraint on SQLite and PostgreSQL, an
    # UNSIGNED column on MariaDB (a DataError in strict mode).
    exc = provoke(lambda: Ticket.objects.create(title="t", version=-1))

    assert isinstance(exc, (IntegrityError, DataError))
    assert is_refusal(exc)
    assert not is_transient_error(exc)


@pytest.mark.skipif(VENDOR == "sqlite", reason="SQLite stores text of any length")
def test_too_long_a_text_is_a_data_error_and_a_refusal():
    account = AccountFactory()

    exc = provoke(lambda: Item.objects.create(account=account, sku="x" * 33, ref="r", name="n"))

    assert isinstance(exc, DataError)
    assert is_refusal(exc)
    answer = as_api_exception(exc)
    assert isinstance(answer, RequestError)
    assert answer.detail["code"] == "invalid_value"


TRIGGERS = {
    "postgresql": [
        """CREATE FUNCTION refuse_ticket() RETURNS trigger AS $$
        BEGIN
            IF NEW.title = 'refused' THEN RAISE EXCEPTION 'refused'; END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER refuse_ticket BEFORE INSERT ON tests_ticket
        FOR EACH ROW EXECUTE FUNCTION refuse_ticket()""",
    ],
    "sqlite": [
        """CREATE TRIGGER refuse_ticket BEFORE INSERT ON tests_ticket
        WHEN NEW.title = 'refused' BEGIN SELECT RAISE(ABORT, 'refused'); END"""
    ],
}


def test_a_trigger_that_refuses_the_data_is_a_refusal():
    if VENDOR == "mysql":
        # A trigger's SIGNAL, sent on its own: DDL would end the test's
        # transaction on MariaDB.
        exc = provoke("SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'")
    else:
        with connection.cursor() as cursor:  # rolled back with the test
            for sql in TRIGGERS[VENDOR]:
                cursor.execute(sql)
        Ticket.objects.create(title="accepted")
        exc = provoke(lambda: Ticket.objects.create(title="refused"))

    assert "refused" in str(exc)
    assert is_refusal(exc)
    assert not is_transient_error(exc)


def test_a_syntax_error_is_not_a_refusal():
    exc = provoke("SELEC 1")

    assert not is_refusal(exc)
    assert not is_transient_error(exc)


def test_other_exceptions_are_neither():
    for exc in (ValueError("x"), RuntimeError(), StaleVersion([])):
        assert not is_refusal(exc)
        assert not is_transient_error(exc)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(VENDOR != "sqlite", reason="only SQLite locks the whole database")
def test_a_locked_database_is_neither_a_refusal_nor_transient():
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 0")
        with pytest.raises(OperationalError) as raised:
            Ticket.objects.create(title="t")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        connection.close()

    assert "locked" in str(raised.value)
    assert not is_refusal(raised.value)
    assert not is_transient_error(raised.value)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(VENDOR == "sqlite", reason="SQLite locks the whole database: no deadlocks")
def test_a_deadlock_is_transient_and_not_a_refusal():
    first, second = Ticket.objects.create(title="a"), Ticket.objects.create(title="b")
    both_locked_one = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def lock(one, other):
        try:
            with transaction.atomic():
                list(Ticket.objects.select_for_update().filter(pk=one.pk))
                both_locked_one.wait()
                list(Ticket.objects.select_for_update().filter(pk=other.pk))
        except DatabaseError as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=lock, args=(first, second)),
        threading.Thread(target=lock, args=(second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # The database picks one victim; the other transaction then goes on.
    [exc] = errors
    assert is_transient_error(exc)
    assert not is_refusal(exc)


class ItemsView(ListBulkCreateUpdateDestroyAPIView):
    queryset = Item.objects.all()
    serializer_class = ItemSerializer
    authentication_classes = []
    permission_classes = []
    #: What ``perform_bulk_create()`` read of each object's account, and the queries that took.
    read: list = []

    def perform_bulk_create(self, serializer):
        super().perform_bulk_create(serializer)
        with CaptureQueriesContext(connection) as captured:
            names = [obj.account.name for obj in serializer.instance]
        ItemsView.read = [names, len(captured.captured_queries)]


def test_a_bulk_create_caches_each_account_for_the_hooks_after_it():
    accounts = [AccountFactory(), AccountFactory()]
    items = [
        {"account": accounts[n % 2].pk, "sku": f"S{n}", "ref": f"R{n}", "name": "n"}
        for n in range(6)
    ]
    request = APIRequestFactory().post("/", items, format="json")

    response = ItemsView.as_view()(request)

    assert response.status_code == 201, response.data
    assert [item["account"] for item in response.data] == [accounts[n % 2].pk for n in range(6)]
    assert ItemsView.read == [[accounts[n % 2].name for n in range(6)], 0]
    rows = Item.objects.order_by("sku").values_list("sku", "account_id")
    assert list(rows) == [(f"S{n}", accounts[n % 2].pk) for n in range(6)]
