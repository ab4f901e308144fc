"""The engine, driven without HTTP: ``BulkOperation(view, action, ...).run(data)``.

Views are built as the job worker builds them (``tests.direct``). The tests
read only what every caller of the engine reads: each item's ``index``,
``status``, ``pk`` and ``code``, and ``summary()``; and the rows in the
database.
"""

from __future__ import annotations

import pytest
from rest_framework.exceptions import APIException

from rest_framework_bulk.exceptions import BulkError, RequestError, TooManyItems
from rest_framework_bulk.operations import BulkOperation, narrowed

from .direct import make_view
from .factories import AccountFactory, ItemFactory, UserFactory
from .models import Book, Item, Shelf, Ticket
from .views import (
    FilteredItemViewSet,
    ItemViewSet,
    NoBulkDeleteItemViewSet,
    ShelfViewSet,
    SimpleBulkAPIView,
    TicketViewSet,
    UncheckedItemViewSet,
)

pytestmark = pytest.mark.django_db

METHODS = {
    "create": "post",
    "update": "put",
    "partial_update": "patch",
    "destroy": "delete",
    "upsert": "post",
}


def run(view_class, action, data, *, user=None, query=None, **options):
    view = make_view(view_class, METHODS[action], user=user, query=query)
    return BulkOperation(view, action, **options).run(data)


def outcome(result) -> list[tuple]:
    return [(item.index, item.status, item.code) for item in result.items]


def rows() -> list[tuple]:
    return list(Item.objects.order_by("pk").values_list("pk", "sku", "name", "quantity"))


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def account(user):
    return AccountFactory(owner=user)


def new(account, n, **fields):
    return {
        "account": account.pk,
        "sku": f"NEW-{n}",
        "ref": f"R-{n}",
        "name": f"new {n}",
        "price": "1.00",
        "quantity": n,
        **fields,
    }


# create ---------------------------------------------------------------------------


def test_create_reports_each_created_item(user, account):
    result = run(ItemViewSet, "create", [new(account, n) for n in range(3)], user=user)

    assert outcome(result) == [(0, "created", None), (1, "created", None), (2, "created", None)]
    stored = dict(Item.objects.values_list("sku", "pk"))
    assert [item.pk for item in result.items] == [stored[f"NEW-{n}"] for n in range(3)]
    summary = result.summary()
    assert summary["total_items"] == 3
    assert (summary["success_count"], summary["error_count"]) == (3, 0)
    assert summary["created_ids"] == [item.pk for item in result.items]
    assert summary["dry_run"] is False


def test_strict_create_with_an_invalid_item_raises_and_writes_nothing(user, account):
    data = [new(account, 0), new(account, 1, name="forbidden"), new(account, 2)]

    with pytest.raises(BulkError) as raised:
        run(ItemViewSet, "create", data, user=user)

    assert raised.value.status_code == 400
    assert [(e["index"], e["code"]) for e in raised.value.detail["errors"]] == [(1, "invalid")]
    assert Item.objects.count() == 0


def test_lenient_create_writes_exactly_the_reported_successes(user, account):
    ItemFactory(account=account, sku="TAKEN")
    data = [
        new(account, 0),
        new(account, 1, name="forbidden"),
        new(account, 2, sku="TAKEN"),
        new(account, 3),
        new(account, 4, sku="NEW-0"),  # claimed by item 0
    ]

    result = run(ItemViewSet, "create", data, user=user, lenient=True)

    assert outcome(result) == [
        (0, "created", None),
        (1, "invalid", "invalid"),
        (2, "invalid", "invalid"),
        (3, "created", None),
        (4, "invalid", "invalid"),
    ]
    created = {item.pk for item in result.items if item.status == "created"}
    assert set(Item.objects.exclude(sku="TAKEN").values_list("pk", flat=True)) == created
    summary = result.summary(data)
    assert (summary["success_count"], summary["error_count"]) == (2, 3)
    assert [e["index"] for e in summary["errors"]] == [1, 2, 4]
    assert summary["errors"][0]["data"] == data[1]


def test_dry_run_create_validates_and_writes_nothing(user, account):
    data = [new(account, 0), new(account, 1)]

    result = run(ItemViewSet, "create", data, user=user, dry_run=True)

    assert outcome(result) == [(0, "would_create", None), (1, "would_create", None)]
    assert Item.objects.count() == 0
    assert result.summary()["dry_run"] is True
    assert result.summary()["created_ids"] == []


def test_dry_run_still_reports_invalid_items(user, account):
    data = [new(account, 0), new(account, 1, quantity="many")]

    with pytest.raises(BulkError):
        run(ItemViewSet, "create", data, user=user, dry_run=True)
    result = run(ItemViewSet, "create", data, user=user, dry_run=True, lenient=True)

    assert outcome(result) == [(0, "would_create", None), (1, "invalid", "invalid")]
    assert Item.objects.count() == 0


def test_a_database_refusal_in_a_later_batch_undoes_the_earlier_ones(settings, user, account):
    settings.REST_FRAMEWORK_BULK = {"BATCH_SIZE": 2}
    ItemFactory(account=account, sku="TAKEN")
    before = rows()
    # No unique validation on this view: only the database sees the conflict.
    data = [new(account, n) for n in range(5)]
    data[4]["sku"] = "TAKEN"

    with pytest.raises(APIException) as raised:
        run(UncheckedItemViewSet, "create", data, user=user)

    assert raised.value.status_code == 409
    assert rows() == before


def test_a_database_refusal_fails_only_its_item_when_lenient(settings, user, account):
    settings.REST_FRAMEWORK_BULK = {"BATCH_SIZE": 2}
    ItemFactory(account=account, sku="TAKEN")
    data = [new(account, n) for n in range(5)]
    data[3]["sku"] = "TAKEN"

    result = run(UncheckedItemViewSet, "create", data, user=user, lenient=True)

    statuses = [item.status for item in result.items]
    assert statuses[:3] == ["created"] * 3 and statuses[4] == "created"
    assert result.items[3].code is not None and result.items[3].pk is None
    created = {item.pk for item in result.items if item.status == "created"}
    assert set(Item.objects.exclude(sku="TAKEN").values_list("pk", flat=True)) == created


# update and partial_update ------------------------------------------------------


def test_update_replaces_every_named_object(user, account):
    items = ItemFactory.create_batch(2, account=account)
    data = [
        {**new(account, n), "id": item.pk, "sku": item.sku, "name": f"put {n}"}
        for n, item in enumerate(items)
    ]

    result = run(ItemViewSet, "update", data, user=user)

    assert outcome(result) == [(0, "updated", None), (1, "updated", None)]
    assert [item.pk for item in result.items] == [item.pk for item in items]
    assert list(Item.objects.order_by("pk").values_list("name", flat=True)) == ["put 0", "put 1"]
    assert result.summary()["updated_ids"] == [item.pk for item in items]


def test_a_full_update_requires_every_field(user, account):
    item = ItemFactory(account=account)

    with pytest.raises(BulkError) as raised:
        run(ItemViewSet, "update", [{"id": item.pk, "name": "x"}], user=user)

    assert raised.value.detail["errors"][0]["codes"]["sku"] == ["required"]


def test_partial_update_writes_only_the_fields_sent(user, account):
    items = ItemFactory.create_batch(3, account=account, quantity=1)
    before = rows()
    data = [{"id": items[0].pk, "quantity": 7}, {"id": str(items[2].pk), "name": "renamed"}]

    result = run(ItemViewSet, "partial_update", data, user=user)

    assert outcome(result) == [(0, "updated", None), (1, "updated", None)]
    assert rows() == [
        (before[0][0], before[0][1], before[0][2], 7),
        before[1],
        (before[2][0], before[2][1], "renamed", 1),
    ]


def test_updates_find_only_what_the_view_shows(user, account):
    mine = ItemFactory(account=account)
    theirs = ItemFactory()  # another user's account
    before = rows()
    data = [{"id": mine.pk, "quantity": 5}, {"id": theirs.pk, "quantity": 5}]

    with pytest.raises(BulkError) as raised:
        run(ItemViewSet, "partial_update", data, user=user)

    assert raised.value.status_code == 400
    assert raised.value.detail["code"] == "not_found"
    assert [(e["index"], e["lookup"]) for e in raised.value.detail["errors"]] == [(1, theirs.pk)]
    assert rows() == before

    result = run(ItemViewSet, "partial_update", data, user=user, lenient=True)
    assert outcome(result) == [(0, "updated", None), (1, "not_found", "not_found")]
    assert Item.objects.get(pk=mine.pk).quantity == 5
    assert Item.objects.get(pk=theirs.pk).quantity == before[1][3]


def test_lookup_errors_are_reported_per_item(user, account):
    item = ItemFactory(account=account)
    data = [{"id": item.pk, "quantity": 2}, {"quantity": 3}, {"id": 2.5}, {"id": item.pk}, 7]

    result = run(ItemViewSet, "partial_update", data, user=user, lenient=True)

    assert outcome(result) == [
        (0, "updated", None),
        (1, "invalid", "missing_lookup"),
        (2, "invalid", "invalid_lookup"),
        (3, "invalid", "duplicate_lookup"),
        (4, "invalid", "invalid"),
    ]
    assert Item.objects.get(pk=item.pk).quantity == 2


def test_object_permissions_refuse_the_request_or_the_item(user, account):
    free = ItemFactory(account=account, name="free")
    locked = ItemFactory(account=account, name="locked item")
    before = rows()
    data = [{"id": free.pk, "quantity": 9}, {"id": locked.pk, "quantity": 9}]

    with pytest.raises(BulkError) as raised:
        run(ItemViewSet, "partial_update", data, user=user)
    assert raised.value.status_code == 403
    assert raised.value.detail["code"] == "permission_denied"
    assert rows() == before

    result = run(ItemViewSet, "partial_update", data, user=user, lenient=True)
    assert outcome(result) == [(0, "updated", None), (1, "permission_denied", "permission_denied")]
    assert dict(Item.objects.values_list("pk", "quantity")) == {free.pk: 9, locked.pk: 1}


def test_dry_run_update_writes_nothing(user, account):
    items = ItemFactory.create_batch(2, account=account)
    before = rows()

    result = run(
        ItemViewSet,
        "partial_update",
        [{"id": item.pk, "name": "x"} for item in items],
        user=user,
        dry_run=True,
    )

    assert outcome(result) == [(0, "would_update", None), (1, "would_update", None)]
    assert [item.pk for item in result.items] == [item.pk for item in items]
    assert result.summary()["updated_ids"] == [item.pk for item in items]
    assert rows() == before


def test_a_stale_version_fails_the_item(user):
    fresh, stale = Ticket.objects.create(title="a"), Ticket.objects.create(title="b")
    Ticket.objects.filter(pk=stale.pk).update(version=3)
    data = [
        {"id": fresh.pk, "title": "new", "version": 1},
        {"id": stale.pk, "title": "new", "version": 1},
    ]

    with pytest.raises(BulkError) as raised:
        run(TicketViewSet, "partial_update", data, user=user)
    assert raised.value.status_code == 409
    assert set(Ticket.objects.values_list("title", "version")) == {("a", 1), ("b", 3)}

    result = run(TicketViewSet, "partial_update", data, user=user, lenient=True)
    assert outcome(result) == [(0, "updated", None), (1, "version_conflict", "version_conflict")]
    assert dict(Ticket.objects.values_list("pk", "version")) == {fresh.pk: 2, stale.pk: 3}


# upsert ---------------------------------------------------------------------------


def test_upsert_updates_existing_keys_and_creates_the_others(user, account):
    existing = ItemFactory(account=account, sku="KEEP", name="old", quantity=1)
    data = [{"sku": "KEEP", "name": "updated"}, new(account, 1)]

    result = run(ItemViewSet, "upsert", data, user=user, upsert_field="sku")

    assert outcome(result) == [(0, "updated", None), (1, "created", None)]
    assert result.items[0].pk == existing.pk
    assert Item.objects.values_list("name", "quantity").get(pk=existing.pk) == ("updated", 1)
    assert Item.objects.get(pk=result.items[1].pk).sku == "NEW-1"


def test_upsert_never_updates_a_row_out_of_scope(user, account):
    theirs = ItemFactory(sku="THEIRS", name="theirs")

    result = run(
        ItemViewSet,
        "upsert",
        [{**new(account, 0), "sku": "THEIRS"}],
        user=user,
        upsert_field="sku",
        lenient=True,
    )

    assert result.items[0].status != "updated"
    assert result.items[0].code is not None
    assert Item.objects.get(pk=theirs.pk).name == "theirs"
    assert Item.objects.count() == 1


def test_upsert_field_goes_with_upsert_only():
    view = make_view(ItemViewSet, "post")
    with pytest.raises(AssertionError):
        BulkOperation(view, "upsert")
    with pytest.raises(AssertionError):
        BulkOperation(view, "create", upsert_field="sku")
    with pytest.raises(AssertionError):
        BulkOperation(view, "merge")


# destroy --------------------------------------------------------------------------


def test_destroy_deletes_the_named_objects(user, account):
    items = ItemFactory.create_batch(3, account=account)

    result = run(ItemViewSet, "destroy", [items[0].pk, {"id": items[2].pk}], user=user)

    assert outcome(result) == [(0, "deleted", None), (1, "deleted", None)]
    assert [item.pk for item in result.items] == [items[0].pk, items[2].pk]
    assert list(Item.objects.values_list("pk", flat=True)) == [items[1].pk]
    assert result.summary()["deleted_ids"] == [items[0].pk, items[2].pk]


def test_strict_destroy_with_a_missing_object_deletes_nothing(user, account):
    item = ItemFactory(account=account)

    with pytest.raises(BulkError) as raised:
        run(ItemViewSet, "destroy", [item.pk, item.pk + 100], user=user)

    assert raised.value.detail["errors"][0]["code"] == "not_found"
    assert Item.objects.filter(pk=item.pk).exists()


def test_lenient_destroy_deletes_exactly_the_reported(user, account):
    items = ItemFactory.create_batch(2, account=account)
    locked = ItemFactory(account=account, name="locked")
    data = [items[0].pk, locked.pk, 10**6, "x", items[1].pk]

    result = run(ItemViewSet, "destroy", data, user=user, lenient=True)

    assert outcome(result) == [
        (0, "deleted", None),
        (1, "permission_denied", "permission_denied"),
        (2, "not_found", "not_found"),
        (3, "invalid", "invalid_lookup"),
        (4, "deleted", None),
    ]
    assert list(Item.objects.values_list("pk", flat=True)) == [locked.pk]


def test_dry_run_destroy_deletes_nothing(user, account):
    items = ItemFactory.create_batch(2, account=account)

    result = run(ItemViewSet, "destroy", [i.pk for i in items], user=user, dry_run=True)

    assert outcome(result) == [(0, "would_delete", None), (1, "would_delete", None)]
    assert result.summary()["deleted_ids"] == [i.pk for i in items]
    assert Item.objects.count() == 2


def test_an_empty_list_deletes_nothing(user, account):
    ItemFactory(account=account)

    result = run(ItemViewSet, "destroy", [], user=user)

    assert result.items == []
    assert Item.objects.count() == 1


def test_a_delete_without_a_body_needs_a_narrowing_filter(user, account):
    other = AccountFactory(owner=user)
    ItemFactory.create_batch(2, account=account)
    kept = ItemFactory(account=other)

    with pytest.raises(RequestError) as raised:
        run(FilteredItemViewSet, "destroy", {}, user=user)
    assert raised.value.detail["code"] == "unfiltered_delete"
    assert Item.objects.count() == 3

    result = run(FilteredItemViewSet, "destroy", {}, user=user, query={"account": account.pk})
    assert [item.status for item in result.items] == ["deleted", "deleted"]
    assert list(Item.objects.values_list("pk", flat=True)) == [kept.pk]
    assert result.summary()["total_items"] == 2


def test_a_view_may_forbid_bulk_deletes(user, account):
    item = ItemFactory(account=account)

    with pytest.raises(RequestError) as raised:
        run(NoBulkDeleteItemViewSet, "destroy", [item.pk], user=user)

    assert raised.value.detail["code"] == "bulk_destroy_not_allowed"
    assert Item.objects.count() == 1


def test_a_protected_object_is_not_deleted(user):
    free, busy = Shelf.objects.create(name="free"), Shelf.objects.create(name="busy")
    Book.objects.create(shelf=busy, title="b")

    with pytest.raises(BulkError) as raised:
        run(ShelfViewSet, "destroy", [free.pk, busy.pk], user=user)
    assert raised.value.status_code == 409
    assert Shelf.objects.count() == 2

    result = run(ShelfViewSet, "destroy", [free.pk, busy.pk], user=user, lenient=True)
    assert outcome(result) == [(0, "deleted", None), (1, "protected", "protected")]
    assert list(Shelf.objects.values_list("pk", flat=True)) == [busy.pk]


# check_items(): the envelope -----------------------------------------------------


@pytest.mark.parametrize("action", ["create", "update", "partial_update", "destroy"])
@pytest.mark.parametrize("data", [None, "text", b"bytes", 5, {"id": 1}])
def test_anything_but_a_list_is_refused(user, action, data):
    with pytest.raises(RequestError) as raised:
        run(ItemViewSet, action, data, user=user)

    assert raised.value.status_code == 400
    assert raised.value.detail["code"] == "not_a_list"


@pytest.mark.parametrize("data", [0, False, 0.0, ""])
def test_a_falsy_body_is_not_a_delete_without_a_body(user, account, data):
    ItemFactory.create_batch(2, account=account)

    with pytest.raises(RequestError) as raised:
        run(FilteredItemViewSet, "destroy", data, user=user, query={"account": account.pk})

    assert raised.value.detail["code"] == "not_a_list"
    assert Item.objects.count() == 2


def test_an_empty_body_is_refused_for_writes_other_than_destroy(user):
    with pytest.raises(RequestError) as raised:
        run(ItemViewSet, "create", {}, user=user)

    assert raised.value.detail["code"] == "not_a_list"
    assert str(raised.value.detail["detail"]) == "Expected a list of items but got dict."


def test_too_many_items_is_refused_before_anything_runs(settings, user, account):
    settings.REST_FRAMEWORK_BULK = {"MAX_ITEMS": 2}

    with pytest.raises(TooManyItems) as raised:
        run(ItemViewSet, "create", [new(account, n) for n in range(3)], user=user)

    assert raised.value.status_code == 413
    assert Item.objects.count() == 0
    result = run(ItemViewSet, "create", [new(account, n) for n in range(2)], user=user)
    assert len(result.items) == 2


def test_a_filtered_delete_matching_too_many_is_refused(settings, user, account):
    settings.REST_FRAMEWORK_BULK = {"MAX_ITEMS": 2}
    ItemFactory.create_batch(3, account=account)

    with pytest.raises(TooManyItems):
        run(FilteredItemViewSet, "destroy", {}, user=user, query={"account": account.pk})

    assert Item.objects.count() == 3


def test_a_plain_generic_view_runs_the_engine_too():
    result = BulkOperation(make_view(SimpleBulkAPIView, "post"), "create").run(
        [{"number": 1, "contents": "a"}, {"number": 2, "contents": "b"}]
    )

    assert outcome(result) == [(0, "created", None), (1, "created", None)]


# narrowed() -----------------------------------------------------------------------


def test_narrowed_compares_where_clauses():
    queryset = Item.objects.all()

    assert narrowed(queryset, queryset) is False
    assert narrowed(queryset, queryset.all()) is False
    assert narrowed(queryset, queryset.order_by("-pk")) is False
    assert narrowed(queryset, queryset.filter(quantity=1)) is True
    assert narrowed(queryset, queryset.none()) is True
    scoped = queryset.filter(account__name="a")
    assert narrowed(scoped, scoped.filter()) is False
    assert narrowed(scoped, queryset.filter(account__name="a")) is False
    assert narrowed(scoped, queryset.filter(account__name="b")) is True
    assert narrowed(scoped, scoped.filter(quantity__gte=2)) is True
