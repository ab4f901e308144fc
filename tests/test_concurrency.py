"""Two bulk requests touching the same rows wait for each other; they never deadlock."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from .factories import ItemFactory
from .models import Item

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("small_batches"),
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="SQLite locks the whole database; the test database is private to one connection",
    ),
]


def test_opposite_order_updates_do_not_deadlock():
    items = ItemFactory.create_batch(40)
    ids = [item.pk for item in items]
    barrier = threading.Barrier(2)
    results: dict[str, int] = {}

    def patch(name, order, quantity):
        try:
            barrier.wait(timeout=10)
            body = json.dumps([{"id": pk, "quantity": quantity} for pk in order])
            response = APIClient().patch("/api/items/", data=body, content_type="application/json")
            results[name] = response.status_code
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=patch, args=("forward", ids, 1)),
        threading.Thread(target=patch, args=("backward", list(reversed(ids)), 2)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == {"forward": 200, "backward": 200}
    # One request ran after the other: every row carries the same value.
    assert len(set(Item.objects.values_list("quantity", flat=True))) == 1


@pytest.fixture
def small_batches(settings):
    # Several write batches per request, in payload order: without row locks
    # taken up front in primary-key order these two requests deadlock.
    settings.REST_FRAMEWORK_BULK = {"BATCH_SIZE": 10}


def run_concurrently(requests):
    """Send ``(name, method, url, payload)`` requests at once; their status codes and bodies."""
    barrier = threading.Barrier(len(requests))
    results: dict[str, tuple[int, object]] = {}

    def send(name, method, url, payload):
        try:
            barrier.wait(timeout=10)
            response = getattr(APIClient(), method)(
                url, data=json.dumps(payload), content_type="application/json"
            )
            results[name] = (response.status_code, response.json() if response.content else None)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=request) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.parametrize("url", ["/api/items/", "/v2/items/bulk/", "/v2/items/bulk/?upsert=sku"])
def test_opposite_order_creates_of_the_same_keys_do_not_deadlock(url):
    account = ItemFactory().account
    payload = [
        {"account": account.pk, "sku": f"K{i:03d}", "ref": f"r{i}", "name": "n"} for i in range(40)
    ]
    results = run_concurrently(
        [("forward", "post", url, payload), ("backward", "post", url, list(reversed(payload)))]
    )
    statuses = sorted(status for status, _ in results.values())
    # One wins. The other finds the keys taken: in validation (400), in the
    # database (409 conflict), or as an upsert after the winner committed
    # (200). It never deadlocks (409 transaction_conflict), since both insert
    # in key order.
    assert statuses[0] in (200, 201), results
    assert statuses[1] in (200, 201, 400, 409), results
    codes = {
        body["code"] for _, body in results.values() if isinstance(body, dict) and "code" in body
    }
    assert codes <= {"conflict", "unique", "invalid"}, results
    assert Item.objects.filter(sku__startswith="K").count() == 40
