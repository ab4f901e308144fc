"""Hostile input on every bulk route: never a 5xx, never a row the answer does not report.

Hypothesis generates requests (``tests.strategies``) for every verb of the
list routes and of ``/bulk/``, in JSON and CSV, strict and lenient, small and
job-sized (``Prefer: respond-async``: accepted as a job that never runs
here, so it must not write). ``tests.hostile.oracle.check`` says what each
answer allows the database to look like. Every example runs in a transaction
that is rolled back, so all share one seeded world.

The seed is fixed and the number of examples bounded (``HOSTILE_EXAMPLES``
raises it for a longer hunt). Every failing example Hypothesis ever found is
kept below as a plain regression test, with its literal payload.

Jobs that actually run are in ``tests/jobs/test_hostile_jobs.py``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from rest_framework.test import APIClient

from tests.hostile.oracle import (
    IDLE_RUNNER,
    TARGETS,
    World,
    build_world,
    check,
    run_isolated,
    send,
    snapshot,
)
from tests.models import Item
from tests.strategies import NOBODY, RAW, RAW_JSON, Call, calls, csv_text, dumps, multipart

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "25"))

hostile = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@pytest.fixture
def world(settings, tmp_path) -> World:
    settings.MEDIA_ROOT = str(tmp_path)
    settings.REST_FRAMEWORK_BULK = {
        **getattr(settings, "REST_FRAMEWORK_BULK", {}),
        "JOB_RUNNER": IDLE_RUNNER,
    }
    world = build_world()
    world.actor = world.alice
    return world


def client_for(world: World) -> APIClient:
    client = APIClient(raise_request_exception=False)
    if world.actor is not None:
        client.force_authenticate(world.actor)
    return client


def attempt(world: World, call: Call, *, actor="alice"):
    """Send ``call`` as ``actor`` in a rolled-back transaction and check the invariants."""
    world.actor = {"alice": world.alice, "bob": world.bob, None: None}[actor]

    def body():
        before = snapshot()
        response = send(client_for(world), call)
        if response.status_code >= 500:
            check(world, call, before, response, before)
        after = snapshot()
        if currently_in_test_context():
            event(f"{call.method} {response.status_code}")
        check(world, call, before, response, after)
        return response

    return run_isolated(body)


actors = st.sampled_from(["alice", "alice", "alice", None])

LIST_TARGETS = ["items", "documents", "articles", "tasks"]
BULK_TARGETS = ["bulk-items", "bulk-documents", "bulk-tasks"]
WRITES = ["POST", "PUT", "PATCH", "DELETE"]


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("target", LIST_TARGETS)
@hostile
@given(data=st.data())
def test_list_route_writes(world, target, method, data):
    call = data.draw(calls(world, TARGETS[target], method), label="call")
    attempt(world, call, actor=data.draw(actors, label="actor"))


@pytest.mark.parametrize("method", [*WRITES, "GET"])
@pytest.mark.parametrize("target", BULK_TARGETS)
@hostile
@given(data=st.data())
def test_bulk_endpoint(world, target, method, data):
    call = data.draw(calls(world, TARGETS[target], method), label="call")
    attempt(world, call, actor=data.draw(actors, label="actor"))


@pytest.mark.parametrize("target", [*LIST_TARGETS, *BULK_TARGETS])
@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize(
    "raw",
    RAW_JSON[:3] + [b"null", b"[NaN]", b'["\\ud800"]'],
    ids=["deep-list", "deep-object", "deep-open", "null", "nan", "surrogate"],
)
def test_raw_bodies_never_fail_the_server(world, target, method, raw):
    """Every raw body on every write of every route: a 4xx with a code, or nothing 5xx."""
    call = Call(
        target,
        method,
        TARGETS[target].path,
        content_type="application/json",
        body=raw,
        data=RAW if raw[:1] in b"[{" and len(raw) > 100 else NOBODY,
    )
    attempt(world, call)


# Regression tests: failing examples found by the properties above ------------------------------


def ids(world: World, *names: str):
    return [
        {
            "own": world.own_items[0],
            "own2": world.own_items[1],
            "other": world.other_items[0],
            "locked": world.locked_items[0],
        }[n]
        for n in names
    ]


def test_delete_fractional_id_is_refused(world):
    """DELETE [2.9] acted on row 2; a fractional lookup never means an integer row."""
    own = world.own_items[1]
    call = Call(
        "items",
        "DELETE",
        "/api/items/",
        content_type="application/json",
        body=dumps([own + 0.9]),
        data=[own + 0.9],
    )
    response = attempt(world, call)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_lookup"


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("target", ["items", "bulk-items"])
def test_update_fractional_id_is_refused(world, target, method):
    own = world.own_items[1]
    item = {
        "id": own + 0.9,
        "name": "renamed",
        "account": world.own_accounts[0],
        "sku": "NEW-1",
        "ref": "r-new",
    }
    call = Call(
        target,
        method,
        TARGETS[target].path,
        content_type="application/json",
        body=dumps([item]),
        data=[item],
    )
    response = attempt(world, call)
    assert response.status_code == 400
    assert "invalid" in response.json()["code"]


@pytest.mark.parametrize("target", ["items", "bulk-items"])
def test_fractional_account_is_refused(world, target):
    item = {"account": world.own_accounts[0] + 0.5, "sku": "NEW-1", "ref": "r-new", "name": "n"}
    call = Call(
        target,
        "POST",
        TARGETS[target].path,
        content_type="application/json",
        body=dumps([item]),
        data=[item],
    )
    response = attempt(world, call)
    assert response.status_code == 400


@pytest.mark.parametrize("value", ["maybe", "2", "", "nope", "1.0"])
@pytest.mark.parametrize("method", WRITES)
def test_bad_dry_run_spelling_is_400_and_writes_nothing(world, method, value):
    own = world.own_items[0]
    body = {
        "POST": [{"account": world.own_accounts[0], "sku": "NEW-1", "ref": "r-new", "name": "n"}],
        "DELETE": [own],
    }.get(method, [{"id": own, "name": "renamed"}])
    call = Call(
        "bulk-items",
        method,
        "/v2/items/bulk/",
        query=[("dry_run", value)],
        content_type="application/json",
        body=dumps(body),
        data=body,
    )
    if method == "PUT":
        body[0].update(account=world.own_accounts[0], sku="NEW-1", ref="r-new")
        call.body = dumps(body)
    response = attempt(world, call)
    assert response.status_code == 400
    assert isinstance(response.json()["code"], str)


@pytest.mark.parametrize(
    "query", [[("dry_run", "1"), ("dry_run", "0")], [("dry_run", "0"), ("dry_run", "1")]]
)
def test_repeated_dry_run_is_400_and_writes_nothing(world, query):
    own = world.own_items[0]
    call = Call(
        "bulk-items",
        "DELETE",
        "/v2/items/bulk/",
        query=query,
        content_type="application/json",
        body=dumps([own]),
        data=[own],
    )
    response = attempt(world, call)
    assert response.status_code == 400
    assert Item.objects.filter(pk=own).exists()


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize("target", BULK_TARGETS)
def test_null_body_on_bulk_is_400(world, target, method):
    call = Call(
        target,
        method,
        TARGETS[target].path,
        content_type="application/json",
        body=b"null",
        data=None,
    )
    response = attempt(world, call)
    assert response.status_code == 400
    assert isinstance(response.json()["code"], str)


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("target", LIST_TARGETS)
def test_null_body_on_list_route_update_is_400(world, target, method):
    call = Call(
        target,
        method,
        TARGETS[target].path,
        content_type="application/json",
        body=b"null",
        data=None,
    )
    response = attempt(world, call)
    assert response.status_code == 400


@pytest.mark.parametrize("target", ["items", "bulk-items"])
@pytest.mark.parametrize("method", WRITES)
def test_deep_nesting_is_400(world, target, method):
    call = Call(
        target,
        method,
        TARGETS[target].path,
        content_type="application/json",
        body=RAW_JSON[0],
        data=RAW,
    )
    response = attempt(world, call)
    assert response.status_code == 400
    assert isinstance(response.json()["code"], str)


@pytest.mark.parametrize(
    "target, method, shape",
    [
        ("items", "DELETE", "scalar"),
        ("items", "PATCH", "object"),
        ("items", "PUT", "object"),
        ("bulk-items", "DELETE", "scalar"),
        ("bulk-items", "PATCH", "object"),
    ],
)
@pytest.mark.parametrize("value", [2**70, -(2**70), 2**64])
def test_huge_lookup_is_400(world, target, method, shape, value):
    item = (
        value
        if shape == "scalar"
        else {
            "id": value,
            "name": "n",
            "account": world.own_accounts[0],
            "sku": "NEW-1",
            "ref": "r",
        }
    )
    call = Call(
        target,
        method,
        TARGETS[target].path,
        content_type="application/json",
        body=dumps([item]),
        data=[item],
    )
    response = attempt(world, call)
    assert response.status_code == 400
    assert response.json()["code"] in ("invalid_lookup", "not_found", "invalid")


@pytest.mark.parametrize("value", [str(2**70), "7.5", f"1,{2**70}"])
def test_huge_or_fractional_ids_in_query_are_400(world, value):
    call = Call("bulk-items", "GET", "/v2/items/bulk/", query=[("ids", value)])
    response = attempt(world, call)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_lookup"


@pytest.mark.parametrize("target", ["items", "bulk-items"])
@pytest.mark.parametrize("value", [2**70, -(2**70)])
def test_huge_foreign_key_is_400(world, target, value):
    item = {"account": value, "sku": "NEW-1", "ref": "r-new", "name": "n"}
    call = Call(
        target,
        "POST",
        TARGETS[target].path,
        content_type="application/json",
        body=dumps([item]),
        data=[item],
    )
    response = attempt(world, call)
    assert response.status_code == 400


@pytest.mark.parametrize("target", ["items", "bulk-items", "documents", "tasks", "bulk-tasks"])
def test_delete_empty_list_deletes_nothing(world, target):
    call = Call(
        target, "DELETE", TARGETS[target].path, content_type="application/json", body=b"[]", data=[]
    )
    count = TARGETS[target].model._default_manager.count()
    response = attempt(world, call)
    assert response.status_code < 300 or isinstance(response.json()["code"], str)
    assert TARGETS[target].model._default_manager.count() == count


@pytest.mark.parametrize("target", ["items", "documents", "articles", "tasks"])
@pytest.mark.parametrize("body", [None, b"null", b"{}"], ids=["none", "null", "object"])
def test_delete_with_neither_body_nor_filters_is_refused(world, target, body):
    call = Call(
        target,
        "DELETE",
        TARGETS[target].path,
        content_type="application/json" if body is not None else None,
        body=body,
        data=NOBODY if body is None else None if body == b"null" else {},
    )
    response = attempt(world, call)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "charset", ["rot13", "hex", "bz2_codec", "base64", "uu_codec", "zlib_codec"]
)
def test_csv_charset_must_be_a_text_encoding(world, charset):
    body = csv_text(
        [{"account": world.own_accounts[0], "sku": "NEW-1", "ref": "r", "name": "n"}]
    ).encode()
    call = Call(
        "bulk-items",
        "POST",
        "/v2/items/bulk/",
        content_type=f"text/csv; charset={charset}",
        body=body,
        data=RAW,
        csv=True,
    )
    response = attempt(world, call)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "content",
    [b'[{"account": 1, "sku": "NEW-1", "ref": "r", "name": "n"}]', b"1,NEW-1,r,n\n", b""],
    ids=["json-as-csv", "no-header", "empty"],
)
def test_csv_upload_that_holds_no_rows_is_400(world, content):
    ctype, body = multipart([("file", "rows.csv", "text/csv", content)])
    call = Call(
        "bulk-items", "POST", "/v2/items/bulk/", content_type=ctype, body=body, data=RAW, csv=True
    )
    response = attempt(world, call)
    assert response.status_code == 400


def test_csv_upload_without_closing_boundary_is_400(world):
    rows = csv_text(
        [{"account": world.own_accounts[0], "sku": "NEW-1", "ref": "r", "name": "n"}]
    ).encode()
    ctype, body = multipart([("file", "rows.csv", "text/csv", rows)], close=False)
    call = Call(
        "bulk-items", "POST", "/v2/items/bulk/", content_type=ctype, body=body, data=RAW, csv=True
    )
    response = attempt(world, call)
    assert response.status_code == 400


def test_csv_upload_part_charset_latin1_is_honoured(world):
    rows = csv_text(
        [{"account": world.own_accounts[0], "sku": "NEW-1", "ref": "r", "name": "café"}]
    ).encode("latin-1")
    ctype, body = multipart([("file", "rows.csv", "text/csv; charset=latin-1", rows)])
    call = Call(
        "bulk-items",
        "POST",
        "/v2/items/bulk/",
        content_type=ctype,
        body=body,
        data=[{"name": "café"}],
        csv=True,
    )
    response = attempt(world, call)
    assert response.status_code == 201, response.content
    assert response.json()["success_count"] == 1


@pytest.mark.parametrize("where", ["sku", "name"])
def test_lone_surrogate_in_a_job_sized_request_is_not_a_5xx(world, where):
    item = {
        "account": world.own_accounts[0],
        "sku": "NEW-1",
        "ref": "r",
        "name": "n",
        where: "\ud800",
    }
    call = Call(
        "bulk-items",
        "POST",
        "/v2/items/bulk/",
        headers={"HTTP_PREFER": "respond-async"},
        content_type="application/json",
        body=dumps([item]),
        data=[item],
    )
    response = attempt(world, call)
    assert response.status_code in (202, 400)


@pytest.mark.parametrize("value", ["a\x00b", "\x00"])
@pytest.mark.parametrize("where", ["name", "ids", "account"])
def test_nul_in_filters_and_ids_is_not_a_5xx(world, where, value):
    call = Call("bulk-items", "GET", "/v2/items/bulk/", query=[(where, value)])
    response = attempt(world, call)
    assert response.status_code < 500
    if where != "name":
        assert response.status_code == 400


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_nul_in_lookup_values_is_400(world, method):
    item = "1\x00" if method == "DELETE" else {"id": "1\x00", "name": "n"}
    for target in ("items", "bulk-items", "articles"):
        lookup = (
            {"slug": "a\x00b", "name": "n"}
            if target == "articles" and method == "PATCH"
            else ("a\x00b" if target == "articles" else item)
        )
        call = Call(
            target,
            method,
            TARGETS[target].path,
            content_type="application/json",
            body=dumps([lookup]),
            data=[lookup],
        )
        response = attempt(world, call)
        assert response.status_code == 400, (target, response.content)


@pytest.mark.parametrize("query", [[("quantity__gte", "0")], [("quantity__lte", "100")]])
def test_get_by_filter_hides_rows_object_permissions_refuse(world, query):
    call = Call("bulk-items", "GET", "/v2/items/bulk/", query=query)
    response = attempt(world, call, actor=None)
    assert response.status_code == 200
    shown = {row["id"] for row in response.json()["results"]}
    assert not shown & set(world.locked_items + [world.other_items[1]])


def test_plain_get_never_starts_an_export_job(world, settings):
    settings.REST_FRAMEWORK_BULK = {**settings.REST_FRAMEWORK_BULK, "RETRIEVE_ASYNC_THRESHOLD": 2}
    call = Call("bulk-items", "GET", "/v2/items/bulk/", query=[("quantity__gte", "0")])
    response = attempt(world, call)
    assert response.status_code in (200, 400, 413)


@pytest.mark.parametrize("target, lookup", [("items", "own"), ("bulk-items", "own")])
def test_lenient_items_not_written_do_not_block_others(world, target, lookup):
    account = world.own_accounts[0]
    items = [
        {"account": account, "sku": "NEW-X", "ref": "r1", "name": "forbidden"},
        {"account": account, "sku": "NEW-X", "ref": "r2", "name": "fine"},
    ]
    call = Call(
        target,
        "POST",
        TARGETS[target].path,
        headers={"HTTP_PREFER": "handling=lenient"},
        content_type="application/json",
        body=dumps(items),
        data=items,
    )
    response = attempt(world, call)
    assert response.status_code == 207, response.content
    statuses = [item["status"] for item in response.json()["items"]]
    assert statuses[1] == "created"


@pytest.mark.parametrize("target", BULK_TARGETS)
def test_errors_are_json_even_when_csv_is_asked_for(world, target):
    """Found: `?format=csv` turned a 400 into a CSV body without a JSON `code`."""
    call = Call(
        target,
        "PATCH",
        TARGETS[target].path,
        query=[("format", "csv")],
        content_type="text/csv; charset=utf-8",
        body=b"id\r\n",
        data=RAW,
        csv=True,
    )
    response = attempt(world, call)
    assert response.status_code == 400
    assert isinstance(response.json()["code"], str)


@pytest.mark.parametrize("target", ["documents", "bulk-documents"])
@pytest.mark.parametrize("value", [2**70, -(2**70)])
def test_huge_int_in_an_integer_field_is_400(world, target, value):
    """Found: `version` 2**70 in a PUT reached the database (OverflowError on SQLite)."""
    item = {"id": world.documents[0], "title": "t1", "version": value, "body": "text"}
    call = Call(
        target,
        "PUT",
        TARGETS[target].path,
        content_type="application/json",
        body=dumps([item]),
        data=[item],
    )
    response = attempt(world, call)
    assert response.status_code == 400


def test_a_lone_surrogate_is_echoed_as_a_replacement_character(api):
    """Found: a lenient summary echoed an item's text as sent, which UTF-8 cannot encode (500)."""
    item = {"title": "\ud800", "views": 1, "\udfffkey": ["a\ud800"]}
    response = api.bulk("post", "/api/articles/", [item], HTTP_PREFER="handling=lenient")
    assert response.status_code == 400
    assert response.json()["errors"][0]["data"] == {
        "title": "\ufffd",
        "views": 1,
        "\ufffdkey": ["a\ufffd"],
    }
