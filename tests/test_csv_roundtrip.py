"""A CSV export of /bulk/, sent back unchanged, writes the same rows."""

from __future__ import annotations

import decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import JSONClient
from .models import Memo

pytestmark = pytest.mark.django_db

FIELDS = ["key", "text", "note", "amount", "count", "flag"]
SCRAMBLED = {
    "text": "scrambled",
    "note": "scrambled",
    "amount": decimal.Decimal("1.00"),
    "count": 1,
    "flag": True,
}

#: Text a CSV file has trouble with: formula triggers, the null tokens,
#: the escape itself, quotes, delimiters and line breaks, blanks.
HOSTILE_TEXTS = [
    "",
    "plain",
    "=1+2",
    '=HYPERLINK("http://example.com")',
    "+cmd",
    "-cmd",
    "@SUM(A1)",
    "\tafter a tab",
    "\rafter a CR",
    "\r\n",
    "-5",
    "+1e3",
    "-25.75",
    "#N/A",
    "'#N/A",
    "NULL",
    "'NULL",
    "'",
    "'x",
    "''x",
    "'=1",
    'say "hi"',
    '"',
    '""',
    "a,b",
    "a;b|c\td",
    ",",
    "line\nbreak",
    "crlf\r\nend",
    "cr\rinside",
    "\n",
    "trailing\n",
    "  spaced  ",
    " ",
    "é ü 中文 🙂",
    "\ufeffbom",
    "true",
    "null",
    "[1, 2]",
    '{"a": 1}',
]

_TEXT = st.one_of(
    st.sampled_from(HOSTILE_TEXTS),
    st.tuples(
        st.sampled_from(["", "=", "+", "-", "@", "\t", "\r", "'", "''", "#N/A", "NULL", '"']),
        st.text(
            st.characters(codec="utf-8", exclude_characters="\x00", exclude_categories=["Cs"]),
            max_size=12,
        ),
    ).map("".join),
)
_KEY_PREFIX = st.sampled_from(["", "=", "+", "-", "@", "'", "#N/A", "NULL", " ", "\t", '"'])


@st.composite
def memos(draw):
    count = draw(st.integers(1, 6))
    prefixes = draw(st.lists(_KEY_PREFIX, min_size=count, max_size=count))
    return [
        {
            "key": f"{prefix}k{index}",
            "text": draw(_TEXT),
            "note": draw(st.one_of(st.none(), _TEXT)),
            "amount": draw(
                st.one_of(
                    st.none(),
                    st.decimals(-(10**9), 10**9, places=2, allow_nan=False, allow_infinity=False),
                )
            ),
            "count": draw(st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1))),
            "flag": draw(st.sampled_from([None, True, False])),
        }
        for index, prefix in enumerate(prefixes)
    ]


def rows():
    return list(Memo.objects.order_by("key").values(*FIELDS))


def sent_back(original, fallback):
    """What the rows hold after their CSV is sent back: "" reads as "not given"."""
    return [
        {name: fallback(row, name) if value == "" else value for name, value in row.items()}
        for row in original
    ]


def export_csv(api, url, delimiter):
    accept = "text/csv" if delimiter == "," else f'text/csv; delimiter="{delimiter}"'
    response = api.get(f"{url}bulk/?format=csv", HTTP_ACCEPT=accept)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    return response.content


def send_csv(api, method, url, body, delimiter):
    content_type = "text/csv" if delimiter == "," else f'text/csv; delimiter="{delimiter}"'
    response = api.generic(method, url, body, content_type=content_type)
    assert response.status_code in (200, 201), response.content
    return response.json()


def check_round_trip(api, url, data, delimiter):
    for item in data:
        Memo.objects.create(**item)
    original = rows()
    body = export_csv(api, url, delimiter)

    # PUT and PATCH: every field written back over other values, except ""
    # (not given: left as it is).
    for method in ("PUT", "PATCH"):
        Memo.objects.update(**SCRAMBLED)
        summary = send_csv(api, method, f"{url}bulk/", body, delimiter)
        assert summary["success_count"] == len(data)
        assert rows() == sent_back(original, lambda row, name: SCRAMBLED[name])

    # Upsert into an empty table: every row created again; "" is the default.
    Memo.objects.all().delete()
    summary = send_csv(api, "POST", f"{url}bulk/?upsert=key", body, delimiter)
    assert summary["success_count"] == len(data)
    defaults = {name: Memo._meta.get_field(name).get_default() for name in FIELDS}
    assert rows() == sent_back(original, lambda row, name: defaults[name])


_ROUND_TRIP = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_ROUND_TRIP
@given(data=memos(), delimiter=st.sampled_from([",", ";", "|", "\t"]))
def test_a_csv_get_sent_back_writes_the_same_rows(data, delimiter):
    with transaction.atomic():
        check_round_trip(JSONClient(), "/api/memos/", data, delimiter)
        transaction.set_rollback(True)


@_ROUND_TRIP
@given(data=memos())
def test_with_the_views_own_null_token(data):
    with transaction.atomic():
        check_round_trip(JSONClient(), "/api/null-token-memos/", data, ",")
        transaction.set_rollback(True)


def test_every_hostile_text_at_once(api):
    data = [
        {"key": f"k{index}", "text": text, "note": text or None}
        for index, text in enumerate(HOSTILE_TEXTS)
    ]
    data.append({"key": "nulls", "note": None, "amount": None, "count": None, "flag": None})
    check_round_trip(api, "/api/memos/", data, ",")


def test_the_cells_are_escaped_in_the_file(api):
    Memo.objects.create(key="=k", text="=1+2", note="#N/A")
    Memo.objects.create(key="k2", text="'x", note=None)
    body = export_csv(api, "/api/memos/", ",").decode()
    lines = body.splitlines()
    assert lines[0] == "id,key,text,note,amount,count,flag"
    assert lines[1].split(",")[1:4] == ["'=k", "'=1+2", "'#N/A"]
    assert lines[2].split(",")[1:5] == ["k2", "''x", "#N/A", "#N/A"]
