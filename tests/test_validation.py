"""Batched validation: ``rest_framework_bulk.validation`` driven on a child serializer.

Each test prepares a child serializer for a batch with ``BatchValidation``,
then validates the items one by one as ``BulkListSerializer`` does, and
checks both the outcome (DRF's own messages and codes) and the statements
sent: one per related field and one per unique check for the whole batch,
none per item.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import relations, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.validators import UniqueTogetherValidator, UniqueValidator

from rest_framework_bulk.validation import (
    BatchedUniqueValidator,
    BatchValidation,
    RelationCache,
    chunks,
    prefetch,
    query_chunk_size,
    unique_constraint_validators,
)
from rest_framework_bulk.values import convert

from .factories import AccountFactory, DocumentFactory, ItemFactory, TagFactory
from .models import Account, Document, Item
from .serializers import DocumentSerializer, ItemSerializer

pytestmark = pytest.mark.django_db


def validate(child, items, instances=None, batch_size=100):
    """Validate ``items`` as ``BulkListSerializer`` does: ``{index: data or error codes}``.

    The batch's queries run when it is prepared; validating the items
    themselves must not send a single one.
    """
    batch = BatchValidation(child, items, instances, batch_size)
    outcome = {}
    with CaptureQueriesContext(connection) as per_item:
        for index, item in enumerate(items):
            child.instance = instances[index] if instances is not None else None
            child.initial_data = item
            batch.start(index)
            try:
                outcome[index] = child.run_validation(item)
            except ValidationError as exc:
                batch.fail(index)
                outcome[index] = exc.get_codes()
    child.instance = None
    assert statements(per_item) == []
    return outcome


def statements(captured) -> list[str]:
    """The captured SQL without identifier quotes, whatever the backend."""
    return [re.sub(r'[`"]', "", query["sql"]) for query in captured.captured_queries]


def new_item(owner, n, **fields):
    return {
        "account": owner.pk,
        "sku": f"NEW-{n}",
        "ref": f"R-{n}",
        "name": f"item {n}",
        "price": "1.00",
        "quantity": n,
        **fields,
    }


# chunks() and query_chunk_size() -------------------------------------------------


def test_chunks_cut_a_sequence_in_order():
    assert list(chunks([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
    assert list(chunks([1, 2], 2)) == [[1, 2]]
    assert list(chunks([], 3)) == []
    assert list(chunks("abcd", 3)) == ["abc", "d"]


def test_query_chunk_size_keeps_a_smaller_batch_size():
    assert query_chunk_size(Item.objects.all(), 10) == 10
    assert query_chunk_size(Item.objects.all(), 10, params_per_value=3) == 10


def test_query_chunk_size_fits_the_backend_parameter_limit():
    limit = connection.features.max_query_params
    size = query_chunk_size(Item.objects.all(), 1_000_000, params_per_value=2)
    if limit:  # SQLite: 999 parameters per statement
        assert size == (limit - 50) // 2
        assert query_chunk_size(Item.objects.all(), 1_000_000, params_per_value=limit) == 1
    else:  # PostgreSQL, MariaDB: no limit that matters
        assert size == 1_000_000


# Related fields -------------------------------------------------------------------


def test_related_fields_cost_one_query_each_for_the_batch(django_assert_num_queries):
    accounts = AccountFactory.create_batch(3)
    tags = TagFactory.create_batch(2)
    items = [new_item(accounts[n % 3], n, tags=[t.pk for t in tags]) for n in range(12)]
    child = ItemSerializer()

    with CaptureQueriesContext(connection) as prepared:
        batch = BatchValidation(child, items, None, batch_size=100)
    with django_assert_num_queries(0):
        for index, item in enumerate(items):
            batch.start(index)
            data = child.run_validation(item)
            assert data["account"] == accounts[index % 3]
            assert data["tags"] == tags

    sql = statements(prepared)
    # accounts, tags, sku, (account, ref)
    assert len(sql) == 4
    assert sum("FROM tests_account" in s and " IN (" in s for s in sql) == 1
    assert sum("FROM tests_tag" in s and " IN (" in s for s in sql) == 1


def test_related_lookups_go_in_batches_of_batch_size(django_assert_num_queries):
    accounts = AccountFactory.create_batch(5)
    items = [new_item(account, n) for n, account in enumerate(accounts)]

    with CaptureQueriesContext(connection) as prepared:
        BatchValidation(ItemSerializer(), items, None, batch_size=2)

    account_queries = [s for s in statements(prepared) if "FROM tests_account" in s]
    assert len(account_queries) == 3


def test_unknown_and_malformed_related_keys_fail_as_drf_says(django_assert_num_queries):
    account = AccountFactory()
    items = [
        new_item(account, 0),
        new_item(account, 1, account=account.pk + 100),
        new_item(account, 2, account=2.5),
        new_item(account, 3, account=str(account.pk)),
        new_item(account, 4, account=[account.pk]),
    ]

    with django_assert_num_queries(3):  # accounts, sku, (account, ref); none per item
        outcome = validate(ItemSerializer(), items)

    assert outcome[0]["account"] == account
    assert outcome[1] == {"account": ["does_not_exist"]}
    assert outcome[2] == {"account": ["incorrect_type"]}
    assert outcome[3]["account"] == account
    assert outcome[4] == {"account": ["incorrect_type"]}


def test_relation_cache_answers_from_the_batch_and_falls_back_for_others(
    django_assert_num_queries,
):
    known, later = AccountFactory(), AccountFactory()
    field = serializers.SlugRelatedField(slug_field="name", queryset=Account.objects.all())

    cache = RelationCache.for_field(field)
    assert RelationCache.for_field(field) is cache
    with django_assert_num_queries(1):
        cache.fill([known.name, known.name, "nobody"], batch_size=10)

    with django_assert_num_queries(0):
        assert field.to_internal_value(known.name) == known
    # A text the batch did not find goes to the database: its collation decides.
    with django_assert_num_queries(1):
        assert field.to_internal_value(later.name) == later
    with django_assert_num_queries(1), pytest.raises(ValidationError) as raised:
        field.to_internal_value("nobody")
    assert raised.value.get_codes() == ["does_not_exist"]


def test_relation_cache_knows_a_missing_pk_without_asking_again(django_assert_num_queries):
    account = AccountFactory()
    field = serializers.PrimaryKeyRelatedField(queryset=Account.objects.all())
    cache = RelationCache.for_field(field)
    cache.fill([account.pk, account.pk + 1], batch_size=10)

    with django_assert_num_queries(0):
        assert field.to_internal_value(str(account.pk)) == account
        with pytest.raises(ValidationError) as raised:
            field.to_internal_value(account.pk + 1)
    assert raised.value.get_codes() == ["does_not_exist"]
    # A key outside the batch is looked up as DRF would.
    with django_assert_num_queries(1), pytest.raises(ValidationError):
        field.to_internal_value(account.pk + 2)


def test_relation_cache_leaves_other_fields_alone():
    assert RelationCache.for_field(serializers.CharField()) is None
    assert (
        RelationCache.for_field(serializers.PrimaryKeyRelatedField(read_only=True)) is None
    )  # no queryset

    class Custom(serializers.PrimaryKeyRelatedField):
        def to_internal_value(self, data):
            return super().to_internal_value(data)

    assert RelationCache.for_field(Custom(queryset=Account.objects.all())) is None


# Unique validators ----------------------------------------------------------------


def test_unique_checks_cost_one_query_per_constraint(django_assert_num_queries):
    account = AccountFactory()
    ItemFactory(account=account, sku="TAKEN", ref="R-taken")
    items = [new_item(account, n) for n in range(10)]
    items[3]["sku"] = "TAKEN"
    items[7]["ref"] = "R-taken"

    with CaptureQueriesContext(connection) as captured:
        outcome = validate(ItemSerializer(), items)

    assert outcome[3] == {"sku": ["unique"]}
    assert outcome[7] == {"non_field_errors": ["unique"]}
    assert all(isinstance(outcome[i], dict) and "sku" in outcome[i] for i in (0, 5, 9))
    assert isinstance(outcome[0]["sku"], str)
    sql = statements(captured)
    assert len(sql) == 3  # accounts, sku, (account, ref)
    # On PostgreSQL the values of one column go as one array.
    [sku] = [s for s in sql if SKU_LOOKUP in s]
    assert "NEW-9" in sku and "TAKEN" in sku
    [together] = [s for s in sql if "ref IN (" in s]
    assert "account_id IN (" in together


def test_unique_checks_go_in_batches(django_assert_num_queries):
    account = AccountFactory()
    items = [new_item(account, n) for n in range(5)]

    with CaptureQueriesContext(connection) as captured:
        validate(ItemSerializer(), items, batch_size=2)

    sql = statements(captured)
    # Batches of two: three IN lists, or one array on PostgreSQL.
    assert len([s for s in sql if SKU_LOOKUP in s]) == (1 if ARRAYS else 3)
    assert len([s for s in sql if "ref IN (" in s]) == 3


ARRAYS = connection.vendor == "postgresql"
SKU_LOOKUP = "sku = ANY(" if ARRAYS else "sku IN ("


@pytest.fixture
def drf_unique_calls(monkeypatch):
    """The values DRF's own ``UniqueValidator.__call__()`` is asked about."""
    calls = []
    original = UniqueValidator.__call__

    def counted(self, value, serializer_field):
        calls.append(value)
        return original(self, value, serializer_field)

    monkeypatch.setattr(UniqueValidator, "__call__", counted)
    return calls


@pytest.mark.parametrize("compiled", [True, False])
def test_unique_checks_are_answered_from_the_batch_not_by_drf_per_item(compiled, drf_unique_calls):
    account = AccountFactory()
    ItemFactory(account=account, sku="TAKEN", ref="R-taken")
    items = [new_item(account, n) for n in range(6)]
    items[1]["sku"] = "TAKEN"
    items[4]["sku"] = items[2]["sku"]

    with override_settings(REST_FRAMEWORK_BULK={"COMPILED_SERIALIZERS": compiled}):
        serializer = ItemSerializer(data=items, many=True)
        with CaptureQueriesContext(connection) as captured:
            assert not serializer.is_valid()

    assert drf_unique_calls == []
    assert [e.index for e in serializer.item_errors] == [1, 4]
    assert [e.codes for e in serializer.item_errors] == [{"sku": ["unique"]}] * 2
    # accounts, sku and (account, ref): one each for the batch, none per item
    assert len(statements(captured)) == 3


def test_a_batched_unique_check_fails_with_drf_s_message_and_code():
    ItemFactory(sku="TAKEN")
    account = AccountFactory()
    items = [new_item(account, 0, sku="TAKEN"), new_item(account, 1), new_item(account, 1)]
    items[2]["ref"] = "R-2"
    drf = ItemSerializer(data=items[0])
    assert not drf.is_valid()
    [expected] = drf.errors["sku"]

    serializer = ItemSerializer(data=items, many=True)
    assert not serializer.is_valid()

    # In the database, and claimed by an earlier item: DRF's words both times.
    assert [(str(e), e.code) for e in serializer.errors[0]["sku"]] == [(str(expected), "unique")]
    assert [(str(e), e.code) for e in serializer.errors[2]["sku"]] == [(str(expected), "unique")]
    assert 1 not in serializer.errors


def test_a_value_the_batch_did_not_fetch_goes_through_drf_s_validator(
    drf_unique_calls, django_assert_num_queries
):
    ItemFactory(sku="ELSEWHERE")
    account = AccountFactory()
    child = ItemSerializer()
    batch = BatchValidation(child, [new_item(account, 0)], None, 100)
    batch.start(0)
    field = child.fields["sku"]
    [validator] = [v for v in field.validators if isinstance(v, BatchedUniqueValidator)]

    with django_assert_num_queries(0):
        validator("NEW-0", field)
    with django_assert_num_queries(1), pytest.raises(ValidationError) as caught:
        validator("ELSEWHERE", field)

    assert drf_unique_calls == ["ELSEWHERE"]
    assert caught.value.get_codes() == ["unique"]


def test_a_second_batch_starts_from_the_field_s_own_validator():
    account = AccountFactory()
    child = ItemSerializer()
    BatchValidation(child, [new_item(account, 0)], None, 100)
    first = child.fields["sku"].validators
    BatchValidation(child, [new_item(account, 1)], None, 100)

    [batched] = [v for v in child.fields["sku"].validators if isinstance(v, UniqueValidator)]
    [earlier] = [v for v in first if isinstance(v, UniqueValidator)]
    assert isinstance(batched, BatchedUniqueValidator)
    assert type(batched.original) is UniqueValidator
    assert batched.original is earlier.original


def test_a_value_claimed_by_an_earlier_item_fails_the_later_one():
    account = AccountFactory()
    items = [new_item(account, 0, sku="SAME"), new_item(account, 1, sku="SAME")]
    items.append(new_item(account, 2, ref=items[0]["ref"]))

    outcome = validate(ItemSerializer(), items)

    assert outcome[0]["sku"] == "SAME"
    assert outcome[1] == {"sku": ["unique"]}
    assert outcome[2] == {"non_field_errors": ["unique"]}


def test_an_item_that_failed_claims_nothing():
    account = AccountFactory()
    items = [
        new_item(account, 0, sku="SAME", name="forbidden"),
        new_item(account, 1, sku="SAME"),
    ]

    outcome = validate(ItemSerializer(), items)

    assert outcome[0] == {"name": ["forbidden_name"]}
    assert outcome[1]["sku"] == "SAME"


@pytest.mark.parametrize("spelling", ["taken", "TAKEN", "Taken ", " TAKEN"])
def test_the_batch_agrees_with_the_database_on_equal_texts(spelling):
    """MariaDB compares case- and trailing-space-insensitively; the others exactly."""
    ItemFactory(sku="TAKEN")
    account = AccountFactory()

    outcome = validate(ItemSerializer(), [new_item(account, 0, sku=spelling)])

    # DRF trims the text before anything compares it.
    taken = Item.objects.filter(sku=spelling.strip()).exists()
    assert (outcome[0] == {"sku": ["unique"]}) is taken
    if connection.vendor != "mysql":
        assert taken is (spelling.strip() == "TAKEN")


def test_updates_may_keep_their_own_values_but_not_take_others(django_assert_num_queries):
    account = AccountFactory()
    first, second, third = ItemFactory.create_batch(3, account=account)
    instances = list(Item.objects.filter(pk__in=[first.pk, second.pk, third.pk]))
    items = [
        {"sku": first.sku},  # its own
        {"sku": first.sku},  # the first item's
        {"sku": "FREE"},
    ]

    # sku; the instances' accounts and (account, ref) for unique_together, which
    # DRF checks with the instance's values of the fields an item omits.
    with django_assert_num_queries(3):
        outcome = validate(ItemSerializer(partial=True), items, instances)

    assert outcome[0] == {"sku": first.sku}
    assert outcome[1] == {"sku": ["unique"]}
    assert outcome[2] == {"sku": "FREE"}


def test_swapping_values_between_updated_rows_is_refused_rather_than_left_to_the_database():
    first, second = ItemFactory.create_batch(2)
    instances = [first, second]
    items = [{"sku": second.sku}, {"sku": first.sku}]

    outcome = validate(ItemSerializer(partial=True), items, instances)

    # Row-by-row writes would collide on the unique index halfway.
    assert outcome[0] == {"sku": ["unique"]}


def test_partial_updates_read_omitted_unique_together_fields_from_prefetched_instances(
    django_assert_num_queries,
):
    accounts = AccountFactory.create_batch(3)
    rows = [ItemFactory(account=accounts[n % 3]) for n in range(6)]
    taken = ItemFactory(account=accounts[0], ref="R-taken")
    # Fresh instances, their accounts not loaded yet.
    instances = list(Item.objects.filter(pk__in=[r.pk for r in rows]).order_by("pk"))
    items = [{"ref": f"R-new-{n}"} for n in range(6)]
    items[3]["ref"] = taken.ref  # rows[3] is in accounts[0]
    items[4]["ref"] = taken.ref  # rows[4] is in accounts[1]: free there

    with CaptureQueriesContext(connection) as captured:
        outcome = validate(ItemSerializer(partial=True), items, instances)

    assert outcome[3] == {"non_field_errors": ["unique"]}
    assert outcome[4] == {"ref": taken.ref}
    sql = statements(captured)
    # The instances' accounts once, the (account, ref) check once.
    assert len(sql) == 2, sql
    assert "FROM tests_account" in sql[0]


def test_unbounded_integers_get_the_range_a_column_can_hold():
    account = AccountFactory()
    items = [new_item(account, 0, quantity=2**70), new_item(account, 1, quantity=-(2**70))]

    outcome = validate(ItemSerializer(), items)

    assert outcome[0] == {"quantity": ["max_value"]}
    assert outcome[1] == {"quantity": ["min_value"]}


def test_items_that_are_not_objects_do_not_break_the_batch():
    account = AccountFactory()
    items = [new_item(account, 0), "text", None, [1], new_item(account, 1)]

    outcome = validate(ItemSerializer(), items)

    assert outcome[0]["sku"] == "NEW-0"
    assert outcome[4]["sku"] == "NEW-1"
    assert all(outcome[i] == {"non_field_errors": ["invalid"]} for i in (1, 3))


# prefetch() -----------------------------------------------------------------------


def test_prefetch_loads_a_relation_once(django_assert_num_queries):
    rows = ItemFactory.create_batch(4)
    instances = list(Item.objects.filter(pk__in=[r.pk for r in rows]))

    with django_assert_num_queries(1):
        prefetch([*instances, None], ["account"])
    with django_assert_num_queries(0):
        assert [i.account.name for i in instances] == [r.account.name for r in rows]


def test_prefetch_skips_lookups_that_do_not_apply(django_assert_num_queries):
    rows = ItemFactory.create_batch(2)
    instances = list(Item.objects.filter(pk__in=[r.pk for r in rows]))

    with django_assert_num_queries(1):
        prefetch(instances, ["name", "no_such_relation", "account"])
    with django_assert_num_queries(0):
        prefetch([], ["account"])
        prefetch([None], ["account"])
        instances[0].account  # noqa: B018 - loaded by the prefetch


# unique_constraint_validators() -----------------------------------------------------


class UnvalidatedDocumentSerializer(serializers.ModelSerializer):
    """Without DRF's own validators, as DRF 3.14 builds a UniqueConstraint."""

    class Meta:
        model = Document
        fields = ["id", "title", "version", "body"]
        validators: list = []


class RenamedDocumentSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="title", max_length=100)

    class Meta:
        model = Document
        fields = ["id", "name", "version"]
        validators: list = []


def test_a_unique_constraint_drf_left_out_gets_a_validator():
    serializer = UnvalidatedDocumentSerializer()

    [validator] = unique_constraint_validators(serializer)

    assert isinstance(validator, UniqueTogetherValidator)
    assert list(validator.fields) == ["title", "version"]
    assert set(validator.defaults) == {"version"}


def test_a_covered_constraint_gets_no_second_validator():
    serializer = DocumentSerializer()
    added = unique_constraint_validators(serializer)

    validators = [*serializer.validators, *added]
    covering = [
        v
        for v in validators
        if isinstance(v, UniqueTogetherValidator) and set(v.fields) == {"title", "version"}
    ]
    assert len(covering) == 1


def test_the_validator_names_serializer_fields_not_model_fields():
    [validator] = unique_constraint_validators(RenamedDocumentSerializer())

    assert list(validator.fields) == ["name", "version"]


def test_a_constraint_over_fields_the_serializer_lacks_gets_no_validator():
    class TitleOnly(serializers.ModelSerializer):
        class Meta:
            model = Document
            fields = ["id", "title"]
            validators: list = []

    assert unique_constraint_validators(TitleOnly()) == []
    assert unique_constraint_validators(serializers.Serializer()) == []


@pytest.mark.parametrize(
    ("data", "codes"),
    [
        ({"title": "Taken"}, {"non_field_errors": ["unique"]}),  # version defaults to 1
        ({"title": "Taken", "version": 1}, {"non_field_errors": ["unique"]}),
        ({"title": "Taken", "version": 2}, None),
        ({"title": "Free"}, None),
    ],
)
def test_the_added_validator_checks_the_model_default(data, codes):
    DocumentFactory(title="Taken", version=1)
    serializer = UnvalidatedDocumentSerializer(data=data)
    serializer.validators = unique_constraint_validators(serializer)

    valid = serializer.is_valid()

    assert valid is (codes is None), serializer.errors
    if codes is not None:
        assert {k: [e.code for e in v] for k, v in serializer.errors.items()} == codes


def test_the_added_validator_takes_part_in_the_batch(django_assert_num_queries):
    DocumentFactory(title="Taken", version=1)
    child = UnvalidatedDocumentSerializer()
    child.validators = unique_constraint_validators(child)
    items = [{"title": "Taken"}, {"title": "A"}, {"title": "A"}, {"title": "A", "version": 2}]

    with django_assert_num_queries(1):
        outcome = validate(child, items)

    assert outcome[0] == {"non_field_errors": ["unique"]}
    assert outcome[1]["title"] == "A"
    assert outcome[2] == {"non_field_errors": ["unique"]}
    assert outcome[3]["version"] == 2


# Relation keys and raw values ------------------------------------------------

KEYS = [0, 1, -1, 2**31, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, True, 1.0, 2.5, "7", " 7 ", "x"]
# As CSV cells send them.
KEYS += ["0", "007", "2147483647", "2147483648", str(2**63 - 1), str(2**63), "1" * 19, "\u0663"]
KEYS += ["1_000", "+7", "-7", "2.0", "", "7\n"]


@pytest.mark.parametrize("data", KEYS, ids=repr)
def test_relation_keys_are_convert_s_answer(data):
    """An integer key checked against the column's range once per batch means what ``convert()`` says."""
    field = relations.PrimaryKeyRelatedField(queryset=Account.objects.all())
    cache = RelationCache.for_field(field)
    assert cache.integer_range is not None
    try:
        expected = ("ok", convert(Account._meta.pk, data))
    except ValueError:
        expected = ("refused",)
    try:
        actual = ("ok", cache.key(data))
    except ValueError:
        actual = ("refused",)
    assert actual == expected
    assert type(actual[-1]) is type(expected[-1])


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(
        st.text(alphabet="0123456789 +-._\u0663\uff11", max_size=22),
        st.integers(min_value=-(2**65), max_value=2**65).map(str),
    )
)
def test_text_relation_keys_are_convert_s_answer(data):
    test_relation_keys_are_convert_s_answer(data)


def test_only_related_fields_read_the_raw_values():
    """Other fields are not looked at while relations are prefetched."""
    from rest_framework import serializers

    from rest_framework_bulk import BulkListSerializer, BulkSerializerMixin

    read = []

    class Watched(serializers.CharField):
        def get_value(self, dictionary):
            read.append(self.field_name)
            return super().get_value(dictionary)

    class Serializer(BulkSerializerMixin, serializers.ModelSerializer):
        name = Watched()

        class Meta:
            model = Item
            fields = ["account", "sku", "ref", "name"]
            list_serializer_class = BulkListSerializer

    account = Account.objects.create(name="a")
    items = [{"account": account.pk, "sku": f"S{i}", "ref": f"R{i}", "name": "n"} for i in range(3)]
    serializer = Serializer(data=items, many=True)
    assert serializer.is_valid(), serializer.errors
    assert read == ["name"] * 3  # once per item, by validation itself
