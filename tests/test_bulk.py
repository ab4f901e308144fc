"""The /bulk/ endpoint through the HTTP stack: JSON and CSV, results and rows."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from rest_framework.test import APIClient

from .factories import AccountFactory, ItemFactory, UserFactory
from .models import Item

pytestmark = pytest.mark.django_db

BULK = "/v2/items/bulk/"


def snapshot():
    return list(
        Item.objects.order_by("pk").values_list("pk", "sku", "name", "quantity", "account_id")
    )


def csv_body(rows):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows(rows)
    return out.getvalue()


# Retrieve -------------------------------------------------------------------


def test_retrieve_by_ids_keeps_order_and_reports_missing(api):
    first, second = ItemFactory(), ItemFactory()
    response = api.get(f"{BULK}?ids={second.pk},999999,{first.pk}")
    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["results"]] == [second.pk, first.pk]
    assert body["not_found"] == [999999]
    assert body["count"] == 2 and body["is_async"] is False


def test_retrieve_hides_objects_out_of_scope(api):
    alice, bob = UserFactory(), UserFactory()
    own = ItemFactory(account=AccountFactory(owner=alice))
    other = ItemFactory(account=AccountFactory(owner=bob))
    api.force_authenticate(alice)
    body = api.get(f"{BULK}?ids={own.pk},{other.pk}").json()
    assert [item["id"] for item in body["results"]] == [own.pk]
    assert body["not_found"] == [other.pk]


def test_retrieve_invalid_id_is_400(api):
    response = api.get(f"{BULK}?ids=1,abc")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_lookup"


def test_retrieve_with_allowed_filters_in_query_and_body(api):
    account = AccountFactory()
    small = ItemFactory(account=account, quantity=1)
    big = ItemFactory(account=account, quantity=100)
    ItemFactory(quantity=100)
    response = api.get(f"{BULK}?quantity__gte=50&account={account.pk}")
    assert [item["id"] for item in response.json()["results"]] == [big.pk]
    response = api.generic(
        "GET",
        BULK,
        json.dumps({"filters": {"quantity": {"lte": 50}, "account": account.pk}}),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [small.pk]


@pytest.mark.parametrize(
    "query",
    [
        "sku=SKU-1",
        "quantity__in=1,2",
        "account__owner__password__startswith=pbkdf2",
        "account__name=x",
    ],
)
def test_filters_outside_the_allow_list_are_refused(api, query):
    ItemFactory()
    response = api.get(f"{BULK}?{query}")
    assert response.status_code == 400
    field = query.split("=")[0]
    body = response.json()
    assert body["code"] == "filter_not_allowed"
    assert "not allowed" in body["fields"][field][0]
    assert body["codes"][field] == ["filter_not_allowed"]


def test_body_filters_outside_the_allow_list_are_refused(api):
    ItemFactory()
    response = api.generic(
        "GET",
        BULK,
        '{"filters": {"account__owner__password": {"startswith": "pbkdf2"}}}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "not allowed" in str(response.json())


# Writes in JSON ---------------------------------------------------------------


def test_create_json_summary(api):
    account = AccountFactory()
    payload = [
        {"account": account.pk, "sku": f"N{i}", "ref": f"r{i}", "name": "n"} for i in range(3)
    ]
    response = api.bulk("post", BULK, payload)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["total_items"], body["success_count"], body["error_count"]) == (3, 3, 0)
    assert sorted(body["created_ids"]) == sorted(Item.objects.values_list("pk", flat=True))
    assert [item["status"] for item in body["items"]] == ["created"] * 3


@pytest.mark.parametrize(
    "method, status_word", [("put", "updated"), ("patch", "updated"), ("delete", "deleted")]
)
def test_update_and_delete_json(api, method, status_word):
    items = ItemFactory.create_batch(2)
    if method == "put":
        body = [
            {
                "id": i.pk,
                "account": i.account_id,
                "sku": i.sku,
                "ref": i.ref,
                "name": "put",
                "price": "1.00",
                "quantity": 3,
            }
            for i in items
        ]
    elif method == "patch":
        body = [{"id": i.pk, "name": "patched"} for i in items]
    else:
        body = [i.pk for i in items]
    response = api.bulk(method, BULK, body)
    assert response.status_code == 200, response.content
    result = response.json()
    assert result["success_count"] == 2
    assert [item["status"] for item in result["items"]] == [status_word] * 2
    if method == "delete":
        assert Item.objects.count() == 0
        assert sorted(result["deleted_ids"]) == sorted(i.pk for i in items)
    else:
        assert set(Item.objects.values_list("name", flat=True)) == {
            "put" if method == "put" else "patched"
        }


def test_strict_failure_writes_nothing(api):
    items = ItemFactory.create_batch(2)
    before = snapshot()
    response = api.bulk(
        "patch", BULK, [{"id": items[0].pk, "name": "x"}, {"id": items[1].pk, "quantity": "many"}]
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["index"] == 1
    assert snapshot() == before


def test_write_out_of_scope_is_refused(api):
    alice, bob = UserFactory(), UserFactory()
    other = ItemFactory(account=AccountFactory(owner=bob))
    api.force_authenticate(alice)
    before = snapshot()
    for method, body in (("patch", [{"id": other.pk, "name": "stolen"}]), ("delete", [other.pk])):
        response = api.bulk(method, BULK, body)
        assert response.status_code == 400
        assert response.json()["errors"][0]["code"] == "not_found"
    assert snapshot() == before


def test_lenient_partial_success_is_207(api):
    items = ItemFactory.create_batch(2)
    response = api.bulk(
        "patch",
        BULK,
        [
            {"id": items[0].pk, "name": "ok"},
            {"id": items[1].pk, "quantity": "many"},
            {"id": 999999, "name": "x"},
        ],
        HTTP_PREFER="handling=lenient",
    )
    assert response.status_code == 207
    assert response["Preference-Applied"] == "handling=lenient"
    body = response.json()
    assert [item["status"] for item in body["items"]] == ["updated", "invalid", "not_found"]
    assert [error["index"] for error in body["errors"]] == [1, 2]
    assert body["errors"][0]["data"] == {"id": items[1].pk, "quantity": "many"}
    assert Item.objects.get(pk=items[0].pk).name == "ok"
    assert Item.objects.get(pk=items[1].pk).quantity == items[1].quantity


def test_dry_run_reports_and_writes_nothing(api):
    items = ItemFactory.create_batch(2)
    before = snapshot()
    response = api.bulk(
        "patch",
        f"{BULK}?dry_run=1",
        [{"id": items[0].pk, "name": "a"}, {"id": items[1].pk, "name": "b"}],
    )
    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] is True
    assert [item["status"] for item in body["items"]] == ["would_update", "would_update"]
    assert snapshot() == before
    response = api.bulk("delete", f"{BULK}?dry_run=1", [items[0].pk])
    assert [item["status"] for item in response.json()["items"]] == ["would_delete"]
    assert snapshot() == before
    response = api.bulk("patch", f"{BULK}?dry_run=1", [{"id": items[0].pk, "quantity": "x"}])
    assert response.status_code == 400
    assert snapshot() == before


# Upsert -------------------------------------------------------------------------


def test_upsert_creates_and_updates_without_overwriting_omitted_fields(api):
    account = AccountFactory()
    existing = ItemFactory(account=account, sku="KEEP", name="old", quantity=7)
    payload = [
        {"sku": "KEEP", "name": "new"},
        {"sku": "FRESH", "account": account.pk, "ref": "f", "name": "fresh"},
    ]
    response = api.bulk("post", f"{BULK}?upsert=sku", payload)
    assert response.status_code == 200, response.content
    body = response.json()
    assert [item["status"] for item in body["items"]] == ["updated", "created"]
    assert body["updated_ids"] == [existing.pk]
    existing.refresh_from_db()
    assert (existing.name, existing.quantity) == ("new", 7)
    assert Item.objects.get(sku="FRESH").name == "fresh"


def test_upsert_never_updates_out_of_scope_rows(api):
    alice, bob = UserFactory(), UserFactory()
    own_account = AccountFactory(owner=alice)
    other = ItemFactory(account=AccountFactory(owner=bob), sku="BOBS", name="bob")
    api.force_authenticate(alice)
    response = api.bulk(
        "post",
        f"{BULK}?upsert=1",
        [{"sku": "BOBS", "account": own_account.pk, "ref": "x", "name": "mine"}],
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["codes"] == {"sku": ["unique"]}
    other.refresh_from_db()
    assert other.name == "bob"


@pytest.mark.parametrize("query", ["upsert=name", "upsert=id"])
def test_upsert_only_on_declared_keys(api, query):
    response = api.bulk("post", f"{BULK}?{query}", [{"name": "x"}])
    assert response.status_code == 400
    assert response.json()["code"] == "upsert_not_allowed"


def test_upsert_missing_key_is_reported(api):
    response = api.bulk("post", f"{BULK}?upsert=sku", [{"name": "no key"}])
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "missing_lookup"
    assert Item.objects.count() == 0


# CSV ----------------------------------------------------------------------------


def test_create_from_csv_body(api):
    account = AccountFactory()
    body = csv_body(
        [
            ["account", "sku", "ref", "name", "quantity"],
            [account.pk, "C1", "r1", "one", 1],
            [account.pk, "C2", "r2", "two", 2],
        ]
    )
    response = api.post(BULK, data=body, content_type="text/csv")
    assert response.status_code == 201, response.content
    assert response.json()["success_count"] == 2
    assert dict(Item.objects.values_list("sku", "quantity")) == {"C1": 1, "C2": 2}


def test_csv_upload_with_semicolons_and_bom(api):
    account = AccountFactory()
    text = f'\ufeffaccount;sku;ref;name\n{account.pk};U1;r1;"one; quoted"\n'
    upload = SimpleUploadedFile("items.csv", text.encode("utf-8"), content_type="text/csv")
    response = api.post(BULK, data={"file": upload, "delimiter": ";"}, format="multipart")
    assert response.status_code == 201, response.content
    assert Item.objects.get().name == "one; quoted"


def test_csv_patch_empty_cell_leaves_field_and_null_token_sets_null(api):
    items = ItemFactory.create_batch(2, quantity=5)
    body = csv_body(
        [["id", "name", "quantity"], [items[0].pk, "renamed", ""], [items[1].pk, "", "9"]]
    )
    response = api.patch(BULK, data=body, content_type="text/csv")
    assert response.status_code == 200, response.content
    first, second = (Item.objects.get(pk=i.pk) for i in items)
    assert (first.name, first.quantity) == ("renamed", 5)
    assert (second.name, second.quantity) == (items[1].name, 9)


def test_csv_errors_name_the_line(api):
    account = AccountFactory()
    pk = account.pk
    body = f'account,sku,ref,name\n{pk},A,a,ok\n{pk},B,b,"multi\nline"\n{pk},C,c\n'
    response = api.post(BULK, data=body, content_type="text/csv")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["index"], error["line"]) == (2, 5)
    assert error["codes"] == {"name": ["required"]}
    assert Item.objects.count() == 0


def test_csv_delete_by_id_column(api):
    items = ItemFactory.create_batch(3)
    body = csv_body([["id"], [items[0].pk], [items[2].pk]])
    response = api.delete(BULK, data=body, content_type="text/csv")
    assert response.status_code == 200, response.content
    assert list(Item.objects.values_list("pk", flat=True)) == [items[1].pk]


def test_csv_size_limit(api):
    with override_settings(REST_FRAMEWORK_BULK={"CSV_MAX_FILE_SIZE": 64}):
        body = "account,sku,ref,name\n" + "1,A,a,aaaaaaaaaa\n" * 20
        response = api.post(BULK, data=body, content_type="text/csv")
    assert response.status_code == 413
    assert Item.objects.count() == 0


def test_results_as_csv_escape_formulas(api):
    account = AccountFactory()
    payload = [
        {"account": account.pk, "sku": "A", "ref": "a", "name": "ok"},
        {"account": account.pk, "sku": "B", "ref": "b", "name": "forbidden"},
    ]
    response = api.bulk(
        "post", BULK, payload, HTTP_PREFER="handling=lenient", HTTP_ACCEPT="text/csv"
    )
    assert response.status_code == 207
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["status"] for row in rows] == ["created", "invalid"]
    assert rows[1]["error"] == "name: This name is not allowed."


def test_csv_result_cells_are_escaped(api):
    item = ItemFactory()
    response = api.bulk(
        "patch",
        BULK,
        [{"id": item.pk, "name": "fine"}, {"id": "=HYPERLINK(1)", "name": "x"}],
        HTTP_PREFER="handling=lenient",
        HTTP_ACCEPT="text/csv",
    )
    assert response.status_code == 207
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows[1]["code"] == "invalid_lookup"
    assert rows[1]["id"] == "'=HYPERLINK(1)"


@override_settings(REST_FRAMEWORK_BULK={"MAX_ITEMS": 2})
def test_limits_apply_to_csv(api):
    body = csv_body(
        [["account", "sku", "ref", "name"]] + [[1, f"S{i}", f"r{i}", "n"] for i in range(3)]
    )
    response = api.post(BULK, data=body, content_type="text/csv")
    assert response.status_code == 413
    assert Item.objects.count() == 0


def test_bulk_endpoint_uuid_model(api):
    response = api.bulk("post", "/v2/documents/bulk/", [{"title": "a"}, {"title": "b"}])
    assert response.status_code == 201
    ids = response.json()["created_ids"]
    response = api.get(f"/v2/documents/bulk/?ids={','.join(ids)}")
    assert [d["title"] for d in response.json()["results"]] == ["a", "b"]


def test_conflict_raised_by_a_hook_is_409_and_rolled_back(api):
    account = AccountFactory()
    response = api.bulk(
        "post",
        "/v2/conflicting/bulk/",
        [{"account": account.pk, "sku": "A", "ref": "a", "name": "a"}],
    )
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert Item.objects.count() == 0


def test_delete_without_body_uses_allowed_filters(api):
    account = AccountFactory()
    cheap = ItemFactory(account=account, quantity=1)
    ItemFactory(account=account, quantity=100)
    other = ItemFactory(quantity=100)
    response = api.delete(f"{BULK}?account={account.pk}&quantity__gte=50")
    assert response.status_code == 200, response.content
    assert response.json()["success_count"] == 1
    assert sorted(Item.objects.values_list("pk", flat=True)) == sorted([cheap.pk, other.pk])


def test_delete_without_body_refuses_filters_outside_the_allow_list(api):
    ItemFactory.create_batch(2)
    response = api.delete(f"{BULK}?sku=SKU-00001")
    assert response.status_code == 400
    assert response.json()["code"] == "filter_not_allowed"
    assert "sku" in response.json()["fields"]
    assert Item.objects.count() == 2


def test_delete_without_body_or_filters_is_refused(api):
    ItemFactory.create_batch(2)
    response = api.delete(BULK)
    assert response.status_code == 400
    assert response.json()["code"] == "unfiltered_delete"
    assert Item.objects.count() == 2


def test_ids_and_filters_combine(api):
    first = ItemFactory(quantity=1)
    second = ItemFactory(quantity=100)
    body = api.get(f"{BULK}?ids={first.pk},{second.pk}&quantity__gte=50").json()
    assert [item["id"] for item in body["results"]] == [second.pk]
    assert body["not_found"] == [first.pk]


def test_csv_upload_of_a_logged_in_user_checks_csrf():
    # A session login, as a browser has: SessionAuthentication checks the
    # CSRF token, which Django looks for in the multipart form first.
    user = UserFactory()
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    account = AccountFactory(owner=user)
    secret = "a" * 32
    client.cookies["csrftoken"] = secret

    def upload(**extra):
        body = f"account,sku,ref,name,price\n{account.pk},S-{len(extra)},r,n,1.00\n"
        file = SimpleUploadedFile("items.csv", body.encode(), content_type="text/csv")
        return client.post(BULK, {"file": file, **extra}, format="multipart")

    refused = upload()
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert upload(csrfmiddlewaretoken=secret).status_code == 201
    assert Item.objects.filter(sku="S-1").exists()
