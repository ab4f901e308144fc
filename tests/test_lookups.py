"""Filtering on long lists of values: ``= ANY`` on PostgreSQL, ``IN`` elsewhere, the same rows."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rest_framework_bulk.lookups import filtered_in_chunks, takes_as_array
from tests.models import Item, SimpleModel, Tag

pytestmark = pytest.mark.django_db

# What a column can hold on every backend: no NUL, no lone surrogates.
texts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30
)


def found(queryset, name, values, size=7):
    with CaptureQueriesContext(connection) as queries:
        rows = set()
        for _chunk, filtered in filtered_in_chunks(queryset, name, values, size):
            rows.update(filtered.values_list("pk", flat=True))
    return rows, [query["sql"] for query in queries.captured_queries]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stored=st.lists(texts, max_size=20, unique=True), asked=st.lists(texts, max_size=40))
def test_text_values_find_the_rows_in_does(stored, asked):
    Tag.objects.all().delete()
    for name in stored:
        # Collations may call two spellings the same name (MariaDB): keep the first.
        try:
            with transaction.atomic():
                Tag.objects.create(name=name)
        except IntegrityError:
            continue
    queryset = Tag.objects.all()

    rows, statements = found(queryset, "name", asked)

    assert rows == set(queryset.filter(name__in=asked).values_list("pk", flat=True))
    if not asked:
        assert statements == []
    elif connection.vendor == "postgresql":
        assert len(statements) == 1
        assert "= ANY(" in statements[0]
    else:
        assert len(statements) == -(-len(asked) // 7)
        assert all(" IN (" in sql for sql in statements)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(asked=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=30))
def test_integer_values_find_the_rows_in_does(asked):
    SimpleModel.objects.all().delete()
    objs = SimpleModel.objects.bulk_create(SimpleModel(number=n, contents="x") for n in range(5))
    pks = [obj.pk for obj in objs]
    values = [*asked, *pks[:2]]

    rows, statements = found(SimpleModel.objects.all(), "pk", values)

    assert rows == set(pks) & set(values)
    if connection.vendor == "postgresql":
        assert len(statements) == 1
        assert "= ANY(" in statements[0]


def test_other_fields_and_mixed_values_take_in():
    item_account = Item._meta.get_field("account")
    assert not takes_as_array(item_account, [1, 2])
    sku = Item._meta.get_field("sku")
    assert takes_as_array(sku, ["a", "b"])
    assert not takes_as_array(sku, ["a", 1])
    assert not takes_as_array(SimpleModel._meta.pk, [1, True])
    assert takes_as_array(SimpleModel._meta.pk, [1, 2])
