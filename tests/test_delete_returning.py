"""A delete by ids that nothing looks at is one ``DELETE ... RETURNING`` per batch (one on PostgreSQL).

The statements sent are asserted, not only the rows: the fast path reads no
row before deleting it, and the paths that must see whole rows (receivers,
overridden ``delete()``, object permissions, cascades) still read them.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from rest_framework_bulk import writers

from .models import Record, SimpleModel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def returning(db):
    if not writers.can_delete_returning("default"):
        pytest.skip("MySQL returns no rows from DELETE; deletes read the rows there")


SIMPLE = "/api/simple/"  # scoped to number > 5


def make(*numbers):
    return [SimpleModel.objects.create(number=n, contents="c") for n in numbers]


def statements(captured):
    return [query["sql"].upper() for query in captured.captured_queries]


def test_one_delete_returning_and_no_select(api):
    rows = make(6, 7, 8)
    with CaptureQueriesContext(connection) as captured:
        response = api.bulk("delete", SIMPLE, [row.pk for row in rows])
    assert response.status_code == 204, response.content
    sent = statements(captured)
    deletes = [sql for sql in sent if sql.startswith("DELETE")]
    assert len(deletes) == 1 and "RETURNING" in deletes[0]
    assert not [sql for sql in sent if sql.startswith("SELECT")]
    assert not SimpleModel.objects.exists()


@override_settings(REST_FRAMEWORK_BULK={"BATCH_SIZE": 2})
def test_one_statement_per_batch_or_one_in_all_on_postgresql(api):
    rows = make(6, 7, 8, 9, 10)
    with CaptureQueriesContext(connection) as captured:
        response = api.bulk("delete", SIMPLE, [row.pk for row in rows])
    assert response.status_code == 204, response.content
    deletes = [sql for sql in statements(captured) if sql.startswith("DELETE")]
    if connection.vendor == "postgresql":
        # The ids bound as one array: no parameter limit to split for.
        assert len(deletes) == 1 and "= ANY(" in deletes[0]
    else:
        assert len(deletes) == 3 and " IN (" in deletes[0]
    assert not SimpleModel.objects.exists()


def test_strict_unknown_or_out_of_scope_ids_delete_nothing(api):
    inside = make(6, 7)
    outside = make(1)[0]
    body = [inside[0].pk, outside.pk, inside[1].pk, 10**9]
    response = api.bulk("delete", SIMPLE, body)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert [(error["index"], error["code"]) for error in errors] == [
        (1, "not_found"),
        (3, "not_found"),
    ]
    assert errors[0]["lookup"] == outside.pk
    assert SimpleModel.objects.count() == 3


def test_lenient_deletes_exactly_what_it_reports(api):
    inside = make(6, 7)
    outside = make(1)[0]
    body = [inside[0].pk, outside.pk, inside[1].pk, inside[0].pk]
    response = api.bulk("delete", SIMPLE, body, HTTP_PREFER="handling=lenient")
    assert response.status_code == 207, response.content
    items = {item["index"]: item for item in response.json()["items"]}
    assert items[0]["status"] == "deleted" and items[0]["id"] == inside[0].pk
    assert items[2]["status"] == "deleted" and items[2]["id"] == inside[1].pk
    assert items[1]["code"] == "not_found"
    assert items[3]["code"] == "duplicate_lookup"
    assert list(SimpleModel.objects.values_list("pk", flat=True)) == [outside.pk]


def test_dry_run_reads_and_deletes_nothing(api):
    rows = make(6, 7)
    with CaptureQueriesContext(connection) as captured:
        response = api.bulk("delete", SIMPLE + "?dry_run=1", [row.pk for row in rows])
    assert response.status_code == 200, response.content
    assert not [sql for sql in statements(captured) if sql.startswith("DELETE")]
    assert SimpleModel.objects.count() == 2


def test_delete_receivers_still_get_whole_rows(api):
    records = [Record.objects.create(name=f"r{i}") for i in range(3)]
    with CaptureQueriesContext(connection) as captured:
        response = api.bulk("delete", "/api/records/", [record.pk for record in records])
    assert response.status_code == 204, response.content
    deletes = [sql for sql in statements(captured) if sql.startswith("DELETE")]
    assert deletes and not [sql for sql in deletes if "RETURNING" in sql]
    assert not Record.objects.exists()
