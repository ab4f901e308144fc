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
