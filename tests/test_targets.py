"""Finding the objects items name: ``rest_framework_bulk.targets`` (and ``values``)."""

from __future__ import annotations

import decimal
import json
import math
import re
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rest_framework_bulk.targets import (
    check_object_permissions,
    display,
    fetch,
    fetch_all,
    get_lookup_field,
    get_model_field,
    lookup_values,
    not_found,
)
from rest_framework_bulk.values import INTEGER_RANGE, convert, integer_range

from .direct import make_view
from .factories import ArticleFactory, ItemFactory, UserFactory
from .models import Article, Document, Item
from .serializers import ArticleSerializer, ItemSerializer
from .views import ItemViewSet

ITEM_ID = Item._meta.pk
SLUG = Article._meta.get_field("slug")

properties = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

needs_db = pytest.mark.django_db


def locks() -> bool:
    return connection.features.has_select_for_update


# get_lookup_field() and get_model_field() -------------------------------------


def test_lookup_field_comes_from_the_serializer_meta():
    assert get_lookup_field(ItemSerializer()) == "id"
    assert get_lookup_field(ArticleSerializer()) == "slug"
    assert get_lookup_field(ArticleSerializer(many=True)) == "slug"


def test_model_field_by_name_and_pk():
    assert get_model_field(Article, "slug") is SLUG
    assert get_model_field(Item, "pk") is ITEM_ID
    assert get_model_field(Document, "pk") is Document._meta.pk


def test_model_field_that_does_not_exist_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="'Item' has no field named 'code'"):
        get_model_field(Item, "code")


# lookup_values() ----------------------------------------------------------------


def test_lookup_values_of_objects():
    values, errors = lookup_values([{"id": 3}, {"id": "4"}, {"id": 5.0}], "id", ITEM_ID)

    assert values == [3, 4, 5]
    assert errors == []


def test_an_item_without_its_lookup_is_missing_lookup():
    values, errors = lookup_values([{"id": 1}, {"name": "x"}, {"id": None}], "id", ITEM_ID)

    assert values == [1, None, None]
    assert [(e.index, e.code, e.lookup) for e in errors] == [
        (1, "missing_lookup", None),
        (2, "missing_lookup", None),
    ]
    assert errors[0].detail == "This item has no `id`, so it cannot be matched to an object."


@pytest.mark.parametrize("raw", [2.5, "abc", True, [1], {"id": 1}, 2**70, "1_000", "\x00"])
def test_an_unusable_lookup_is_invalid_lookup(raw):
    values, errors = lookup_values([{"id": raw}], "id", ITEM_ID)

    assert values == [None]
    [error] = errors
    assert error.code == "invalid_lookup"
    assert error.index == 0
    assert "is not a valid `id`" in error.detail
    json.dumps(error.as_dict())  # shown back to the client as it is


def test_a_huge_lookup_is_shown_as_text():
    _, [error] = lookup_values([{"id": 2**70}], "id", ITEM_ID)

    assert error.lookup == str(2**70)


def test_a_second_item_naming_the_same_object_is_duplicate_lookup():
    values, errors = lookup_values([{"id": 7}, {"id": "7"}, {"id": 8}, {"id": 7.0}], "id", ITEM_ID)

    assert values == [7, None, 8, None]
    assert [(e.index, e.code, e.lookup) for e in errors] == [
        (1, "duplicate_lookup", 7),
        (3, "duplicate_lookup", 7),
    ]
    assert errors[0].detail == "Item 0 already names the object with `id` 7."


def test_an_item_in_error_claims_nothing():
    # The invalid first item does not make the second a duplicate.
    values, errors = lookup_values([{"id": "7x"}, {"id": 7}], "id", ITEM_ID)

    assert values == [None, 7]
    assert [e.code for e in errors] == ["invalid_lookup"]


def test_scalars_are_refused_unless_allowed():
    _, errors = lookup_values([3], "id", ITEM_ID)
    assert [(e.code, e.detail) for e in errors] == [
        ("invalid", "Expected an object with `id`, got int.")
    ]

    values, errors = lookup_values([3, {"id": 4}, "5"], "id", ITEM_ID, scalars=True)
    assert values == [3, 4, 5]
    assert errors == []


@pytest.mark.parametrize("item", [None, True, [3], "x", 3])
def test_non_objects_are_invalid_without_scalars(item):
    values, [error] = lookup_values([item], "id", ITEM_ID)

    assert values == [None]
    assert error.code == "invalid"


@pytest.mark.parametrize(
    ("item", "code"), [(None, "invalid"), (False, "invalid"), ([1], "invalid")]
)
def test_scalars_never_take_null_booleans_or_lists(item, code):
    _, [error] = lookup_values([item], "id", ITEM_ID, scalars=True)

    assert error.code == code


def test_errors_count_from_the_start_offset():
    values, errors = lookup_values(
        [{"id": 1}, {"id": "x"}, {}, {"id": 1}], "id", ITEM_ID, start=100
    )

    assert values == [1, None, None, None]
    assert [(e.index, e.code) for e in errors] == [
        (101, "invalid_lookup"),
        (102, "missing_lookup"),
        (103, "duplicate_lookup"),
    ]
    assert errors[-1].detail == "Item 100 already names the object with `id` 1."


def test_lookup_values_by_slug_and_uuid():
    key = uuid.uuid4()
    values, errors = lookup_values(
        [{"slug": "a-b"}, {"slug": 5}, {"slug": "5"}, {"slug": 2.5}], "slug", SLUG
    )
    # A number names the text it spells; a float never names a text.
    assert values == ["a-b", "5", None, None]
    assert [(e.index, e.code) for e in errors] == [(2, "duplicate_lookup"), (3, "invalid_lookup")]

    values, errors = lookup_values([str(key), key.hex, 5], "id", Document._meta.pk, scalars=True)
    assert values == [key, None, None]
    assert [(e.index, e.code) for e in errors] == [(1, "duplicate_lookup"), (2, "invalid_lookup")]


# fetch() -------------------------------------------------------------------------


@needs_db
def test_fetch_maps_each_value_to_its_object(django_assert_num_queries):
    items = ItemFactory.create_batch(3)
    wanted = [items[2].pk, None, items[0].pk, items[2].pk + 1000]

    with django_assert_num_queries(1):
        found = fetch(Item.objects.all(), ITEM_ID, wanted, batch_size=100, lock_rows=False)

    assert found == {items[2].pk: items[2], items[0].pk: items[0]}


@needs_db
def test_fetch_of_nothing_runs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert fetch(Item.objects.all(), ITEM_ID, [None, None], batch_size=2, lock_rows=True) == {}


@needs_db
@pytest.mark.parametrize(("count", "batch_size", "queries"), [(5, 2, 3), (4, 2, 2), (5, 5, 1)])
def test_fetch_runs_one_query_per_batch(django_assert_num_queries, count, batch_size, queries):
    items = ItemFactory.create_batch(count)

    with django_assert_num_queries(queries) as captured:
        found = fetch(
            Item.objects.all(),
            ITEM_ID,
            [item.pk for item in reversed(items)],
            batch_size=batch_size,
            lock_rows=False,
        )

    assert set(found) == {item.pk for item in items}
    assert all(" IN (" in query["sql"] for query in captured.captured_queries)
    assert not any("FOR UPDATE" in query["sql"] for query in captured.captured_queries)


@needs_db
def test_fetch_only_looks_in_the_queryset_it_is_given():
    mine, other = ItemFactory(quantity=1), ItemFactory(quantity=2)

    found = fetch(
        Item.objects.filter(quantity=1),
        ITEM_ID,
        [mine.pk, other.pk],
        batch_size=10,
        lock_rows=False,
    )

    assert found == {mine.pk: mine}


@needs_db
def test_fetch_by_a_field_other_than_the_pk():
    articles = ArticleFactory.create_batch(3)

    found = fetch(
        Article.objects.all(), SLUG, [articles[1].slug, "nope"], batch_size=10, lock_rows=False
    )

    assert found == {articles[1].slug: articles[1]}


def in_lists(queries) -> list[set[int]]:
    """The integers of each statement's ``IN (...)`` list, as the database received them."""
    lists = []
    for query in queries:
        match = re.search(r" IN \(([^)]*)\)", query["sql"])
        lists.append({int(value) for value in match.group(1).split(",")})
    return lists


@needs_db
def test_fetch_batches_go_in_primary_key_order():
    items = ItemFactory.create_batch(5)
    values = [item.pk for item in reversed(items)]
    ordered = sorted(values)

    with CaptureQueriesContext(connection) as captured:
        fetch(Item.objects.all(), ITEM_ID, values, batch_size=2, lock_rows=False)

    assert in_lists(captured.captured_queries) == [
        set(ordered[:2]),
        set(ordered[2:4]),
        set(ordered[4:]),
    ]


@needs_db
def test_fetch_locks_in_primary_key_order_when_asked(django_assert_num_queries):
    items = ItemFactory.create_batch(5)
    values = [item.pk for item in reversed(items)]
    ordered = sorted(values)

    with transaction.atomic(), django_assert_num_queries(3) as captured:
        found = fetch(Item.objects.all(), ITEM_ID, values, batch_size=2, lock_rows=True)

    assert set(found) == set(values)
    statements = [query["sql"] for query in captured.captured_queries]
    if locks():
        # Batches and rows in primary-key order: concurrent requests wait, never deadlock.
        assert all("FOR UPDATE" in sql and "ORDER BY" in sql for sql in statements)
        assert in_lists(captured.captured_queries) == [
            set(ordered[:2]),
            set(ordered[2:4]),
            set(ordered[4:]),
        ]
    else:  # SQLite locks the whole database instead
        assert not any("FOR UPDATE" in sql for sql in statements)


@needs_db
def test_fetch_without_lock_rows_never_locks(django_assert_num_queries):
    items = ItemFactory.create_batch(2)

    with transaction.atomic(), django_assert_num_queries(1) as captured:
        fetch(Item.objects.all(), ITEM_ID, [i.pk for i in items], batch_size=10, lock_rows=False)

    assert "FOR UPDATE" not in captured.captured_queries[0]["sql"]


@needs_db
def test_fetch_through_a_queryset_that_cannot_be_locked_locks_the_base_rows(
    django_assert_num_queries,
):
    items = ItemFactory.create_batch(5)
    queryset = Item.objects.filter(quantity__gte=0).distinct()
    values = [item.pk for item in items]

    # Per batch: the pks through the view's queryset; then per batch of pks a
    # lock of the base rows and a read through the view's queryset.
    queries = 3 + 3 + 3 if locks() else 3
    with transaction.atomic(), django_assert_num_queries(queries) as captured:
        found = fetch(queryset, ITEM_ID, values, batch_size=2, lock_rows=True)

    assert found == {item.pk: item for item in items}
    statements = [query["sql"] for query in captured.captured_queries]
    locked = [sql for sql in statements if "FOR UPDATE" in sql]
    assert len(locked) == (3 if locks() else 0)
    assert not any("DISTINCT" in sql for sql in locked)


@needs_db(transaction=True)
def test_fetch_outside_a_transaction_does_not_lock():
    items = ItemFactory.create_batch(2)

    with CaptureQueriesContext(connection) as captured:
        found = fetch(
            Item.objects.all(), ITEM_ID, [i.pk for i in items], batch_size=10, lock_rows=True
        )

    assert len(found) == 2
    assert [q for q in captured.captured_queries if "FOR UPDATE" in q["sql"]] == []


# fetch_all() --------------------------------------------------------------------


@needs_db
def test_fetch_all_returns_at_most_limit_plus_one_in_pk_order(django_assert_num_queries):
    items = ItemFactory.create_batch(5)

    with django_assert_num_queries(1):
        objects = fetch_all(Item.objects.order_by("-pk"), limit=2, batch_size=10, lock_rows=False)

    assert objects == items[:3]


@needs_db
def test_fetch_all_under_the_limit_returns_everything():
    items = ItemFactory.create_batch(3)

    assert fetch_all(Item.objects.all(), limit=3, batch_size=10, lock_rows=False) == items


@needs_db
def test_fetch_all_locks_when_asked(django_assert_num_queries):
    items = ItemFactory.create_batch(3)

    with transaction.atomic(), django_assert_num_queries(1) as captured:
        objects = fetch_all(Item.objects.all(), limit=10, batch_size=10, lock_rows=True)

    assert objects == items
    assert ("FOR UPDATE" in captured.captured_queries[0]["sql"]) is locks()


@needs_db
def test_fetch_all_of_an_unlockable_queryset_locks_base_rows_in_batches(
    django_assert_num_queries,
):
    items = ItemFactory.create_batch(5)
    queryset = Item.objects.filter(quantity__gte=0).distinct()

    with transaction.atomic(), django_assert_num_queries(1 + (3 if locks() else 0)) as captured:
        objects = fetch_all(queryset, limit=10, batch_size=2, lock_rows=True)

    assert objects == items
    locked = [q["sql"] for q in captured.captured_queries if "FOR UPDATE" in q["sql"]]
    assert len(locked) == (3 if locks() else 0)


# check_object_permissions(), not_found(), display() ---------------------------


@needs_db
def test_object_permissions_refuse_per_object():
    user = UserFactory()
    allowed, locked = ItemFactory(name="open"), ItemFactory(name="locked one")
    view = make_view(ItemViewSet, "patch", user=user)

    errors = check_object_permissions(view, [allowed, locked], [4, 9], [allowed.pk, "x" * 300])

    [error] = errors
    assert (error.index, error.code, error.detail) == (
        9,
        "permission_denied",
        "This item is locked.",
    )
    assert error.lookup == "x" * 100 + "…"


@needs_db
def test_object_permissions_of_an_anonymous_request_are_not_authenticated():
    locked = ItemFactory(name="locked")
    view = make_view(ItemViewSet, "patch")

    [error] = check_object_permissions(view, [locked], [0], [locked.pk])

    assert (error.code, error.lookup) == ("not_authenticated", locked.pk)


@needs_db
def test_object_permissions_that_allow_everything_give_no_error():
    view = make_view(ItemViewSet, "patch", user=UserFactory())
    items = ItemFactory.create_batch(3)

    assert check_object_permissions(view, items, [0, 1, 2], [i.pk for i in items]) == []


def test_not_found_names_the_field_and_value():
    error = not_found(5, "slug", "a-b")

    assert (error.index, error.code, error.lookup) == (5, "not_found", "a-b")
    assert error.detail == "No object with `slug` a-b was found."
    assert not_found(0, "id", 2**70).lookup == str(2**70)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (7, 7),
        (True, True),
        (None, None),
        (1.5, 1.5),
        (2**64, str(2**64)),
        (-(2**64), str(-(2**64))),
        (math.inf, "inf"),
        (math.nan, "nan"),
        ("a" * 101, "a" * 100 + "…"),
        ("\ud800x", "?x"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (decimal.Decimal("1.50"), "1.50"),
        ([1, 2], "[1, 2]"),
        ({"a": 1}, "{'a': 1}"),
    ],
)
def test_display(value, shown):
    assert display(value) == shown


# Properties of convert() and display() -------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=50)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
FIELDS = {
    "auto": ITEM_ID,
    "integer": Item._meta.get_field("quantity"),
    "positive": Document._meta.get_field("version"),
    "decimal": Item._meta.get_field("price"),
    "char": Item._meta.get_field("sku"),
    "slug": SLUG,
    "uuid": Document._meta.pk,
    "foreign_key": Item._meta.get_field("account"),
    "datetime": Item._meta.get_field("updated_at"),
}


@properties
@given(field=st.sampled_from(sorted(FIELDS)), raw=json_values)
def test_convert_accepts_or_raises_value_error_only(field, raw):
    """Whatever a client sends, a lookup value is a value or a ``ValueError``: never a 500."""
    try:
        value = convert(FIELDS[field], raw)
    except ValueError:
        return
    assert value is not None
    assert not isinstance(raw, (bool, list, dict))
    json.dumps(display(value), default=str)


@properties
@given(field=st.sampled_from(["auto", "integer", "foreign_key"]), number=st.integers())
def test_convert_reads_integers_in_every_spelling_or_refuses_them(field, number):
    model_field = FIELDS[field]
    target = model_field.target_field if model_field.is_relation else model_field
    low, high = integer_range(target)
    spellings = [number, str(number), f" {number} ", f"{number}.0"]
    if abs(number) < 2**53:
        spellings.append(float(number))
    for raw in spellings:
        if low <= number <= high:
            assert convert(model_field, raw) == number
            assert type(convert(model_field, raw)) is int
        else:
            with pytest.raises(ValueError):
                convert(model_field, raw)


@properties
@given(number=st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()))
def test_convert_never_rounds_a_fraction_to_an_integer(number):
    for raw in (number, decimal.Decimal(repr(number)), repr(number)):
        with pytest.raises(ValueError):
            convert(ITEM_ID, raw)


def test_integer_range_never_exceeds_64_bits_and_positive_fields_start_at_zero():
    for name, field in FIELDS.items():
        if name in ("auto", "integer", "positive"):
            low, high = integer_range(field)
            assert INTEGER_RANGE[0] <= low < high <= INTEGER_RANGE[1]
    assert integer_range(FIELDS["positive"])[0] == 0
    with pytest.raises(ValueError):
        convert(FIELDS["positive"], -1)


@properties
@given(key=st.uuids())
def test_convert_reads_a_uuid_only_from_text(key):
    field = Document._meta.pk
    assert convert(field, str(key)) == key
    assert convert(field, key.hex) == key
    assert convert(field, str(key).upper()) == key
    with pytest.raises(ValueError):
        convert(field, key.int)


@properties
@given(text=st.text(max_size=40), cut=st.integers(min_value=0, max_value=40))
def test_convert_refuses_text_with_nul_or_lone_surrogates(text, cut):
    position = min(cut, len(text))
    for bad in ("\x00", "\udc80"):
        with pytest.raises(ValueError):
            convert(FIELDS["char"], text[:position] + bad + text[position:])
    clean = text.replace("\x00", "")
    assert convert(FIELDS["char"], clean) == clean


@properties
@given(value=json_values)
def test_display_is_always_json_and_short(value):
    shown = display(value)

    text = json.dumps(shown)
    text.encode("utf-8")
    if isinstance(shown, str):
        assert len(shown) <= 111


@needs_db
@properties
@given(
    picks=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=3),
            st.sampled_from(["int", "str", "float", "padded", "object"]),
        ),
        max_size=8,
    ),
)
def test_every_spelling_of_a_pk_finds_the_same_row_once(db_items, picks):
    """``lookup_values`` and ``fetch`` together: each row is found by any
    spelling of its pk, and a second spelling of it is a duplicate."""
    spell = {
        "int": lambda pk: pk,
        "str": lambda pk: str(pk),
        "float": lambda pk: float(pk),
        "padded": lambda pk: f" {pk}.00 ",
        "object": lambda pk: {"id": pk},
    }
    items = [spell[how](db_items[which].pk) for which, how in picks]

    values, errors = lookup_values(items, "id", ITEM_ID, scalars=True)
    found = fetch(Item.objects.all(), ITEM_ID, values, batch_size=3, lock_rows=False)

    seen = set()
    duplicates = []
    for index, (which, _) in enumerate(picks):
        if which in seen:
            duplicates.append(index)
        else:
            assert found[values[index]] == db_items[which]
        seen.add(which)
    assert [e.index for e in errors] == duplicates
    assert {e.code for e in errors} <= {"duplicate_lookup"}
    assert len(found) == len(seen)


@pytest.fixture
def db_items(db):
    return ItemFactory.create_batch(4)
