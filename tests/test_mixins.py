"""Bulk create, update and delete through the HTTP stack: responses and rows."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.test import override_settings

from .factories import (
    AccountFactory,
    ArticleFactory,
    DocumentFactory,
    ItemFactory,
    TagFactory,
    UserFactory,
)
from .models import Article, Document, Item, Note

pytestmark = pytest.mark.django_db

ITEMS = "/api/items/"


def item_payload(account, n, **extra):
    data = {
        "account": account.pk,
        "sku": f"NEW-{n}",
        "ref": f"r{n}",
        "name": f"new {n}",
        "price": "1.50",
        "quantity": n,
    }
    data.update(extra)
    return data


def snapshot():
    return list(
        Item.objects.order_by("pk").values_list(
            "pk", "sku", "ref", "name", "quantity", "account_id"
        )
    )


def errors_by_index(response):
    body = response.json()
    return {error["index"]: error for error in body["errors"]}


# Create ---------------------------------------------------------------------


def test_create_list_returns_objects_in_order(api):
    account = AccountFactory()
    tags = TagFactory.create_batch(2)
    payload = [item_payload(account, 2, tags=[tags[0].pk, tags[1].pk]), item_payload(account, 1)]
    response = api.bulk("post", ITEMS, payload)
    assert response.status_code == 201, response.content
    body = response.json()
    assert [item["sku"] for item in body] == ["NEW-2", "NEW-1"]
    assert all(isinstance(item["id"], int) for item in body)
    created = Item.objects.get(sku="NEW-2")
    assert created.pk == body[0]["id"]
    assert sorted(created.tags.values_list("pk", flat=True)) == sorted(t.pk for t in tags)
    assert Item.objects.get(sku="NEW-1").price == Decimal("1.50")


def test_create_single_object_uses_drf_path(api):
    account = AccountFactory()
    response = api.bulk("post", ITEMS, item_payload(account, 1))
    assert response.status_code == 201
    assert response.json()["sku"] == "NEW-1"
    assert Item.objects.count() == 1


def test_create_invalid_item_writes_nothing(api):
    account = AccountFactory()
    payload = [
        item_payload(account, 1),
        {"account": account.pk, "sku": "X"},
        item_payload(account, 3, name="forbidden"),
    ]
    response = api.bulk("post", ITEMS, payload)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    errors = errors_by_index(response)
    assert set(errors) == {1, 2}
    assert errors[1]["code"] == "invalid"
    assert errors[1]["codes"]["name"] == ["required"]
    assert errors[2]["detail"] == {"name": ["This name is not allowed."]}
    assert errors[2]["codes"] == {"name": ["forbidden_name"]}
    assert Item.objects.count() == 0


def test_create_duplicates_inside_payload_are_rejected(api):
    account = AccountFactory()
    payload = [
        item_payload(account, 1),
        item_payload(account, 2, sku="NEW-1"),
        item_payload(account, 3, ref="r1"),
    ]
    response = api.bulk("post", ITEMS, payload)
    assert response.status_code == 400
    errors = errors_by_index(response)
    assert set(errors) == {1, 2}
    assert errors[1]["codes"] == {"sku": ["unique"]}
    assert errors[1]["detail"]["sku"] == ["item with this sku already exists."]
    assert errors[2]["codes"] == {"non_field_errors": ["unique"]}
    assert Item.objects.count() == 0


def test_create_conflict_with_existing_rows(api):
    existing = ItemFactory(sku="TAKEN", ref="taken")
    payload = [
        item_payload(existing.account, 1),
        item_payload(existing.account, 2, sku="TAKEN"),
        item_payload(existing.account, 3, ref="taken"),
    ]
    response = api.bulk("post", ITEMS, payload)
    assert response.status_code == 400
    errors = errors_by_index(response)
    assert errors[1]["codes"] == {"sku": ["unique"]}
    assert errors[2]["codes"] == {"non_field_errors": ["unique"]}
    assert Item.objects.count() == 1


def test_unique_constraint_checked_inside_payload_and_database(api):
    DocumentFactory(title="spec", version=1)
    payload = [
        {"title": "spec", "version": 2},
        {"title": "spec", "version": 2},
        {"title": "spec", "version": 1},
    ]
    response = api.bulk("post", "/api/documents/", payload)
    assert response.status_code == 400
    assert set(errors_by_index(response)) == {1, 2}
    assert Document.objects.count() == 1


def test_related_field_respects_its_queryset(api):
    alice, bob = UserFactory(), UserFactory()
    own, other = AccountFactory(owner=alice), AccountFactory(owner=bob)
    api.force_authenticate(alice)
    response = api.bulk("post", ITEMS, [item_payload(own, 1), item_payload(other, 2)])
    assert response.status_code == 400
    errors = errors_by_index(response)
    assert list(errors) == [1]
    assert errors[1]["codes"] == {"account": ["does_not_exist"]}
    assert Item.objects.count() == 0


def test_database_conflict_is_409_with_index(api):
    existing = ItemFactory(sku="TAKEN")
    payload = [item_payload(existing.account, 1), item_payload(existing.account, 2, sku="TAKEN")]
    response = api.bulk("post", "/api/unchecked-items/", payload)
    assert response.status_code == 409, response.content
    assert response.json()["errors"] == [
        {"index": 1, "code": "conflict", "detail": response.json()["errors"][0]["detail"]}
    ]
    assert Item.objects.count() == 1


def test_exception_in_hook_rolls_back(api):
    account = AccountFactory()
    response = api.bulk(
        "post", "/api/failing-items/", [item_payload(account, 1), item_payload(account, 2)]
    )
    assert response.status_code == 400
    assert Item.objects.count() == 0


def test_custom_save_is_called_per_item(api):
    response = api.bulk("post", "/api/notes/", [{"text": "a"}, {"text": "b"}])
    assert response.status_code == 201
    assert list(Note.objects.values_list("save_count", flat=True)) == [1, 1]
    note = Note.objects.first()
    response = api.bulk("patch", "/api/notes/", [{"id": note.pk, "text": "c"}])
    assert response.status_code == 200
    note.refresh_from_db()
    assert (note.text, note.save_count) == ("c", 2)


# Update ---------------------------------------------------------------------


def test_put_on_unique_fields_validates_each_item_against_its_instance(api):
    first, second = ItemFactory(), ItemFactory()
    payload = [
        {
            "id": second.pk,
            "account": second.account_id,
            "sku": second.sku,
            "ref": second.ref,
            "name": "two",
            "price": "2.00",
            "quantity": 2,
        },
        {
            "id": str(first.pk),
            "account": first.account_id,
            "sku": first.sku,
            "ref": first.ref,
            "name": "one",
            "price": "1.00",
            "quantity": 1,
        },
    ]
    response = api.bulk("put", ITEMS, payload)
    assert response.status_code == 200, response.content
    assert [item["id"] for item in response.json()] == [second.pk, first.pk]
    assert Item.objects.get(pk=first.pk).name == "one"
    assert Item.objects.get(pk=second.pk).quantity == 2


def test_patch_writes_only_the_fields_sent(api):
    first, second = ItemFactory(quantity=5), ItemFactory(quantity=6)
    response = api.bulk(
        "patch", ITEMS, [{"id": first.pk, "name": "renamed"}, {"id": second.pk, "quantity": 60}]
    )
    assert response.status_code == 200
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.name, first.quantity) == ("renamed", 5)
    assert second.quantity == 60 and second.name.startswith("item")


def test_patch_unique_conflict_writes_nothing(api):
    first, second = ItemFactory(), ItemFactory()
    before = snapshot()
    response = api.bulk(
        "patch", ITEMS, [{"id": first.pk, "name": "ok"}, {"id": second.pk, "sku": first.sku}]
    )
    assert response.status_code == 400
    errors = errors_by_index(response)
    assert list(errors) == [1]
    assert errors[1]["lookup"] == second.pk
    assert errors[1]["codes"] == {"sku": ["unique"]}
    assert snapshot() == before


def test_patch_unique_together_uses_instance_values(api):
    first = ItemFactory(ref="a")
    second = ItemFactory(account=first.account, ref="b")
    before = snapshot()
    response = api.bulk("patch", ITEMS, [{"id": second.pk, "ref": "a"}])
    assert response.status_code == 400
    assert errors_by_index(response)[0]["codes"] == {"non_field_errors": ["unique"]}
    assert snapshot() == before


@pytest.mark.parametrize(
    "payload, code",
    [
        ([{"name": "no id"}], "missing_lookup"),
        ([{"id": "abc", "name": "x"}], "invalid_lookup"),
        ([{"id": 999999, "name": "x"}], "not_found"),
        (["not an object"], "invalid"),
    ],
)
def test_update_lookup_errors(api, payload, code):
    item = ItemFactory()
    before = snapshot()
    response = api.bulk("patch", ITEMS, [{"id": item.pk, "name": "changed"}, *payload])
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code
    assert [error["index"] for error in body["errors"]] == [1]
    assert snapshot() == before


def test_update_same_object_twice_is_rejected(api):
    item = ItemFactory()
    before = snapshot()
    response = api.bulk(
        "patch", ITEMS, [{"id": item.pk, "name": "a"}, {"id": item.pk, "name": "b"}]
    )
    assert response.status_code == 400
    error = errors_by_index(response)[1]
    assert (error["code"], error["lookup"]) == ("duplicate_lookup", item.pk)
    assert snapshot() == before


def test_update_out_of_scope_object_is_not_found(api):
    alice, bob = UserFactory(), UserFactory()
    own = ItemFactory(account=AccountFactory(owner=alice))
    other = ItemFactory(account=AccountFactory(owner=bob))
    api.force_authenticate(alice)
    before = snapshot()
    response = api.bulk(
        "patch", ITEMS, [{"id": own.pk, "name": "x"}, {"id": other.pk, "name": "stolen"}]
    )
    assert response.status_code == 400
    error = errors_by_index(response)[1]
    assert (error["code"], error["lookup"]) == ("not_found", other.pk)
    assert snapshot() == before


def test_update_checks_object_permissions(api):
    api.force_authenticate(UserFactory(is_staff=True))
    free = ItemFactory()
    locked = ItemFactory(name="locked one")
    before = snapshot()
    response = api.bulk(
        "patch", ITEMS, [{"id": free.pk, "quantity": 3}, {"id": locked.pk, "quantity": 4}]
    )
    assert response.status_code == 403
    error = errors_by_index(response)[1]
    assert (error["code"], error["lookup"], error["detail"]) == (
        "permission_denied",
        locked.pk,
        "This item is locked.",
    )
    assert snapshot() == before


def test_uuid_lookup(api):
    document = DocumentFactory(title="a")
    response = api.bulk("patch", "/api/documents/", [{"id": str(document.pk), "body": "text"}])
    assert response.status_code == 200
    assert response.json()[0]["id"] == str(document.pk)
    document.refresh_from_db()
    assert document.body == "text"
    response = api.bulk("patch", "/api/documents/", [{"id": str(uuid.uuid4()), "body": "x"}])
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "not_found"


def test_slug_lookup(api):
    first, second = ArticleFactory(), ArticleFactory()
    response = api.bulk(
        "put",
        "/api/articles/",
        [
            {"slug": second.slug, "title": "Second", "views": 2},
            {"slug": first.slug, "title": "First", "views": 1},
        ],
    )
    assert response.status_code == 200, response.content
    assert [a["slug"] for a in response.json()] == [second.slug, first.slug]
    assert dict(Article.objects.values_list("slug", "views")) == {first.slug: 1, second.slug: 2}


def test_update_body_must_be_a_list(api):
    item = ItemFactory()
    response = api.bulk("patch", ITEMS, {"id": item.pk, "name": "x"})
    assert response.status_code == 400
    assert response.json()["code"] == "not_a_list"


# Delete ---------------------------------------------------------------------


def test_unfiltered_delete_with_django_filter_is_refused(api):
    ItemFactory.create_batch(3)
    response = api.bulk("delete", "/api/filtered-items/")
    assert response.status_code == 400
    assert response.json()["code"] == "unfiltered_delete"
    assert "narrow" in response.json()["detail"]
    assert Item.objects.count() == 3


def test_filtered_delete_with_django_filter(api):
    keep = ItemFactory()
    doomed = ItemFactory.create_batch(2, account=AccountFactory())
    response = api.delete(f"/api/filtered-items/?account={doomed[0].account_id}")
    assert response.status_code == 204
    assert list(Item.objects.values_list("pk", flat=True)) == [keep.pk]


@pytest.mark.parametrize("shape", ["scalars", "objects"])
def test_delete_by_ids_in_body(api, shape):
    items = ItemFactory.create_batch(3)
    ids = [items[0].pk, items[2].pk]
    body = ids if shape == "scalars" else [{"id": pk} for pk in ids]
    response = api.bulk("delete", ITEMS, body)
    assert response.status_code == 204
    assert list(Item.objects.values_list("pk", flat=True)) == [items[1].pk]


def test_delete_unknown_id_deletes_nothing(api):
    items = ItemFactory.create_batch(2)
    response = api.bulk("delete", ITEMS, [items[0].pk, 999999])
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["index"], error["code"], error["lookup"]) == (1, "not_found", 999999)
    assert Item.objects.count() == 2


def test_delete_checks_object_permissions(api):
    api.force_authenticate(UserFactory(is_staff=True))
    free, locked = ItemFactory(), ItemFactory(name="locked")
    response = api.bulk("delete", ITEMS, [free.pk, locked.pk])
    assert response.status_code == 403
    assert response.json()["errors"][0]["index"] == 1
    assert Item.objects.count() == 2


def test_filtered_delete_checks_object_permissions(api):
    api.force_authenticate(UserFactory(is_staff=True))
    account = AccountFactory()
    ItemFactory(account=account)
    ItemFactory(account=account, name="locked")
    response = api.delete(f"/api/filtered-items/?account={account.pk}")
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "permission_denied"
    assert Item.objects.count() == 2


def test_delete_out_of_scope_is_not_found(api):
    alice, bob = UserFactory(), UserFactory()
    other = ItemFactory(account=AccountFactory(owner=bob))
    api.force_authenticate(alice)
    response = api.bulk("delete", ITEMS, [other.pk])
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "not_found"
    assert Item.objects.filter(pk=other.pk).exists()


# Limits and preferences -----------------------------------------------------


@override_settings(REST_FRAMEWORK_BULK={"MAX_ITEMS": 2})
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_max_items_on_every_verb(api, method):
    items = ItemFactory.create_batch(3)
    before = snapshot()
    body = (
        [{"id": item.pk, "name": "x"} for item in items]
        if method != "post"
        else [item_payload(items[0].account, n) for n in range(3)]
    )
    response = api.bulk(method, ITEMS, body)
    assert response.status_code == 413
    assert response.json()["code"] == "too_many_items"
    assert "at most 2" in response.json()["detail"]
    assert snapshot() == before


@override_settings(REST_FRAMEWORK_BULK={"MAX_ITEMS": 2})
def test_max_items_on_filtered_delete(api):
    account = AccountFactory()
    ItemFactory.create_batch(3, account=account)
    response = api.delete(f"/api/filtered-items/?account={account.pk}")
    assert response.status_code == 413
    assert Item.objects.count() == 3


def test_prefer_return_minimal(api):
    account = AccountFactory()
    response = api.bulk(
        "post",
        ITEMS,
        [item_payload(account, 1), item_payload(account, 2)],
        HTTP_PREFER="return=minimal",
    )
    assert response.status_code == 201
    assert response["Preference-Applied"] == "return=minimal"
    body = response.json()
    assert body["success_count"] == 2
    assert sorted(body["created_ids"]) == sorted(Item.objects.values_list("pk", flat=True))


def test_prefer_lenient_writes_exactly_the_valid_items(api):
    existing = ItemFactory(sku="TAKEN")
    payload = [item_payload(existing.account, 1), item_payload(existing.account, 2, sku="TAKEN")]
    response = api.bulk("post", ITEMS, payload, HTTP_PREFER="handling=lenient")
    assert response.status_code == 207
    body = response.json()
    assert body["success_count"] == 1 and body["error_count"] == 1
    assert [item["status"] for item in body["items"]] == ["created", "invalid"]
    assert body["errors"][0]["index"] == 1
    assert set(Item.objects.values_list("pk", flat=True)) == {existing.pk, *body["created_ids"]}


def test_prefer_lenient_database_conflict(api):
    existing = ItemFactory(sku="TAKEN")
    payload = [
        item_payload(existing.account, 1),
        item_payload(existing.account, 2, sku="TAKEN"),
        item_payload(existing.account, 3),
    ]
    response = api.bulk("post", "/api/unchecked-items/", payload, HTTP_PREFER="handling=lenient")
    assert response.status_code == 207
    body = response.json()
    assert [item["status"] for item in body["items"]] == ["created", "conflict", "created"]
    assert sorted(Item.objects.exclude(pk=existing.pk).values_list("sku", flat=True)) == [
        "NEW-1",
        "NEW-3",
    ]


def test_plain_serializer_gets_bulk_writes(api):
    account = AccountFactory()
    response = api.bulk(
        "post", "/api/plain-items/", [item_payload(account, 1), item_payload(account, 2)]
    )
    assert response.status_code == 201, response.content
    assert [item["sku"] for item in response.json()] == ["NEW-1", "NEW-2"]
    first = Item.objects.get(sku="NEW-1")
    response = api.bulk("patch", "/api/plain-items/", [{"id": first.pk, "name": "plain"}])
    assert response.status_code == 200, response.content
    first.refresh_from_db()
    assert first.name == "plain"
    response = api.bulk(
        "post",
        "/api/plain-items/",
        [item_payload(account, 3), item_payload(account, 4, sku="NEW-3")],
    )
    assert response.status_code == 400
    assert Item.objects.count() == 2


def test_delete_works_with_select_related_querysets(api, monkeypatch):
    """Without object permissions a delete reads keys only, even from a joined queryset."""
    from .views import FilteredItemViewSet

    items = ItemFactory.create_batch(2)
    monkeypatch.setattr(FilteredItemViewSet, "permission_classes", [])
    monkeypatch.setattr(
        FilteredItemViewSet, "get_queryset", lambda self: Item.objects.select_related("account")
    )
    response = api.bulk("delete", "/api/filtered-items/", [items[0].pk])
    assert response.status_code == 204
    assert list(Item.objects.values_list("pk", flat=True)) == [items[1].pk]
    response = api.delete(f"/api/filtered-items/?account={items[1].account_id}")
    assert response.status_code == 204
    assert Item.objects.count() == 0
