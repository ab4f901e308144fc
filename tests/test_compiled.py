"""The compiled loop (``rest_framework_bulk.compiled``) against DRF's own code.

Each test runs the same data twice, with ``COMPILED_SERIALIZERS`` on and
off, and asserts that nothing a caller can see differs: validated data (to
the type of every value and of every dict), item errors with their codes,
representations, and the exceptions raised by broken fields or
``validate()`` methods.

Serializers are built by Hypothesis from every standard field class and
option the loop compiles, plus fields and serializers it must leave to DRF
(subclasses, instance overrides, ``source="*"``, list fields). Items mix
valid values with wrong types, ``None``, missing keys, out-of-range and huge
numbers, NaN and infinities, blank and oversized strings. Time-zone settings
and the active language vary per example. The last tests send bulk creates
over HTTP to the test app's endpoints and compare answers and rows.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import inspect
import json
import types
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.test import override_settings
from django.utils import translation
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rest_framework import fields, relations, serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.validators import UniqueValidator

from rest_framework_bulk import BulkListSerializer, BulkSerializerMixin
from rest_framework_bulk.compiled import child_renderer, child_validator, compilable
from rest_framework_bulk.csv import CSVRow
from rest_framework_bulk.plans import BulkPlan
from tests.models import Account, Article, Document, Item, SimpleModel
from tests.serializers import ItemSerializer
from tests.strategies import HUGE, hostile_number, hostile_text, hostile_value

pytestmark = [
    pytest.mark.django_db,
    # DRF 3.15 asks for Decimal bounds on a DecimalField; ints are tested too.
    pytest.mark.filterwarnings("ignore:m.._value should be a Decimal instance"),
]

differential = settings(
    max_examples=600,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

ACCOUNT_NAMES = ["north", "south", "East 1"]
BigIntegerField = getattr(fields, "BigIntegerField", None)
DECIMAL_OPTIONS = set(inspect.signature(fields.DecimalField.__init__).parameters)


@pytest.fixture
def accounts():
    return [Account.objects.create(name=name) for name in ACCOUNT_NAMES]


def compiled(enabled: bool):
    return override_settings(REST_FRAMEWORK_BULK={"COMPILED_SERIALIZERS": enabled})


# What a caller sees ------------------------------------------------------------


def seen(value):
    """``value`` with the type of everything in it, for exact comparison."""
    if isinstance(value, ErrorDetail):
        return ("ErrorDetail", str(value), value.code)
    if isinstance(value, Mapping):
        return (type(value).__name__, [(seen(k), seen(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [seen(v) for v in value])
    if hasattr(value, "_meta") and hasattr(value, "pk"):
        return ("model", type(value).__name__, value.pk)
    if isinstance(value, datetime.datetime):
        return ("datetime", repr(value), repr(value.tzinfo))
    return (type(value).__name__, repr(value))


def outcome(action):
    """What ``action()`` returns, or the exception it raises, as ``seen()``."""
    try:
        return ("ok", seen(action()))
    except Exception as exc:  # a broken field must break the same way on both paths
        return ("raised", type(exc).__name__, str(exc))


def validate(serializer_class, items, *, partial=False):
    serializer = serializer_class(data=copy.deepcopy(items), many=True, partial=partial)
    serializer.plan = BulkPlan(lenient=True)

    def run():
        serializer.is_valid()
        return {
            "validated_data": list(serializer.validated_data),
            "validated": serializer.outcome.validated,
            "errors": [
                (error.index, error.code, error.detail, error.codes)
                for error in serializer.outcome.errors
            ],
        }

    return outcome(run)


def render(serializer_class, objects):
    """Each object on its own, so that one that breaks a field hides no other."""
    return [
        outcome(lambda obj=obj: list(serializer_class([obj], many=True).data)) for obj in objects
    ]


def both(action, *args, **kwargs):
    """``action(*args, **kwargs)`` with the loop off, then on."""
    with compiled(False):
        expected = action(*args, **kwargs)
    with compiled(True):
        actual = action(*args, **kwargs)
    return expected, actual


# Fields ----------------------------------------------------------------------

TIME_ZONES = [None, datetime.timezone.utc, zoneinfo.ZoneInfo("Europe/Paris")]
TIME_ZONES.append(zoneinfo.ZoneInfo("America/New_York"))


class Shouting(fields.CharField):
    """A field subclass the loop does not know: DRF's code runs for it."""

    def to_internal_value(self, data):
        return super().to_internal_value(data).upper()


class Counting(fields.IntegerField):
    pass


def no_thirteen(value):
    if value == 13 or value == "13":
        raise serializers.ValidationError("Thirteen is unlucky.", code="unlucky")


def django_no_seven(value):
    if value in (7, "7"):
        raise DjangoValidationError("Seven is out.", code="seven")


def dict_detail(value):
    if value == "dict":
        raise serializers.ValidationError({"deep": ["A dict detail."]})


class NeedsContext:
    requires_context = True

    def __call__(self, value, field):
        if value == "ctx":
            raise serializers.ValidationError(f"Refused by {type(field).__name__}.", code="ctx")


FIELD_VALIDATORS = st.sampled_from(
    [[], [no_thirteen], [django_no_seven], [dict_detail, no_thirteen], [NeedsContext()]]
)

CHOICES = [
    [1, 2, 3],
    ["a", "b", "1"],
    [(1, "One"), ("x", "Ex")],
    [("Group", [(1, "one"), (2, "two")]), (3, "three")],
]

DATE_FORMATS = [fields.empty, None, "iso-8601", "%d/%m/%Y"]
DATETIME_FORMATS = [fields.empty, None, "iso-8601", "%Y-%m-%d %H:%M"]
TIME_FORMATS = [fields.empty, None, "iso-8601", "%H.%M"]


@dataclass
class Spec:
    kind: str
    options: dict = field(default_factory=dict)
    source: str | None = None

    def build(self, name: str):
        options = dict(self.options)
        if self.source:
            options["source"] = self.source
        return FIELD_BUILDERS[self.kind](options)


def _queryset_options(options):
    if not options.get("read_only"):
        options["queryset"] = Account.objects.all()
    return options


FIELD_BUILDERS = {
    "char": lambda o: fields.CharField(**o),
    "email": lambda o: fields.EmailField(**o),
    "slug": lambda o: fields.SlugField(**o),
    "integer": lambda o: fields.IntegerField(**o),
    "float": lambda o: fields.FloatField(**o),
    "decimal": lambda o: fields.DecimalField(**o),
    "boolean": lambda o: fields.BooleanField(**o),
    "choice": lambda o: fields.ChoiceField(**o),
    "date": lambda o: fields.DateField(**o),
    "datetime": lambda o: fields.DateTimeField(**o),
    "time": lambda o: fields.TimeField(**o),
    "uuid": lambda o: fields.UUIDField(**o),
    "json": lambda o: fields.JSONField(**o),
    "pk": lambda o: relations.PrimaryKeyRelatedField(**_queryset_options(o)),
    "slug_related": lambda o: relations.SlugRelatedField(slug_field="name", **_queryset_options(o)),
    # Left to DRF, inside the loop.
    "shouting": lambda o: Shouting(**o),
    "counting": lambda o: Counting(**o),
    "list": lambda o: fields.ListField(child=fields.IntegerField(), **o),
    "method": lambda o: serializers.SerializerMethodField(),
}
if BigIntegerField is not None:
    FIELD_BUILDERS["bigint"] = lambda o: BigIntegerField(**o)

KINDS = sorted(FIELD_BUILDERS)


@st.composite
def kind_options(draw, kind: str) -> dict:
    o: dict = {}
    if kind in ("char", "email", "slug", "shouting"):
        o["allow_blank"] = draw(st.booleans())
        o["trim_whitespace"] = draw(st.booleans())
        o["max_length"] = draw(st.sampled_from([None, 0, 3, 8, 1000]))
        o["min_length"] = draw(st.sampled_from([None, 0, 2]))
        if kind == "slug":
            o["allow_unicode"] = draw(st.booleans())
    elif kind in ("integer", "counting", "bigint"):
        o["min_value"] = draw(st.sampled_from([None, -5, 0, -(2**63)]))
        o["max_value"] = draw(st.sampled_from([None, 10, 2**31, *HUGE[:2]]))
        if kind == "bigint":
            o["coerce_to_string"] = draw(st.sampled_from([None, True, False]))
    elif kind == "float":
        o["min_value"] = draw(st.sampled_from([None, -1.5, 0]))
        o["max_value"] = draw(st.sampled_from([None, 10, 1e300]))
    elif kind == "decimal":
        o["max_digits"] = draw(st.sampled_from([None, 1, 5, 12]))
        o["decimal_places"] = draw(st.sampled_from([None, 0, 2, 4]))
        o["coerce_to_string"] = draw(st.sampled_from([None, True, False]))
        o["localize"] = draw(st.booleans())
        o["min_value"] = draw(st.sampled_from([None, 0, decimal.Decimal("-1.5")]))
        o["max_value"] = draw(st.sampled_from([None, 100, decimal.Decimal("99.99")]))
        o["rounding"] = draw(st.sampled_from([None, decimal.ROUND_HALF_UP, decimal.ROUND_DOWN]))
        if "normalize_output" in DECIMAL_OPTIONS:
            o["normalize_output"] = draw(st.booleans())
    elif kind == "choice":
        o["choices"] = draw(st.sampled_from(CHOICES))
        o["allow_blank"] = draw(st.booleans())
    elif kind in ("date", "datetime", "time"):
        formats = {"date": DATE_FORMATS, "datetime": DATETIME_FORMATS, "time": TIME_FORMATS}[kind]
        fmt = draw(st.sampled_from(formats))
        if fmt is not fields.empty:
            o["format"] = fmt
        inputs = draw(st.sampled_from([None, ["iso-8601"], [f for f in formats[2:]]]))
        if inputs is not None:
            o["input_formats"] = inputs
        if kind == "datetime":
            zone = draw(st.sampled_from(TIME_ZONES))
            if zone is not None:
                o["default_timezone"] = zone
    elif kind == "uuid":
        o["format"] = draw(st.sampled_from(["hex_verbose", "hex", "int", "urn"]))
    elif kind == "json":
        o["binary"] = draw(st.booleans())
    elif kind == "pk":
        if draw(st.booleans()):
            o["pk_field"] = fields.IntegerField()
    return o


@st.composite
def specs(draw, index: int) -> Spec:
    kind = draw(st.sampled_from(KINDS))
    o = draw(kind_options(kind))
    if kind == "method":
        return Spec(kind, {})
    mode = draw(st.sampled_from(["plain", "plain", "read_only", "write_only"]))
    if mode == "read_only":
        o["read_only"] = True
        if draw(st.booleans()) and kind not in ("pk", "slug_related"):
            o["default"] = draw(st.sampled_from(["fixed", 0, None]))
    else:
        if mode == "write_only":
            o["write_only"] = True
        default = draw(st.sampled_from([fields.empty, fields.empty, "fixed", 3, None, list]))
        if default is not fields.empty:
            o["default"] = default
            if draw(st.booleans()):
                o["required"] = False
        else:
            o["required"] = draw(st.sampled_from([None, True, False]))
        o["allow_null"] = draw(st.booleans())
        o["validators"] = draw(FIELD_VALIDATORS)
    source = draw(st.sampled_from([None, None, f"src{index}", f"nest.src{index}", "*"]))
    if source == "*" and kind not in ("json", "char") or source == "*" and mode == "read_only":
        source = None
    return Spec(kind, o, source)


# Serializers -----------------------------------------------------------------


def validate_name_method(value):
    return value


def serializer_validator(attrs):
    if attrs.get("f0") == "fixed":
        raise serializers.ValidationError("The whole item is refused.", code="refused")


def serializer_dict_validator(attrs):
    if attrs.get("f1") in (0, "0"):
        raise DjangoValidationError({"f1": "Zero is refused here."}, code="zero")


class Context:
    requires_context = True

    def __call__(self, attrs, serializer):
        if serializer.instance is not None or not isinstance(attrs, dict):
            raise AssertionError("validated a create without a dict")


@dataclass
class Case:
    specs: list[Spec]
    field_methods: dict
    validate_mode: str
    meta_validators: list
    mixin: bool
    settings: dict
    language: str

    def serializer_class(self):
        attrs = {f"f{i}": spec.build(f"f{i}") for i, spec in enumerate(self.specs)}
        for name, mode in self.field_methods.items():
            attrs[f"validate_{name}"] = FIELD_METHODS[mode]
        if self.validate_mode != "none":
            attrs["validate"] = VALIDATE_METHODS[self.validate_mode]
        if any(spec.kind == "method" for spec in self.specs):
            attrs.update({f"get_f{i}": lambda self, obj: "method" for i in range(len(self.specs))})
        attrs["Meta"] = type(
            "Meta",
            (),
            {"list_serializer_class": BulkListSerializer, "validators": self.meta_validators},
        )
        bases = (
            (BulkSerializerMixin, serializers.Serializer)
            if self.mixin
            else (serializers.Serializer,)
        )
        return type("DynamicSerializer", bases, attrs)


def _refuse_x(self, value):
    if value in ("x", "X"):
        raise serializers.ValidationError("No x.", code="no_x")
    return value


def _double(self, value):
    return value * 2 if isinstance(value, (int, str)) and not isinstance(value, bool) else value


def _django_refuse(self, value):
    if value is None:
        raise DjangoValidationError("None is refused by the method.", code="none")
    return value


FIELD_METHODS = {"refuse_x": _refuse_x, "double": _double, "django": _django_refuse}


def _validate_errors(self, attrs):
    if len(attrs) == 1:
        raise serializers.ValidationError({"f0": ["Not alone."]}, code="alone")
    return attrs


def _validate_list(self, attrs):
    if not attrs:
        raise serializers.ValidationError(["Empty.", "Really."])
    attrs["extra"] = len(attrs)
    return attrs


def _validate_none(self, attrs):
    if len(attrs) == 2:
        return None  # a bug DRF asserts on
    return attrs


def _validate_django(self, attrs):
    if len(attrs) == 3:
        raise DjangoValidationError("Three is refused.", code="three")
    return attrs


VALIDATE_METHODS = {
    "errors": _validate_errors,
    "list": _validate_list,
    "none": None,
    "returns_none": _validate_none,
    "django": _validate_django,
}


@st.composite
def cases(draw, max_fields: int = 5) -> Case:
    count = draw(st.integers(min_value=1, max_value=max_fields))
    field_specs = [draw(specs(i)) for i in range(count)]
    # Two fields may not write the same source (DRF asserts): keep the first.
    sources = set()
    for spec in field_specs:
        if spec.source and spec.source != "*":
            if spec.source.split(".")[0] in sources:
                spec.source = None
            sources.add(spec.source.split(".")[0] if spec.source else None)
    methods = draw(
        st.dictionaries(
            st.sampled_from([f"f{i}" for i in range(count)]),
            st.sampled_from(sorted(FIELD_METHODS)),
            max_size=2,
        )
    )
    return Case(
        specs=field_specs,
        field_methods=methods,
        validate_mode=draw(st.sampled_from(sorted(VALIDATE_METHODS))),
        meta_validators=draw(
            st.sampled_from([[], [serializer_validator], [serializer_dict_validator], [Context()]])
        ),
        mixin=draw(st.booleans()),
        settings=draw(
            st.sampled_from(
                [
                    {"USE_TZ": True, "TIME_ZONE": "UTC"},
                    {"USE_TZ": True, "TIME_ZONE": "Europe/Paris"},
                    {"USE_TZ": False, "TIME_ZONE": "America/New_York"},
                    {"USE_TZ": True, "TIME_ZONE": "Asia/Kolkata", "USE_THOUSAND_SEPARATOR": True},
                ]
            )
        ),
        language=draw(st.sampled_from(["en", "de", "fr"])),
    )


# Input values ----------------------------------------------------------------

MISSING = object()
#: True about one time in sixteen (``st.integers()`` favours its bounds).
RARELY = st.sampled_from([False] * 15 + [True])

VALID_INPUTS = {
    "char": st.one_of(st.text(max_size=10), st.integers(-50, 50), st.floats(allow_nan=False)),
    "email": st.sampled_from(["a@example.com", "not-an-email", "B@EXAMPLE.org ", "x@y"]),
    "slug": st.sampled_from(["a-slug", "with space", "ünï", "ok_1", "x" * 9]),
    "integer": st.one_of(
        st.integers(-20, 20),
        st.sampled_from(["12", " 7 ", "1.0", "1.5", "1_000", "-0", "1e3", "x" * 1001]),
        st.sampled_from([1.0, 2.5, True, False, 10**18, -(10**18), 10**4400]),
    ),
    "float": st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(2**60), 2**60),
        st.sampled_from(["1.5", " 2 ", "nan", "-inf", "1e400", 10**400, "x" * 1001, True]),
    ),
    "decimal": st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
        st.sampled_from(
            ["", "  ", "1,5", "1.234,5", "12.3456", "NaN", "-Infinity", "1e5", "0.0001", " 9 "]
        ),
        st.sampled_from([1, 2.5, 1e-7, 10**30, True, "9" * 1001]),
    ),
    "boolean": st.sampled_from(
        [True, False, 1, 0, 2, 0.0, 1.0, "true", "False", "YES", "off", "null", "Null", "", "x"]
    ),
    "choice": st.sampled_from([1, "1", 2, "a", "b", "x", 3, "3", "", "Group", 1.0, True]),
    "date": st.one_of(
        st.dates().map(str),
        st.dates(),
        st.sampled_from(["31/01/2024", "2024-02-30", "2024-01-31T10:00:00", ""]),
        st.datetimes(),
    ),
    "datetime": st.one_of(
        st.datetimes().map(lambda d: d.isoformat()),
        st.datetimes(timezones=st.sampled_from(TIME_ZONES[1:])),
        st.datetimes(),
        st.sampled_from(
            [
                "2024-03-31T02:30:00",  # in the gap of Europe/Paris's spring change
                "2024-10-27T02:30:00",  # in its autumn fold
                "2024-01-01T00:00:00Z",
                "2024-01-01 10:00",
                "0001-01-01T00:00:00+05:00",  # out of range in UTC
                "9999-12-31T23:59:59-05:00",
                "not a date",
            ]
        ),
        st.dates(),
    ),
    "time": st.one_of(
        st.times().map(str),
        st.times(),
        st.sampled_from(["12:34", "12.34", "25:00", "12:34:56.789123", "12:34+01:00"]),
    ),
    "uuid": st.one_of(
        st.uuids().map(str),
        st.uuids().map(lambda u: u.hex),
        st.uuids().map(lambda u: u.urn),
        st.uuids(),
        st.sampled_from([2**127, -1, "not-a-uuid", 1.5]),
    ),
    "json": st.one_of(
        st.recursive(
            st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5)),
            lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=3), c)),
            max_leaves=5,
        ),
        st.sampled_from(['{"a": 1}', "[1, 2", float("nan"), b"{}", {1, 2}]),
    ),
    "pk": st.sampled_from(["ACCOUNT", "ACCOUNT_STR", 0, 999999, 1.0, 1.5, True, "x", 2**70, ""]),
    "slug_related": st.sampled_from([*ACCOUNT_NAMES, "nobody", 1, "", " north"]),
    "list": st.sampled_from([[1, 2], [], ["x"], "1", 1]),
    "method": st.just(MISSING),
}
#: Values most options accept, for items meant to pass.
GOOD_INPUTS = {
    "char": st.one_of(st.text("abcXYZ", min_size=2, max_size=3), st.sampled_from(["", "  "])),
    "email": st.sampled_from(["a@example.com", ""]),
    "slug": st.sampled_from(["ok_1", " "]),
    "integer": st.integers(0, 9),
    "float": st.floats(0, 9),
    "decimal": st.sampled_from(["1.5", "2", 3, " 4.25 "]),
    "boolean": st.booleans(),
    "choice": st.sampled_from([1, "a", "1"]),
    "date": st.sampled_from(["2024-01-31", "31/01/2024"]),
    "datetime": st.sampled_from(
        ["2024-01-01T10:00:00Z", "2024-06-01T10:00:00", "2024-06-01 10:00"]
    ),
    "time": st.sampled_from(["12:34", "12.34"]),
    "uuid": st.uuids().map(str),
    "json": st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    "pk": st.just("ACCOUNT"),
    "slug_related": st.sampled_from(ACCOUNT_NAMES),
    "list": st.just([1, 2]),
    "method": st.just(MISSING),
}
VALID_INPUTS["shouting"] = VALID_INPUTS["char"]
VALID_INPUTS["counting"] = VALID_INPUTS["integer"]
VALID_INPUTS["bigint"] = VALID_INPUTS["integer"]
GOOD_INPUTS["shouting"] = GOOD_INPUTS["char"]
GOOD_INPUTS["counting"] = GOOD_INPUTS["bigint"] = GOOD_INPUTS["integer"]


def field_input(kind: str, clean: bool):
    valid = VALID_INPUTS[kind]
    if clean:
        good = GOOD_INPUTS[kind]
        return st.one_of(good, good, good, good, valid, st.just(MISSING))
    return st.one_of(
        valid,
        valid,
        valid,
        st.just(MISSING),
        st.none(),
        st.sampled_from(["fixed", "x", "13", 13, 7, "dict", "ctx", "0"]),
        hostile_value,
    )


@st.composite
def items_for(draw, case: Case, accounts):
    def resolve(value):
        if value == "ACCOUNT":
            return accounts[draw(st.integers(0, len(accounts) - 1))].pk
        if value == "ACCOUNT_STR":
            return str(accounts[0].pk)
        return value

    items = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if draw(RARELY):
            items.append(draw(st.sampled_from([None, "item", [1], 3])))
            continue
        item = {}
        clean = draw(st.booleans())
        for i, spec in enumerate(case.specs):
            value = draw(field_input(spec.kind, clean))
            if value is not MISSING:
                item[f"f{i}"] = resolve(value) if isinstance(value, str) else value
        if draw(st.booleans()):
            item["unknown"] = draw(hostile_value)
        if draw(st.booleans()):
            # As a CSV upload or a job's input hands it over.
            item = CSVRow(item, line=len(items) + 2)
        items.append(item)
    return items


def environment(case: Case):
    class Environment:
        def __enter__(self):
            self.stack = [
                override_settings(**case.settings),
                translation.override(case.language),
            ]
            for manager in self.stack:
                manager.__enter__()
            return self

        def __exit__(self, *exc):
            for manager in reversed(self.stack):
                manager.__exit__(*exc)

    return Environment()


# Validation ------------------------------------------------------------------


@differential
@given(data=st.data())
def test_validation_matches_drf(data, accounts):
    case = data.draw(cases())
    items = data.draw(items_for(case, accounts))
    partial = data.draw(st.booleans())
    with environment(case):
        try:
            serializer_class = case.serializer_class()
        except (AssertionError, ValueError, TypeError):
            event("an option mix DRF refuses")
            return
        expected, actual = both(validate, serializer_class, items, partial=partial)
    if expected[0] == "ok":
        report = dict(expected[1][1])
        valid = len(report[seen("validated")][1])
        event(f"some items valid: {valid > 0}")
        event(f"some items invalid: {len(report[seen('errors')][1]) > 0}")
    else:
        event(f"validation raised {expected[1]}")
    assert actual == expected, (case, items)


EDGE_VALUES = [
    MISSING,
    None,
    "",
    "  ",
    " 1 ",
    0,
    1,
    -1,
    2.5,
    True,
    False,
    "x",
    "ACCOUNT",
    [1],
    {"a": 1},
]
EDGE_OPTIONS = [
    {},
    {"allow_null": True},
    {"required": False},
    {"default": "fixed"},
    {"allow_null": True, "required": False},
]


@pytest.mark.parametrize("kind", [kind for kind in KINDS if kind != "method"])
@pytest.mark.parametrize("partial", [False, True])
def test_each_kind_on_edge_values(kind, partial, accounts):
    """Every kind and common option against the same edge values, as one list."""
    items = [
        {} if value is MISSING else {"f0": accounts[0].pk if value == "ACCOUNT" else value}
        for value in EDGE_VALUES
    ]
    for options in EDGE_OPTIONS:
        o = {**draw_defaults(kind), **options}
        case = Case([Spec(kind, o)], {}, "none", [], True, {}, "en")
        serializer_class = case.serializer_class()
        expected, actual = both(validate, serializer_class, items, partial=partial)
        assert actual == expected, options


def draw_defaults(kind: str) -> dict:
    """The options a kind cannot do without."""
    if kind == "decimal":
        return {"max_digits": 5, "decimal_places": 2}
    if kind == "choice":
        return {"choices": CHOICES[2]}
    return {}


# Rendering -------------------------------------------------------------------

NATIVE_VALUES = {
    "char": st.one_of(st.text(max_size=8), st.integers(), st.decimals(allow_nan=False)),
    "integer": st.one_of(
        st.integers(),
        st.booleans(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(["12", "x", 2.5]),
    ),
    "float": st.one_of(st.floats(), st.integers(-(2**60), 2**60), st.sampled_from(["1.5", "x"])),
    "decimal": st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False),
        # At a field's own precision, as the database returns them.
        st.integers(0, 4).flatmap(
            lambda places: st.decimals(allow_nan=False, allow_infinity=False, places=places)
        ),
        st.sampled_from([decimal.Decimal(v) for v in ("NaN", "-Infinity", "-0.00", "1E+2")]),
        st.integers(-(10**6), 10**6),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(["1.25", " 3 ", decimal.Decimal("1E+2")]),
    ),
    "boolean": st.sampled_from([True, False, 1, 0, 2, "true", "null", "", "x", 0.0]),
    "choice": st.sampled_from([1, "1", 2, "a", "x", "", 3.0]),
    "date": st.one_of(st.dates(), st.sampled_from(["2024-01-01", ""]), st.datetimes()),
    "datetime": st.one_of(
        st.datetimes(),
        st.datetimes(timezones=st.sampled_from(TIME_ZONES[1:])),
        st.sampled_from(["2024-01-01", ""]),
    ),
    "time": st.one_of(st.times(), st.sampled_from(["12:00", ""])),
    "uuid": st.uuids(),
    "json": st.one_of(st.dictionaries(st.text(max_size=3), st.integers()), st.lists(st.integers())),
    "pk": st.sampled_from(["ACCOUNT", 5, "ACCOUNT_NONE"]),
    "slug_related": st.sampled_from(["ACCOUNT"]),
    "list": st.lists(st.integers(), max_size=3),
    "method": st.just(MISSING),
}
NATIVE_VALUES["email"] = NATIVE_VALUES["slug"] = NATIVE_VALUES["shouting"] = NATIVE_VALUES["char"]
NATIVE_VALUES["counting"] = NATIVE_VALUES["bigint"] = NATIVE_VALUES["integer"]


CHOICES_OF_VALUE = ["value", "value", "value", "none", "missing", "call"]


class Method:
    """A method on the object that a field's source names."""

    def __init__(self, value):
        self.value = value

    def __call__(self):
        return self.value


@st.composite
def objects_for(draw, case: Case, accounts):
    objects = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if draw(RARELY):
            objects.append({"f0": draw(hostile_value)})  # not a model: DRF's own path
            continue
        obj = SimpleModel(number=1, contents="c")
        clean = draw(st.booleans())
        for i, spec in enumerate(case.specs):
            source = spec.source if spec.source and spec.source != "*" else f"f{i}"
            choice = "value" if clean else draw(st.sampled_from(CHOICES_OF_VALUE))
            if choice == "missing":
                continue
            native = NATIVE_VALUES[spec.kind]
            value = (
                None
                if choice == "none"
                else draw(native if clean else st.one_of(native, hostile_value))
            )
            if value == "ACCOUNT":
                value = accounts[0]
            elif value == "ACCOUNT_NONE":
                value = Account(name="unsaved")
            if choice == "call":
                value = Method(value)
            if "." in source:
                outer, inner = source.split(".")
                holder = draw(st.sampled_from(["dict", "object"]))
                if holder == "dict":
                    setattr(obj, outer, {inner: value})
                else:
                    setattr(obj, outer, types.SimpleNamespace(**{inner: value}))
            else:
                setattr(obj, source, value)
        objects.append(obj)
    return objects


@differential
@given(data=st.data())
def test_rendering_matches_drf(data, accounts):
    case = data.draw(cases())
    objects = data.draw(objects_for(case, accounts))
    with environment(case):
        try:
            serializer_class = case.serializer_class()
        except (AssertionError, ValueError, TypeError):
            event("an option mix DRF refuses")
            return
        expected, actual = both(render, serializer_class, objects)
    event(f"objects rendered: {sum(result[0] == 'ok' for result in expected)}/{len(expected)}")
    assert actual == expected, (case, objects)


# Model serializers -----------------------------------------------------------


class DocumentSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Document
        fields = "__all__"
        list_serializer_class = BulkListSerializer


class ArticleSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Article
        fields = "__all__"
        list_serializer_class = BulkListSerializer


class AllItemSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Item
        fields = "__all__"
        list_serializer_class = BulkListSerializer


MODEL_SERIALIZERS = [DocumentSerializer, ArticleSerializer, AllItemSerializer, ItemSerializer]

MODEL_VALUES = {
    "title": st.one_of(st.text(max_size=5), st.just("t" * 101)),
    "version": st.one_of(st.integers(-2, 3), st.sampled_from([2**31, 2**70, "2"])),
    "body": st.text(max_size=5),
    "slug": st.sampled_from(["a", "b", "bad slug", "a"]),
    "views": st.integers(-3, 3),
    "account": st.sampled_from(["ACCOUNT", 999, None, "x"]),
    "sku": st.sampled_from(["S1", "S2", "S1", "", "s" * 33]),
    "ref": st.sampled_from(["R1", "R2", "R1"]),
    "name": st.sampled_from(["n", "forbidden", ""]),
    "price": st.sampled_from(["1.50", "1.555", "x", 3, None, "99999999999"]),
    "quantity": st.integers(-2, 2),
    "tags": st.sampled_from([[], [999], "x"]),
}


@differential
@given(data=st.data())
def test_model_serializers_match_drf(data, accounts):
    serializer_class = data.draw(st.sampled_from(MODEL_SERIALIZERS))
    names = [
        name
        for name, f in serializer_class().fields.items()
        if not f.read_only and name in MODEL_VALUES
    ]
    items = []
    for _ in range(data.draw(st.integers(1, 5))):
        item = {}
        for name in names:
            value = data.draw(st.one_of(MODEL_VALUES[name], st.just(MISSING), hostile_value))
            if value == "ACCOUNT":
                value = accounts[0].pk
            if value is not MISSING:
                item[name] = value
        items.append(item)
    assert compilable(serializer_class)
    expected, actual = both(validate, serializer_class, items)
    assert actual == expected, items


def test_rendering_model_instances_matches_drf(accounts):
    Item.objects.bulk_create(
        [Item(account=accounts[i % 3], sku=f"S{i}", ref=f"R{i}", name="n") for i in range(5)]
    )
    Document.objects.create(title="t")
    Article.objects.create(slug="s", title="t")
    for serializer_class, queryset in [
        (AllItemSerializer, Item.objects.all()),
        (ItemSerializer, Item.objects.all()),
        (DocumentSerializer, Document.objects.all()),
        (ArticleSerializer, Article.objects.all()),
    ]:
        expected, actual = both(render, serializer_class, list(queryset))
        assert all(result[0] == "ok" for result in expected)
        assert actual == expected


def test_the_loop_covers_standard_serializers_only():
    class Overridden(serializers.ModelSerializer):
        class Meta:
            model = Item
            fields = "__all__"

        def to_internal_value(self, data):
            return super().to_internal_value(data)

    class Rendering(serializers.Serializer):
        def to_representation(self, instance):
            return {}

    assert compilable(AllItemSerializer)
    assert compilable(ItemSerializer)
    assert not compilable(Overridden)
    assert not compilable(Rendering)


def test_the_setting_switches_the_loop():
    serializer = ArticleSerializer(data=[], many=True)
    with compiled(False):
        assert child_validator(serializer) == serializer.run_child_validation
        assert child_renderer(serializer) == serializer.child.to_representation
    with compiled(True):
        assert child_validator(serializer) != serializer.run_child_validation
        assert child_renderer(serializer) != serializer.child.to_representation


class ContextFields(BulkSerializerMixin, serializers.Serializer):
    """Fields that depend on the request: the loop reads each instance's own."""

    name = fields.CharField(max_length=3)
    size = fields.IntegerField(required=False)

    class Meta:
        list_serializer_class = BulkListSerializer

    def get_fields(self):
        built = super().get_fields()
        if self.context.get("short"):
            del built["size"]
            built["name"] = fields.CharField(max_length=1)
        return built


@pytest.mark.parametrize("short", [False, True])
def test_fields_built_per_request(short):
    items = [{"name": "ab", "size": "x"}, {"name": "a", "size": 1}]

    def run():
        serializer = ContextFields(data=items, many=True, context={"short": short})
        serializer.plan = BulkPlan(lenient=True)
        serializer.is_valid()
        return {
            "validated": seen(list(serializer.validated_data)),
            "errors": seen([error.detail for error in serializer.outcome.errors]),
            "passed": serializer.outcome.validated,
        }

    expected, actual = both(run)
    assert actual == expected
    # The second item passes either way, the first fails on what its fields say.
    assert expected["passed"] == [1]


class Unbuildable(BulkSerializerMixin, serializers.Serializer):
    class Meta:
        list_serializer_class = BulkListSerializer

    def get_fields(self):
        raise RuntimeError("fields built")


DECIMAL_TEXTS = [
    "1.5",
    "1234.56",
    "-0.00",
    "0",
    "0001.00",  # leading zeros: not more whole digits to Decimal
    "00001.0",  # but more than the text may have for the short path
    "12345.6",
    "1.234",
    "-9999.99",
    " 1.5 ",
    "1.",
    ".5",
    "1e2",
    "١.٥",  # digits Decimal() reads and the short path does not
    "",
    "nan",
]


@pytest.mark.parametrize("options", [{}, {"rounding": decimal.ROUND_DOWN}, {"allow_null": True}])
@pytest.mark.parametrize("traps", [False, True])
def test_decimal_text_matches_drf(options, traps):
    class Prices(BulkSerializerMixin, serializers.Serializer):
        price = fields.DecimalField(max_digits=6, decimal_places=2, **options)

        class Meta:
            list_serializer_class = BulkListSerializer

    items = [{"price": text} for text in DECIMAL_TEXTS]
    with decimal.localcontext() as context:
        if traps:
            # Quantizing must not round or lose anything, whatever the context.
            context.traps[decimal.Inexact] = context.traps[decimal.Rounded] = True
            context.prec = 3
        expected, actual = both(validate, Prices, items)
    assert actual == expected
    assert expected[0] == "ok"


def test_decimal_text_that_fits_skips_the_field_s_conversion(monkeypatch):
    converted = []
    original = fields.DecimalField.to_internal_value

    def counted(self, data):
        converted.append(data)
        return original(self, data)

    monkeypatch.setattr(fields.DecimalField, "to_internal_value", counted)

    class Prices(BulkSerializerMixin, serializers.Serializer):
        price = fields.DecimalField(max_digits=6, decimal_places=2)

        class Meta:
            list_serializer_class = BulkListSerializer

    with compiled(True):
        serializer = Prices(data=[{"price": "1.5"}, {"price": "12345.6"}], many=True)
        serializer.plan = BulkPlan(lenient=True)
        serializer.is_valid()

    assert converted == ["12345.6"]
    assert serializer.validated_data == [{"price": decimal.Decimal("1.50")}]
    assert serializer.outcome.errors[0].codes == {"price": ["max_whole_digits"]}


def test_csv_rows_take_the_loop(monkeypatch):
    """A CSV row (a dict with its line) is validated by the loop, not by DRF's per-field path."""
    called = []
    original = serializers.Serializer.to_internal_value

    def counted(self, data):
        called.append(data)
        return original(self, data)

    monkeypatch.setattr(serializers.Serializer, "to_internal_value", counted)
    items = [CSVRow({"name": "a", "size": "2"}, line=2), CSVRow({"name": "abcd"}, line=3)]

    with compiled(True):
        serializer = ContextFields(data=items, many=True, context={"short": False})
        serializer.plan = BulkPlan(lenient=True)
        serializer.is_valid()

    assert called == []
    assert serializer.validated_data == [{"name": "a", "size": 2}]
    assert serializer.outcome.errors[0].codes == {"name": ["max_length"]}


def test_an_empty_list_builds_no_fields():
    expected, actual = both(render, Unbuildable, [])
    assert actual == expected == []


def test_a_unique_validator_still_runs(accounts):
    """The engine swaps ``UniqueValidator`` for a batched one; both paths see it."""

    class Unique(BulkSerializerMixin, serializers.Serializer):
        name = fields.CharField(validators=[UniqueValidator(queryset=Account.objects.all())])

        class Meta:
            list_serializer_class = BulkListSerializer

    items = [{"name": "north"}, {"name": "new"}, {"name": "new"}]
    expected, actual = both(validate, Unique, items)
    assert actual == expected
    with compiled(True):
        serializer = Unique(data=items, many=True)
        serializer.plan = BulkPlan(lenient=True)
        serializer.is_valid()
    assert [error.index for error in serializer.outcome.errors] == [0, 2]
    assert serializer.outcome.errors[0].codes == {"name": ["unique"]}


# Over HTTP -------------------------------------------------------------------

ENDPOINTS = {
    "/api/items/": {
        "account": st.sampled_from(["ACCOUNT", 999, None]),
        "sku": st.sampled_from(["S1", "S2", "S1", "", "s" * 33]),
        "ref": st.sampled_from(["R1", "R2"]),
        "name": st.sampled_from(["n", "forbidden"]),
        "price": st.sampled_from(["1.50", "2.555", "x", 7]),
        "quantity": st.sampled_from([0, 5, 2**70, "3"]),
        "tags": st.sampled_from([[], [999]]),
    },
    "/api/documents/": {
        "title": st.sampled_from(["a", "b", "a", ""]),
        "version": st.sampled_from([1, 2, -1, "1"]),
        "body": st.text(max_size=3),
    },
    "/api/articles/": {
        "slug": st.sampled_from(["a", "b", "a", "not a slug"]),
        "title": st.sampled_from(["t", "", None]),
        "views": st.sampled_from([0, 1, 1.5, None]),
    },
    "/api/simple/": {
        "number": st.sampled_from([1, 2, "x", None, 2**70]),
        "contents": st.sampled_from(["c", "x" * 17, "\x00"]),
    },
}
VOLATILE = {"id", "updated_at"}


def _without_volatile(value):
    if isinstance(value, dict):
        return {k: _without_volatile(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_without_volatile(v) for v in value]
    return value


def _post(api, url, items, headers, model):
    with transaction.atomic():
        response = api.bulk("post", url, items, **headers)
        body = json.loads(response.content) if response.content else None
        rows = [
            {k: v for k, v in row.items() if k not in VOLATILE}
            for row in model.objects.order_by("pk").values()
        ]
        transaction.set_rollback(True)
    return response.status_code, _without_volatile(body), rows


MODELS = {
    "/api/items/": Item,
    "/api/documents/": Document,
    "/api/articles/": Article,
    "/api/simple/": SimpleModel,
}


@settings(differential, max_examples=40)
@given(data=st.data())
def test_bulk_create_over_http_matches_drf(data, api, accounts):
    url = data.draw(st.sampled_from(sorted(ENDPOINTS)))
    values = ENDPOINTS[url]
    items = []
    for _ in range(data.draw(st.integers(1, 6))):
        item = {}
        for name, strategy in values.items():
            value = data.draw(
                st.one_of(strategy, strategy, st.just(MISSING), hostile_number, hostile_text)
            )
            if value == "ACCOUNT":
                value = accounts[data.draw(st.integers(0, 2))].pk
            if value is not MISSING:
                item[name] = value
        items.append(item)
    headers = data.draw(st.sampled_from([{}, {"HTTP_PREFER": "handling=lenient"}]))
    model = MODELS[url]
    with compiled(False):
        expected = _post(api, url, items, headers, model)
    with compiled(True):
        actual = _post(api, url, items, headers, model)
    assert actual == expected, items
    assert expected[0] < 500


def test_a_valid_bulk_create_writes_the_same_rows(api, accounts):
    items = [
        {
            "account": accounts[i % 3].pk,
            "sku": f"S{i}",
            "ref": f"R{i}",
            "name": f"n{i}",
            "price": f"{i}.25",
            "quantity": i,
        }
        for i in range(20)
    ]
    with compiled(False):
        expected = _post(api, "/api/items/", items, {}, Item)
    with compiled(True):
        actual = _post(api, "/api/items/", items, {}, Item)
    assert expected[0] == 201
    assert len(expected[2]) == 20
    assert actual == expected
