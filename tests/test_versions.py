"""Per-item versions: a stale item is refused, a fresh one is written and its version moves on."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rest_framework_bulk.operations import BulkOperation

from .models import Page, Ticket
from .test_concurrency import run_concurrently

pytestmark = pytest.mark.django_db

TICKETS = "/api/tickets/"
BULK = "/api/tickets/bulk/"


def tickets(count=3):
    return [Ticket.objects.create(title=f"t{i}") for i in range(count)]


def rows():
    return list(Ticket.objects.order_by("pk").values_list("pk", "title", "version"))


@pytest.mark.parametrize("url", [TICKETS, BULK])
@pytest.mark.parametrize("method", ["patch", "put"])
def test_stale_version_rejects_the_request(api, url, method):
    first, second, third = tickets()
    Ticket.objects.filter(pk=second.pk).update(version=4)
    before = rows()
    payload = [{"id": t.pk, "title": "new", "version": 1} for t in (first, second, third)]
    response = api.bulk(method, url, payload)
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "version_conflict"
    assert body["errors"] == [
        {
            "index": 1,
            "lookup": second.pk,
            "code": "version_conflict",
            "detail": body["errors"][0]["detail"],
            "current_version": 4,
        }
    ]
    assert rows() == before


def test_lenient_fails_only_the_stale_item(api):
    first, second = tickets(2)
    Ticket.objects.filter(pk=second.pk).update(version=7)
    payload = [
        {"id": first.pk, "title": "a", "version": 1},
        {"id": second.pk, "title": "b", "version": 1},
    ]
    response = api.bulk("patch", TICKETS, payload, HTTP_PREFER="handling=lenient")
    assert response.status_code == 207, response.content
    items = response.json()["items"]
    assert items[0] == {"index": 0, "status": "updated", "id": first.pk, "current_version": 2}
    assert items[1]["status"] == "version_conflict"
    assert items[1]["code"] == "version_conflict"
    assert items[1]["current_version"] == 7
    assert rows() == [(first.pk, "a", 2), (second.pk, "t1", 7)]


def test_current_version_passes_and_increments(api):
    first, second = tickets(2)
    Ticket.objects.filter(pk=second.pk).update(version=5)
    payload = [
        {"id": first.pk, "title": "a", "version": 1},
        {"id": second.pk, "title": "b", "version": "5"},
    ]
    response = api.bulk("patch", TICKETS, payload)
    assert response.status_code == 200, response.content
    assert [(t["id"], t["version"]) for t in response.json()] == [(first.pk, 2), (second.pk, 6)]
    assert rows() == [(first.pk, "a", 2), (second.pk, "b", 6)]


def test_items_without_a_version_still_increment(api):
    (ticket,) = tickets(1)
    response = api.bulk("patch", TICKETS, [{"id": ticket.pk, "status": "closed"}])
    assert response.status_code == 200, response.content
    assert response.json()[0]["version"] == 2
    assert Ticket.objects.get().version == 2


@pytest.mark.parametrize("url", ["/api/writable-tickets/", "/api/per-item-tickets/"])
def test_the_clients_version_is_never_stored(api, url):
    (ticket,) = tickets(1)
    response = api.bulk("patch", url, [{"id": ticket.pk, "title": "x", "version": 1}])
    assert response.status_code == 200, response.content
    assert response.json()[0]["version"] == 2
    assert Ticket.objects.get().version == 2


def test_per_item_saves_check_versions(api):
    first, second = tickets(2)
    Ticket.objects.filter(pk=first.pk).update(version=3)
    before = rows()
    payload = [
        {"id": first.pk, "title": "a", "version": 1},
        {"id": second.pk, "title": "b", "version": 1},
    ]
    response = api.bulk("patch", "/api/per-item-tickets/", payload)
    assert response.status_code == 409, response.content
    assert rows() == before


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_a_missing_version_is_refused_when_required(api, method):
    first, second = tickets(2)
    before = rows()
    payload = [{"id": first.pk, "title": "a", "version": 1}, {"id": second.pk, "title": "b"}]
    response = api.bulk(method, "/api/strict-tickets/", payload)
    assert response.status_code == 428, response.content
    body = response.json()
    assert body["code"] == "version_required"
    assert [(e["index"], e["code"]) for e in body["errors"]] == [(1, "version_required")]
    assert rows() == before


def test_a_filtered_delete_is_refused_when_versions_are_required(api):
    tickets(2)
    response = api.bulk("delete", "/api/strict-tickets/bulk/?title=t1")
    assert response.status_code == 428, response.content
    assert response.json()["code"] == "version_required"
    assert Ticket.objects.count() == 2


@pytest.mark.parametrize("value", ["two", 1.5, True, [1], -1, 2**70, {"v": 1}])
def test_a_bad_version_is_invalid(api, value):
    (ticket,) = tickets(1)
    response = api.bulk("patch", TICKETS, [{"id": ticket.pk, "title": "a", "version": value}])
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert body["errors"][0]["codes"] == {"version": ["invalid"]}
    assert rows() == [(ticket.pk, "t0", 1)]


@pytest.mark.parametrize("url", [TICKETS, BULK])
def test_a_delete_with_a_stale_version_is_refused(api, url):
    first, second = tickets(2)
    Ticket.objects.filter(pk=second.pk).update(version=2)
    response = api.bulk(
        "delete", url, [{"id": first.pk, "version": 1}, {"id": second.pk, "version": 1}]
    )
    assert response.status_code == 409, response.content
    assert response.json()["errors"][0]["current_version"] == 2
    assert Ticket.objects.count() == 2
    response = api.bulk(
        "delete", url, [{"id": first.pk, "version": 1}, {"id": second.pk, "version": 2}]
    )
    assert response.status_code in (200, 204), response.content
    assert Ticket.objects.count() == 0


def test_a_lenient_delete_keeps_only_the_stale_row(api):
    first, second = tickets(2)
    Ticket.objects.filter(pk=second.pk).update(version=2)
    payload = [{"id": first.pk, "version": 1}, {"id": second.pk, "version": 1}]
    response = api.bulk("delete", BULK, payload, HTTP_PREFER="handling=lenient")
    assert response.status_code == 207, response.content
    assert [item["status"] for item in response.json()["items"]] == ["deleted", "version_conflict"]
    assert list(Ticket.objects.values_list("pk", flat=True)) == [second.pk]


def test_bulk_results_and_reads_carry_the_new_version(api):
    first, second = tickets(2)
    response = api.bulk("patch", BULK, [{"id": first.pk, "title": "a", "version": 1}])
    assert response.status_code == 200, response.content
    assert response.json()["items"] == [
        {"index": 0, "status": "updated", "id": first.pk, "current_version": 2}
    ]
    response = api.get(f"{BULK}?ids={first.pk},{second.pk}")
    assert [(t["id"], t["version"]) for t in response.json()["results"]] == [
        (first.pk, 2),
        (second.pk, 1),
    ]


def test_upsert_checks_the_version_of_existing_rows(api):
    (ticket,) = tickets(1)
    Ticket.objects.filter(pk=ticket.pk).update(version=3)
    response = api.bulk(
        "post", f"{BULK}?upsert=id", [{"id": ticket.pk, "title": "a", "version": 2}]
    )
    assert response.status_code == 409, response.content
    assert response.json()["errors"][0]["current_version"] == 3
    response = api.bulk(
        "post", f"{BULK}?upsert=id", [{"id": ticket.pk, "title": "a", "version": 3}]
    )
    assert response.status_code == 200, response.content
    assert Ticket.objects.get().version == 4


def test_upsert_does_not_bring_back_a_row_that_is_gone(api):
    response = api.bulk("post", f"{BULK}?upsert=id", [{"id": 999, "title": "a", "version": 3}])
    assert response.status_code == 409, response.content
    assert response.json()["errors"][0]["current_version"] is None
    assert not Ticket.objects.exists()


def test_timestamps_are_compared_exactly(api):
    page = Page.objects.create(title="p")
    read = api.get(f"/api/pages/bulk/?ids={page.pk}").json()["results"][0]["updated_at"]
    response = api.bulk("patch", "/api/pages/", [{"id": page.pk, "title": "a", "updated_at": read}])
    assert response.status_code == 200, response.content
    new = response.json()[0]["updated_at"]
    assert new != read
    page.refresh_from_db()
    assert page.title == "a"
    # The same old timestamp again: the row has moved on.
    response = api.bulk("patch", "/api/pages/", [{"id": page.pk, "title": "b", "updated_at": read}])
    assert response.status_code == 409, response.content
    assert response.json()["errors"][0]["current_version"] == new
    page.refresh_from_db()
    assert page.title == "a"
    response = api.bulk(
        "patch", "/api/pages/", [{"id": page.pk, "title": "c", "updated_at": "yesterday"}]
    )
    assert response.status_code == 400, response.content
    response = api.bulk("delete", "/api/pages/", [{"id": page.pk, "updated_at": new}])
    assert response.status_code == 204, response.content
    assert not Page.objects.exists()


def test_one_update_per_batch_carries_the_version_condition(api, settings):
    settings.REST_FRAMEWORK_BULK = {"BATCH_SIZE": 10}
    objs = tickets(25)
    payload = [{"id": t.pk, "title": "n", "version": 1} for t in objs]
    with CaptureQueriesContext(connection) as queries:
        response = api.bulk("patch", TICKETS, payload)
    assert response.status_code == 200, response.content
    updates = [
        q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")
    ]
    assert len(updates) == 3
    column = connection.ops.quote_name("version")
    assert all(f".{column} IS" in sql or f".{column} <=>" in sql for sql in updates), updates
    assert set(Ticket.objects.values_list("version", flat=True)) == {2}


@pytest.mark.parametrize("lock_rows", [True, False])
def test_a_row_written_between_read_and_write_is_a_conflict(api, settings, monkeypatch, lock_rows):
    """The UPDATE itself checks the version: a change after the check still fails the item."""
    settings.REST_FRAMEWORK_BULK = {"LOCK_ROWS": lock_rows}
    first, second = tickets(2)
    original = BulkOperation.save

    def save(self, serializer, result, perform, action):
        # Another writer, after the check and before the write.
        Ticket.objects.filter(pk=second.pk).update(version=9, title="theirs")
        return original(self, serializer, result, perform, action)

    monkeypatch.setattr(BulkOperation, "save", save)
    payload = [
        {"id": first.pk, "title": "a", "version": 1},
        {"id": second.pk, "title": "b", "version": 1},
    ]
    response = api.bulk("patch", TICKETS, payload, HTTP_PREFER="handling=lenient")
    assert response.status_code == 207, response.content
    items = response.json()["items"]
    assert items[0]["status"] == "updated"
    assert (items[1]["status"], items[1]["current_version"]) == ("version_conflict", 9)
    assert rows() == [(first.pk, "a", 2), (second.pk, "theirs", 9)]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="needs concurrent connections to a server"
)
@pytest.mark.parametrize("lock_rows", [True, False])
@pytest.mark.parametrize("url", [TICKETS, BULK])
def test_concurrent_editors_with_the_same_version(settings, lock_rows, url):
    settings.REST_FRAMEWORK_BULK = {"LOCK_ROWS": lock_rows, "BATCH_SIZE": 5}
    objs = tickets(12)
    payload = [{"id": t.pk, "title": "x", "version": 1} for t in objs]
    results = run_concurrently(
        [
            ("one", "patch", url, [{**item, "title": "one"} for item in payload]),
            ("two", "patch", url, [{**item, "title": "two"} for item in reversed(payload)]),
        ]
    )
    statuses = sorted(status for status, _ in results.values())
    assert statuses == [200, 409], results
    loser = next(body for status, body in results.values() if status == 409)
    assert loser["code"] == "version_conflict"
    # Under row locks every item is checked before anything is written;
    # without them the write stops at the first batch that found a row moved on.
    assert len(loser["errors"]) == 12 if lock_rows else loser["errors"]
    assert {error["current_version"] for error in loser["errors"]} == {2}
    winner = next(name for name, (status, _) in results.items() if status == 200)
    assert set(Ticket.objects.values_list("title", "version")) == {(winner, 2)}
