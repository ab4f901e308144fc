"""Hostile input and the habits of real projects: each case checks the answer and the rows."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework import serializers

from rest_framework_bulk import BulkListSerializer, BulkModelViewSet, BulkSerializerMixin

from .factories import AccountFactory, ItemFactory, UserFactory
from .models import Book, Checked, DeletionLog, Item, Record, Shelf, Task

pytestmark = pytest.mark.django_db

ITEMS = "/api/items/"
BULK = "/v2/items/bulk/"
HUGE = 2**70


def snapshot():
    return list(
        Item.objects.order_by("pk").values_list(
            "pk", "sku", "ref", "name", "quantity", "account_id"
        )
    )


def raw(api, method, url, body: str, **extra):
    return getattr(api, method)(url, data=body, content_type="application/json", **extra)


def assert_refused(response, code, status=400):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    return body


# Bodies the JSON decoder cannot take --------------------------------------------


@pytest.mark.parametrize("url", [ITEMS, BULK])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_deeply_nested_json_is_a_parse_error(api, url, method):
    ItemFactory()
    before = snapshot()
    response = raw(api, method, url, "[" * 10_000 + "]" * 10_000)
    assert_refused(response, "parse_error")
    assert snapshot() == before


@pytest.mark.parametrize("url", [ITEMS, BULK])
def test_malformed_json_has_a_code(api, url):
    response = raw(api, "post", url, "[{")
    body = assert_refused(response, "parse_error")
    assert "detail" in body


@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_null_body_on_bulk_endpoint_is_not_a_list(api, method):
    ItemFactory()
    before = snapshot()
    assert_refused(raw(api, method, BULK, "null"), "not_a_list")
    assert snapshot() == before


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_null_body_on_list_route_is_not_a_list(api, method):
    ItemFactory()
    before = snapshot()
    assert_refused(raw(api, method, ITEMS, "null"), "not_a_list")
    assert snapshot() == before


@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_empty_body_on_bulk_endpoint_is_not_a_list(api, method):
    ItemFactory()
    before = snapshot()
    assert_refused(getattr(api, method)(BULK), "not_a_list")
    assert snapshot() == before


def test_unsupported_media_type_and_method_have_codes(api):
    assert_refused(
        api.post(ITEMS, data="x", content_type="application/xml"), "unsupported_media_type", 415
    )
    assert_refused(
        api.put("/bulk/?format=nope", data="[]", content_type="application/json"), "not_found", 404
    )
    assert_refused(
        api.post("/v2/documents/bulk/?dry_run=1", data="<a/>", content_type="text/xml"),
        "unsupported_media_type",
        415,
    )


def test_method_not_allowed_has_a_code(api):
    item = ItemFactory()
    assert_refused(
        api.post(f"{ITEMS}{item.pk}/", data="{}", content_type="application/json"),
        "method_not_allowed",
        405,
    )


def test_single_object_errors_keep_drfs_shape(api):
    response = api.post(ITEMS, data=json.dumps({"name": "only"}), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["sku"] == ["This field is required."]


# Lookup values are used as sent or refused ---------------------------------------


@pytest.mark.parametrize(
    "value", [2.9, HUGE, -HUGE, "2.9", "1_0", True, [1], {"id": 2.9}, "\x00", 1e308]
)
def test_delete_refuses_lookups_that_are_not_exactly_an_id(api, value):
    items = ItemFactory.create_batch(3)
    before = snapshot()
    body = assert_refused(
        api.bulk("delete", ITEMS, [value]),
        "invalid" if isinstance(value, (bool, list)) else "invalid_lookup",
    )
    assert body["errors"][0]["index"] == 0
    assert snapshot() == before
    assert len(items) == 3


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("value", [2.9, HUGE, "7.5", "\x00"])
def test_updates_refuse_lookups_that_are_not_exactly_an_id(api, method, value):
    account = AccountFactory()
    first, second = ItemFactory(account=account), ItemFactory(account=account)
    payload = {
        "id": value,
        "account": account.pk,
        "sku": "X",
        "ref": "x",
        "name": "changed",
        "quantity": 9,
    }
    before = snapshot()
    body = assert_refused(api.bulk(method, ITEMS, [payload]), "invalid_lookup")
    assert body["errors"][0]["code"] == "invalid_lookup"
    assert snapshot() == before
    assert first.pk and second.pk


def test_integral_lookups_mean_that_id(api):
    item = ItemFactory()
    response = api.bulk(
        "patch", ITEMS, [{"id": float(item.pk), "name": "float id"}, {"id": str(item.pk + 1000)}]
    )
    assert response.status_code == 400
    assert [error["code"] for error in response.json()["errors"]] == ["not_found"]
    response = api.bulk("patch", ITEMS, [{"id": f"{item.pk}.0", "name": "text id"}])
    assert response.status_code == 200, response.content
    item.refresh_from_db()
    assert item.name == "text id"


@pytest.mark.parametrize("ids", [f"{HUGE}", "7.5", "1,%00", "٣"])
def test_bulk_get_refuses_ids_that_are_not_ids(api, ids):
    ItemFactory()
    assert_refused(api.get(f"{BULK}?ids={ids}"), "invalid_lookup")


def test_bulk_get_refuses_repeated_ids(api):
    item = ItemFactory()
    assert_refused(api.get(f"{BULK}?ids={item.pk}&ids={item.pk}"), "invalid_ids")


@pytest.mark.parametrize("account", [1.5, HUGE, "1.5", True])
def test_foreign_keys_are_used_as_sent_or_refused(api, account):
    real = AccountFactory()
    payload = [
        {
            "account": real.pk + 0.5 if account == 1.5 else account,
            "sku": "N1",
            "ref": "r",
            "name": "n",
        }
    ]
    before = snapshot()
    body = assert_refused(api.bulk("post", ITEMS, payload), "invalid")
    assert "account" in body["errors"][0]["detail"]
    assert snapshot() == before


def test_foreign_key_as_integral_float_is_that_account(api):
    account = AccountFactory()
    response = api.bulk(
        "post", ITEMS, [{"account": float(account.pk), "sku": "N1", "ref": "r", "name": "n"}]
    )
    assert response.status_code == 201, response.content
    assert Item.objects.get().account_id == account.pk


def test_lenient_bad_foreign_key_fails_that_item_only(api):
    account = AccountFactory()
    payload = [
        {"account": HUGE, "sku": "BAD", "ref": "r0", "name": "n"},
        {"account": account.pk, "sku": "GOOD", "ref": "r1", "name": "n"},
    ]
    response = api.bulk("post", BULK, payload, HTTP_PREFER="handling=lenient")
    assert response.status_code == 207, response.content
    assert [item["status"] for item in response.json()["items"]] == ["invalid", "created"]
    assert list(Item.objects.values_list("sku", flat=True)) == ["GOOD"]


# Flags ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["dry_run=maybe", "dry_run=2", "dry_run=", "dry_run=1&dry_run=0", "dry_run=1&dry_run=1"],
)
@pytest.mark.parametrize("url", [ITEMS, BULK])
def test_flags_take_only_documented_spellings(api, query, url):
    account = AccountFactory()
    payload = [{"account": account.pk, "sku": "N1", "ref": "r", "name": "n"}]
    body = assert_refused(api.bulk("post", f"{url}?{query}", payload), "invalid_flag")
    assert "dry_run" in body["detail"]
    assert Item.objects.count() == 0


@pytest.mark.parametrize("query", ["upsert=", "upsert=1&upsert=sku", "upsert=name"])
def test_upsert_takes_a_declared_field_once(api, query):
    account = AccountFactory()
    payload = [{"account": account.pk, "sku": "N1", "ref": "r", "name": "n"}]
    response = api.bulk("post", f"{BULK}?{query}", payload)
    assert response.status_code == 400
    assert response.json()["code"] == "upsert_not_allowed"
    assert Item.objects.count() == 0


def test_upsert_off_creates(api):
    account = AccountFactory()
    payload = [{"account": account.pk, "sku": "N1", "ref": "r", "name": "n"}]
    response = api.bulk("post", f"{BULK}?upsert=0", payload)
    assert response.status_code == 201, response.content
    assert Item.objects.count() == 1


@pytest.mark.parametrize("spelling", ["1", "true", "YES", "on"])
def test_list_route_dry_run_reports_and_writes_nothing(api, spelling):
    account = AccountFactory()
    existing = ItemFactory(account=account)
    before = snapshot()
    payload = [{"account": account.pk, "sku": "N1", "ref": "r", "name": "n"}]
    response = api.bulk("post", f"{ITEMS}?dry_run={spelling}", payload)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["dry_run"] is True
    assert [item["status"] for item in body["items"]] == ["would_create"]
    response = api.bulk("patch", f"{ITEMS}?dry_run={spelling}", [{"id": existing.pk, "name": "x"}])
    assert [item["status"] for item in response.json()["items"]] == ["would_update"]
    response = api.bulk("delete", f"{ITEMS}?dry_run={spelling}", [existing.pk])
    assert response.status_code == 200
    assert response.json()["items"] == [{"index": 0, "status": "would_delete", "id": existing.pk}]
    assert snapshot() == before


# Deletes -------------------------------------------------------------------------


@pytest.mark.parametrize("url", [ITEMS, BULK])
def test_empty_list_deletes_nothing(api, url):
    ItemFactory.create_batch(3)
    response = api.bulk("delete", url, [])
    assert response.status_code in (200, 204)
    assert Item.objects.count() == 3


def test_allow_bulk_destroy_is_consulted_for_a_body(api):
    items = ItemFactory.create_batch(2)
    body = assert_refused(
        api.bulk("delete", "/api/no-delete-items/", [items[0].pk]), "bulk_destroy_not_allowed"
    )
    assert "detail" in body
    assert Item.objects.count() == 2
    assert_refused(api.delete("/api/no-delete-items/?sku=x"), "unfiltered_delete")
    assert Item.objects.count() == 2


def test_allow_bulk_destroy_gets_the_named_objects(api):
    items = ItemFactory.create_batch(3)
    seen = {}

    class Spy(BulkModelViewSet):
        queryset = Item.objects.all()
        serializer_class = type(
            "S",
            (BulkSerializerMixin, serializers.ModelSerializer),
            {
                "Meta": type(
                    "Meta",
                    (),
                    {"model": Item, "fields": ["id"], "list_serializer_class": BulkListSerializer},
                )
            },
        )

        def allow_bulk_destroy(self, qs, filtered):
            seen["qs"] = sorted(qs.values_list("pk", flat=True))
            seen["filtered"] = sorted(filtered.values_list("pk", flat=True))
            return super().allow_bulk_destroy(qs, filtered)

    from rest_framework.test import APIRequestFactory

    request = APIRequestFactory().delete(
        "/", data=json.dumps([items[1].pk]), content_type="application/json"
    )
    response = Spy.as_view({"delete": "bulk_destroy"})(request)
    assert response.status_code == 204
    assert seen == {"qs": [item.pk for item in items], "filtered": [items[1].pk]}
    assert sorted(Item.objects.values_list("pk", flat=True)) == [items[0].pk, items[2].pk]


def test_scoping_filter_backend_is_not_a_client_filter(api):
    user = UserFactory()
    mine = ItemFactory.create_batch(2, account=AccountFactory(owner=user))
    other = ItemFactory(account=AccountFactory())
    api.force_authenticate(user)
    assert_refused(api.delete("/api/scoped-items/"), "unfiltered_delete")
    # A query parameter the view does not read changes nothing either.
    assert_refused(api.delete("/api/scoped-items/?everything=yes"), "unfiltered_delete")
    assert Item.objects.count() == 3
    response = api.bulk("delete", "/api/scoped-items/", [mine[0].pk, other.pk])
    assert_refused(response, "not_found")
    response = api.bulk("delete", "/api/scoped-items/", [mine[0].pk])
    assert response.status_code == 204
    assert sorted(Item.objects.values_list("pk", flat=True)) == [mine[1].pk, other.pk]


def test_client_filters_allow_a_delete_without_body(api):
    keep, drop = AccountFactory(), AccountFactory()
    ItemFactory(account=keep)
    ItemFactory.create_batch(2, account=drop)
    response = api.delete(f"/api/filtered-items/?account={drop.pk}")
    assert response.status_code == 204
    assert list(Item.objects.values_list("account_id", flat=True)) == [keep.pk]


@pytest.mark.parametrize("url", ["/api/tasks/", "/api/tasks/bulk/"])
def test_soft_delete_model_is_deleted_through_its_delete(api, url):
    tasks = [Task.objects.create(title=f"t{i}") for i in range(3)]
    response = api.bulk("delete", url, [tasks[0].pk, tasks[2].pk])
    assert response.status_code in (200, 204), response.content
    assert Task.all_objects.count() == 3
    assert list(Task.objects.values_list("pk", flat=True)) == [tasks[1].pk]
    assert Task.all_objects.filter(deleted_at__isnull=False).count() == 2


def test_custom_perform_destroy_is_called_for_each_object(api):
    items = ItemFactory.create_batch(3)
    response = api.bulk("delete", "/api/soft-destroy-items/", [items[0].pk, items[1].pk])
    assert response.status_code == 204
    assert list(Item.objects.order_by("pk").values_list("name", flat=True)) == [
        "destroyed",
        "destroyed",
        items[2].name,
    ]


@pytest.mark.parametrize("url", ["/api/records/", "/api/records/bulk/"])
def test_delete_receivers_see_whole_rows(api, url):
    records = [Record.objects.create(name=f"r{i}", size=i) for i in range(3)]
    response = api.bulk("delete", url, [records[0].pk, records[1].pk])
    assert response.status_code in (200, 204), response.content
    assert list(Record.objects.values_list("name", flat=True)) == ["r2"]
    logged = sorted(DeletionLog.objects.values_list("signal", "name", "size"))
    assert logged == [
        ("post_delete", "r0", 0),
        ("post_delete", "r1", 1),
        ("pre_delete", "r0", 0),
        ("pre_delete", "r1", 1),
    ]


def test_delete_receivers_see_whole_rows_without_body(api):
    Record.objects.create(name="big", size=10)
    Record.objects.create(name="small", size=1)
    response = api.delete(f"/api/records/bulk/?pk={Record.objects.get(name='big').pk}")
    assert response.status_code in (200, 204), response.content
    assert DeletionLog.objects.filter(signal="post_delete").count() == 1


def test_protected_delete_strict_names_the_item(api):
    shelves = [Shelf.objects.create(name=f"s{i}") for i in range(3)]
    Book.objects.create(shelf=shelves[1], title="b")
    body = assert_refused(
        api.bulk("delete", "/api/shelves/", [s.pk for s in shelves]), "protected", 409
    )
    assert [(error["index"], error["code"]) for error in body["errors"]] == [(1, "protected")]
    assert Shelf.objects.count() == 3


def test_protected_delete_lenient_does_the_others(api):
    shelves = [Shelf.objects.create(name=f"s{i}") for i in range(3)]
    Book.objects.create(shelf=shelves[1], title="b")
    response = api.bulk(
        "delete", "/api/shelves/bulk/", [s.pk for s in shelves], HTTP_PREFER="handling=lenient"
    )
    assert response.status_code == 207, response.content
    assert [item["status"] for item in response.json()["items"]] == [
        "deleted",
        "protected",
        "deleted",
    ]
    assert list(Shelf.objects.values_list("pk", flat=True)) == [shelves[1].pk]


# Models that validate in save() -------------------------------------------------------


def test_model_full_clean_strict_names_the_item(api):
    body = assert_refused(
        api.bulk("post", "/api/checked/", [{"code": "ok"}, {"code": "bad1"}]), "invalid"
    )
    assert body["errors"][0]["index"] == 1
    assert body["errors"][0]["detail"] == {"code": ["This code is refused by the model."]}
    assert Checked.objects.count() == 0


def test_model_full_clean_lenient_reports_the_item(api):
    response = api.bulk(
        "post",
        "/api/checked/bulk/",
        [{"code": "ok"}, {"code": "bad1"}, {"code": "ok2"}],
        HTTP_PREFER="handling=lenient",
    )
    assert response.status_code == 207, response.content
    assert [item["status"] for item in response.json()["items"]] == [
        "created",
        "invalid",
        "created",
    ]
    assert sorted(Checked.objects.values_list("code", flat=True)) == ["ok", "ok2"]


# Lenient validation ---------------------------------------------------------------------


def test_lenient_failed_item_does_not_claim_its_unique_value(api):
    account = AccountFactory()
    payload = [
        {"account": account.pk, "sku": "X", "ref": "r0", "name": "forbidden"},
        {"account": account.pk, "sku": "X", "ref": "r1", "name": "fine"},
    ]
    response = api.bulk("post", BULK, payload, HTTP_PREFER="handling=lenient")
    assert response.status_code == 207, response.content
    assert [item["status"] for item in response.json()["items"]] == ["invalid", "created"]
    assert list(Item.objects.values_list("sku", "ref")) == [("X", "r1")]


def test_lenient_written_item_still_claims_its_unique_value(api):
    account = AccountFactory()
    payload = [
        {"account": account.pk, "sku": "X", "ref": "r0", "name": "fine"},
        {"account": account.pk, "sku": "X", "ref": "r1", "name": "fine"},
    ]
    response = api.bulk("post", BULK, payload, HTTP_PREFER="handling=lenient")
    assert [item["status"] for item in response.json()["items"]] == ["created", "invalid"]
    assert list(Item.objects.values_list("ref", flat=True)) == ["r0"]


# GET on /bulk/ is safe -------------------------------------------------------------------


def test_bulk_get_by_filter_checks_object_permissions(api):
    account = AccountFactory()
    visible = ItemFactory(account=account, name="open")
    ItemFactory(account=account, name="locked away")
    response = api.get(f"{BULK}?account={account.pk}")
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [visible.pk]


def test_bulk_get_by_ids_checks_object_permissions(api):
    visible, locked = ItemFactory(name="open"), ItemFactory(name="locked away")
    response = api.get(f"{BULK}?ids={visible.pk},{locked.pk}")
    body = response.json()
    assert [item["id"] for item in body["results"]] == [visible.pk]
    assert body["not_found"] == [locked.pk]


def test_bulk_get_never_starts_a_job_by_itself(api, settings):
    from rest_framework_bulk.jobs.models import BulkJob

    settings.REST_FRAMEWORK_BULK = {"RETRIEVE_ASYNC_THRESHOLD": 2, "MAX_ITEMS": 5}
    account = AccountFactory()
    ItemFactory.create_batch(4, account=account)
    for _ in range(2):
        response = api.get(f"{BULK}?account={account.pk}")
        assert response.status_code == 200
        assert response.json()["count"] == 4
    ItemFactory.create_batch(2, account=account)
    body = assert_refused(api.get(f"{BULK}?account={account.pk}"), "too_many_items", 413)
    assert "respond-async" in body["detail"]
    assert BulkJob.objects.count() == 0


def test_bulk_get_paginates_as_the_view_does(api):
    from rest_framework.pagination import PageNumberPagination
    from rest_framework.test import APIRequestFactory

    from .views import ItemBulkViewSet

    class Paged(PageNumberPagination):
        page_size = 2

    class PagedView(ItemBulkViewSet):
        pagination_class = Paged

    account = AccountFactory()
    items = ItemFactory.create_batch(3, account=account)
    view = PagedView.as_view({"get": "bulk"})
    response = view(APIRequestFactory().get("/", {"account": account.pk, "page": 2}))
    assert response.status_code == 200
    assert response.data["count"] == 3
    assert [item["id"] for item in response.data["results"]] == [items[2].pk]


# Database errors ---------------------------------------------------------------------------


class RawNameFilterViewSet(BulkModelViewSet):
    """Hands the client's ``?name=`` to the ORM as it is, as many views do."""

    queryset = Item.objects.all()

    def get_serializer_class(self):
        return WorkaroundSerializer  # defined below

    def filter_queryset(self, queryset):
        name = self.request.query_params.get("name")
        return queryset.filter(name=name) if name is not None else queryset


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="only PostgreSQL refuses NUL characters in text"
)
@pytest.mark.parametrize("method", ["get", "delete"])
def test_value_the_database_refuses_is_a_client_error(method):
    from rest_framework.test import APIRequestFactory

    ItemFactory(name="a")
    view = RawNameFilterViewSet.as_view({"get": "list", "delete": "bulk_destroy"})
    response = view(getattr(APIRequestFactory(), method)("/?name=a%00b"))
    response.render()
    assert response.status_code == 400, response.content
    assert json.loads(response.content)["code"] == "invalid_value"
    assert Item.objects.count() == 1


def test_nul_in_a_bulk_filter_is_a_client_error(api):
    ItemFactory()
    response = api.get(f"{BULK}?name=a%00b")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_filter_value"


TRIGGERS = {
    "postgresql": [
        """CREATE OR REPLACE FUNCTION tests_refuse_item() RETURNS trigger AS $$
           BEGIN IF NEW.name = 'refused' THEN RAISE EXCEPTION 'refused by trigger'; END IF; RETURN NEW; END;
           $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER tests_refuse_item BEFORE INSERT OR UPDATE ON tests_item
           FOR EACH ROW EXECUTE FUNCTION tests_refuse_item()""",
    ],
    "mysql": [
        """CREATE TRIGGER tests_refuse_item BEFORE INSERT ON tests_item FOR EACH ROW
           BEGIN IF NEW.name = 'refused' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by trigger'; END IF; END""",
    ],
    "sqlite": [
        """CREATE TRIGGER tests_refuse_item BEFORE INSERT ON tests_item FOR EACH ROW
           WHEN NEW.name = 'refused' BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END""",
    ],
}


@pytest.fixture
def refusing_trigger():
    with connection.cursor() as cursor:
        for statement in TRIGGERS[connection.vendor]:
            cursor.execute(statement)
    yield
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER IF EXISTS tests_refuse_item ON tests_item")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS tests_refuse_item")


# MySQL commits around CREATE TRIGGER: these tests commit, and are flushed after.
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("refusing_trigger")
def test_trigger_refusal_strict_is_a_client_error(api):
    account = AccountFactory()
    payload = [
        {"account": account.pk, "sku": f"N{i}", "ref": f"r{i}", "name": name}
        for i, name in enumerate(["a", "refused"])
    ]
    response = api.bulk("post", ITEMS, payload)
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "conflict"
    assert Item.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("refusing_trigger")
def test_trigger_refusal_lenient_is_reported_on_the_item(api):
    account = AccountFactory()
    payload = [
        {"account": account.pk, "sku": f"N{i}", "ref": f"r{i}", "name": name}
        for i, name in enumerate(["a", "refused", "b"])
    ]
    response = api.bulk("post", BULK, payload, HTTP_PREFER="handling=lenient")
    assert response.status_code == 207, response.content
    assert [item["status"] for item in response.json()["items"]] == [
        "created",
        "conflict",
        "created",
    ]
    assert sorted(Item.objects.values_list("name", flat=True)) == ["a", "b"]


# Statements sent --------------------------------------------------------------------------------


def test_batched_update_sends_one_joined_statement(api):
    account = AccountFactory()
    items = ItemFactory.create_batch(5, account=account)
    with CaptureQueriesContext(connection) as captured:
        response = api.bulk(
            "patch", ITEMS, [{"id": item.pk, "quantity": 40 + i} for i, item in enumerate(items)]
        )
    assert response.status_code == 200
    updates = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    marker = "JOIN (SELECT" if connection.vendor == "mysql" else "FROM (VALUES"
    assert marker in updates[0]
    assert "CASE WHEN" not in updates[0]
    assert list(Item.objects.values_list("quantity", flat=True)) == [40, 41, 42, 43, 44]


@pytest.mark.parametrize("quantity", [-(2**31), 2**31 - 1])
def test_batched_update_writes_the_ends_of_the_columns_range(api, quantity):
    # The smallest integer, cast in SQL, must not be read as the cast of its
    # absolute value (one more than the largest) negated.
    first, second = ItemFactory.create_batch(2)
    response = api.bulk("patch", ITEMS, [{"id": first.pk, "quantity": quantity}])
    assert response.status_code == 200, response.content
    response = api.bulk(
        "put",
        BULK,
        [
            {
                "id": item.pk,
                "account": item.account_id,
                "sku": item.sku,
                "ref": item.ref,
                "name": item.name,
                "quantity": quantity,
            }
            for item in (second, first)
        ],
    )
    assert response.status_code == 200, response.content
    assert list(Item.objects.values_list("quantity", flat=True)) == [quantity, quantity]


# Drop-in: code written for djangorestframework-bulk -----------------------------------------------


def test_drf3_modules_are_aliases():
    from rest_framework_bulk.drf3 import mixins as drf3_mixins
    from rest_framework_bulk.drf3 import serializers as drf3_serializers

    assert drf3_serializers.BulkListSerializer is BulkListSerializer
    assert drf3_serializers.BulkSerializerMixin is BulkSerializerMixin
    from rest_framework_bulk import mixins

    assert drf3_mixins.BulkUpdateModelMixin is mixins.BulkUpdateModelMixin
    assert drf3_mixins.BulkCreateModelMixin is mixins.BulkCreateModelMixin
    assert drf3_mixins.BulkDestroyModelMixin is mixins.BulkDestroyModelMixin


class QuerySetReadingListSerializer(BulkListSerializer):
    """The 0.2.1 workaround: look each item's instance up in ``self.instance``."""

    def to_internal_value(self, data):
        seen = {obj.pk: obj for obj in self.instance.filter(pk__in=[item["id"] for item in data])}
        self.looked_up = sorted(seen)
        return super().to_internal_value(data)


class WorkaroundSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Item
        fields = ["id", "name"]
        list_serializer_class = QuerySetReadingListSerializer


def test_list_serializer_sees_the_views_queryset_as_instance():
    from rest_framework.test import APIRequestFactory

    items = ItemFactory.create_batch(2)

    class View(BulkModelViewSet):
        queryset = Item.objects.all()
        serializer_class = WorkaroundSerializer

    body = json.dumps([{"id": item.pk, "name": f"renamed {item.pk}"} for item in items])
    request = APIRequestFactory().patch("/", data=body, content_type="application/json")
    response = View.as_view({"patch": "partial_bulk_update"})(request)
    assert response.status_code == 200, response.data
    assert sorted(Item.objects.values_list("name", flat=True)) == [
        f"renamed {item.pk}" for item in items
    ]


@pytest.mark.parametrize("quantity", [HUGE, -HUGE])
def test_integer_beyond_any_column_is_refused(api, quantity):
    account = AccountFactory()
    item = ItemFactory(account=account)
    before = snapshot()
    payload = [{"account": account.pk, "sku": "N1", "ref": "r", "name": "n", "quantity": quantity}]
    body = assert_refused(api.bulk("post", BULK, payload), "invalid")
    assert body["errors"][0]["codes"] == {
        "quantity": ["max_value" if quantity > 0 else "min_value"]
    }
    assert_refused(api.bulk("patch", ITEMS, [{"id": item.pk, "quantity": quantity}]), "invalid")
    assert snapshot() == before


def test_errors_are_json_when_csv_was_asked_for(api):
    response = api.generic("PATCH", f"{BULK}?format=csv", "id\r\n", content_type="text/csv")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "csv_no_rows"


# CSV files that are not what the client meant -------------------------------------------


def upload(api, url, content: bytes, name="items.csv", **data):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return api.post(
        url,
        data={"file": SimpleUploadedFile(name, content, content_type="text/csv"), **data},
        format="multipart",
    )


@pytest.mark.parametrize(
    "content",
    [
        b'[{"sku": "A", "name": "x", "ref": "r", "account": 1}]',
        b'[\n  {"sku": "A", "name": "x"}\n]\n',
        b"SKU-1,Kettle,24.90\r\nSKU-2,Teapot,19.50\r\n",
    ],
    ids=["json-one-line", "json-pretty", "no-header"],
)
def test_csv_that_names_no_field_is_refused(api, content):
    AccountFactory()
    assert upload(api, BULK, content).status_code == 400
    response = api.generic("POST", BULK, content, content_type="text/csv")
    assert response.status_code == 400
    assert response.json()["code"] in ("csv_header", "csv_invalid")
    assert Item.objects.count() == 0


def test_csv_with_a_header_and_no_rows_is_refused(api):
    body = assert_refused(upload(api, BULK, b"sku,name,ref,account\r\n"), "csv_no_rows")
    assert "rows" in body["detail"]
    assert Item.objects.count() == 0


def test_multipart_without_a_file_part_is_refused(api):
    response = api.post(BULK, data={"delimiter": ";"}, format="multipart")
    assert_refused(response, "csv_no_file")
    assert_refused(api.post(BULK, data={}, format="multipart"), "csv_no_file")
    assert Item.objects.count() == 0


@pytest.mark.parametrize("query", ["dry_run=1", "dry_run=maybe"])
def test_dry_run_where_drf_would_write_is_refused(api, query):
    account = AccountFactory()
    item = ItemFactory(account=account, name="kept")
    one = {"account": account.pk, "sku": "N1", "ref": "r", "name": "n"}
    code = "dry_run_not_supported" if query == "dry_run=1" else "invalid_flag"
    assert_refused(
        api.post(f"{ITEMS}?{query}", data=json.dumps(one), content_type="application/json"), code
    )
    response = api.patch(
        f"{ITEMS}{item.pk}/?{query}",
        data=json.dumps({"name": "changed"}),
        content_type="application/json",
    )
    assert_refused(response, code)
    assert_refused(api.delete(f"{ITEMS}{item.pk}/?{query}"), code)
    item.refresh_from_db()
    assert item.name == "kept"
    assert Item.objects.count() == 1


def test_dry_run_off_on_a_single_object_writes(api):
    account = AccountFactory()
    one = {"account": account.pk, "sku": "N1", "ref": "r", "name": "n"}
    response = api.post(f"{ITEMS}?dry_run=0", data=json.dumps(one), content_type="application/json")
    assert response.status_code == 201
    assert Item.objects.count() == 1
