"""Hypothesis strategies for hostile bulk requests.

A strategy here builds a :class:`Call`: one HTTP request as a client could
send it (verb, path, query string, headers, raw body), plus what the client
meant by it (``Call.data``), which the oracle in ``tests.hostile.oracle``
reads to decide what the database may look like afterwards.

Values come from two pools: plausible ones (rows that exist, of the caller
or of someone else, locked or not) and hostile ones (huge and fractional
numbers, NUL, lone surrogates, deep nesting, wrong types). Most requests mix
both, so that the suite exercises successful writes as well as refusals.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

#: ``Call.data`` when the request has no body at all.
NOBODY = type("NoBody", (), {"__repr__": lambda self: "NOBODY"})()
#: ``Call.data`` when the body is not something the client could have meant
#: as data (malformed JSON, deep nesting, a broken upload).
RAW = type("Raw", (), {"__repr__": lambda self: "RAW"})()

#: Spellings of a flag that the docs promise (case-insensitive).
TRUE_SPELLINGS = ("1", "true", "yes", "on")
FALSE_SPELLINGS = ("0", "false", "no", "off")
#: Spellings no documentation mentions: a 400, never a guess.
BAD_SPELLINGS = ("maybe", "2", "", "nope", "-1", "1.0", "y", "1\x00")

HUGE = (2**70, -(2**70), 2**63, 2**64, -(2**63) - 1, 2**31, 10**30)


@dataclass
class Call:
    """One request of a hostile client."""

    target: str
    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    body: bytes | None = None
    data: Any = NOBODY
    csv: bool = False

    @property
    def url(self) -> str:
        if not self.query:
            return self.path
        return (
            self.path
            + "?"
            + "&".join(
                f"{quote(k, safe='_')}={quote(v.encode('utf-8', 'surrogatepass'), safe=',')}"
                for k, v in self.query
            )
        )

    def params(self, name: str) -> list[str]:
        return [value for key, value in self.query if key == name]

    def prefer(self) -> set[str]:
        text = self.headers.get("HTTP_PREFER", "")
        return {token.split(";")[0].strip().lower() for token in text.split(",") if token.strip()}

    @property
    def lenient(self) -> bool:
        return "handling=lenient" in self.prefer()

    def describe(self) -> str:
        headers = "".join(
            f" -H '{key[5:].title() if key.startswith('HTTP_') else key}: {value}'"
            for key, value in self.headers.items()
        )
        ctype = f" -H 'Content-Type: {self.content_type}'" if self.content_type else ""
        body = ""
        if self.body is not None:
            shown = (
                self.body if len(self.body) <= 300 else self.body[:150] + b"..." + self.body[-60:]
            )
            body = f" --data-binary {shown!r} ({len(self.body)} bytes)"
        return f"{self.method} {self.url}{ctype}{headers}{body}"


# Values ---------------------------------------------------------------------

hostile_text = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "\ud800",
            "x\udfffy",
            "\u202e\u0000",
            "Ω≈ç√∫˜µ≤≥÷",
            "😀" * 20,
            "null",
            "NaN",
            "1e308",
            "2.9",
            "2.0",
            " 2 ",
            "0x10",
            "-0",
            "=cmd|'/C calc'!A0",
            "<script>",
            "' OR 1=1 --",
            "x" * 10_001,
            "é" * 200,
        ]
    ),
    st.text(max_size=12),
)

hostile_number = st.one_of(
    st.sampled_from(HUGE),
    st.sampled_from(
        [2.9, 1.5, 2.0, -0.0, 1e308, -1e308, 5e-324, 0.1, math.nan, math.inf, -math.inf]
    ),
    st.integers(min_value=-3, max_value=3),
)

hostile_scalar = st.one_of(hostile_number, hostile_text, st.booleans(), st.none())

hostile_value = st.recursive(
    hostile_scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["id", "a", ""]), children, max_size=2),
    ),
    max_leaves=4,
)


def mixed(valid, *, weight: int = 3):
    """``valid`` most of the time, a hostile value otherwise."""
    return st.one_of(*([valid] * weight), hostile_value)


# Bodies ---------------------------------------------------------------------


def dumps(data: Any) -> bytes:
    """JSON as a client library writes it: lone surrogates as escapes, NaN bare."""
    return json.dumps(data, ensure_ascii=True, allow_nan=True).encode("ascii")


DEEP = 10_000

RAW_JSON = [
    b"[" * DEEP + b"]" * DEEP,
    b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    b"[" * DEEP,
    b"null",
    b"NaN",
    b"[NaN]",
    b"[1e999]",
    b"[-Infinity]",
    b'"\\ud800"',
    b'["\\ud800"]',
    b'[{"id": 1, "id": "x"}]',
    b"[1,",
    b"\xef\xbb\xbf[]",
    b"\xff\xfe[\x00]\x00",
    b"{}",
    b'""',
    b"0",
    b"true",
    b"[[[]]]",
    b"[" + b",".join([b"{}"] * 3) + b"]",
]


def meant(raw: bytes) -> Any:
    """What a strict JSON reader makes of ``raw``, or ``RAW`` if it refuses it."""

    def refuse(constant):
        raise ValueError(constant)

    try:
        return json.loads(raw.decode("utf-8"), parse_constant=refuse)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return RAW


def csv_text(rows: list[dict], delimiter: str = ",") -> str:
    header: list[str] = []
    for row in rows:
        for key in row:
            if key not in header:
                header.append(key)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(header or ["id"])
    for row in rows:
        writer.writerow(["" if row.get(key) is None else cell(row.get(key)) for key in header])
    return out.getvalue()


def cell(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def csv_rows(rows: list[dict]) -> list[dict]:
    """What the CSV parser makes of ``rows``: strings, empty cells left out."""
    parsed = []
    for row in rows:
        parsed.append(
            {
                key: cell(value)
                for key, value in row.items()
                if value is not None and cell(value) != ""
            }
        )
    return parsed


# Codecs that are not text encodings (rot13, hex, base64) are left out here:
# with a query string, Django's WSGIRequest decodes it with the body's
# charset while it is being built, before any view runs. The CSV tests send
# them without a query string.
CHARSETS = [
    "utf-8",
    "UTF-8",
    "latin-1",
    "utf-16",
    "ascii",
    "nonsense",
    "utf-8-sig",
    "",
]
DELIMITERS = [",", ";", "tab", "\\t", "|", "::", "", "\x00"]


def multipart(
    parts: list[tuple[str, str | None, str | None, bytes]],
    boundary: str = "hostileboundary",
    close: bool = True,
) -> tuple[str, bytes]:
    """A ``multipart/form-data`` body of ``(name, filename, content_type, content)`` parts."""
    out = b""
    for name, filename, ctype, content in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if ctype:
            out += f"Content-Type: {ctype}\r\n".encode()
        out += b"\r\n" + content + b"\r\n"
    if close:
        out += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", out


@st.composite
def json_body(draw, items):
    """``(content_type, body, data)`` for a JSON body built from ``items``."""
    kind = draw(st.sampled_from(["list"] * 6 + ["single", "scalar", "raw", "none", "empty"]))
    if kind == "list":
        data = draw(st.lists(items, max_size=4))
        if data and draw(st.booleans()):
            # The same item twice: duplicate lookups and unique values.
            data.append(draw(st.sampled_from(data)))
    elif kind == "single":
        data = draw(items)
    elif kind == "scalar":
        data = draw(
            st.one_of(
                hostile_scalar,
                st.dictionaries(
                    st.sampled_from(["id", "items", "data"]), hostile_value, max_size=2
                ),
            )
        )
    elif kind == "raw":
        raw = draw(st.sampled_from(RAW_JSON))
        return (
            draw(st.sampled_from(["application/json", "application/json; charset=utf-8"])),
            raw,
            meant(raw),
        )
    elif kind == "none":
        return "application/json", None, NOBODY
    else:
        return "application/json", b"", NOBODY
    ctype = draw(
        st.sampled_from(
            ["application/json"] * 6
            + [
                "application/json; charset=utf-8",
                "application/json; charset=latin-1",
                "text/plain",
                "application/xml",
            ]
        )
    )
    return ctype, dumps(data), data


@st.composite
def csv_body(draw, items):
    """``(content_type, body, data, is_csv)`` for a CSV body or upload."""
    rows = draw(st.lists(items.filter(lambda item: isinstance(item, dict)), max_size=4))
    kind = draw(st.sampled_from(["body"] * 4 + ["upload"] * 2 + ["hostile"] * 2))
    if kind == "hostile":
        raw = draw(
            st.sampled_from(
                [
                    b"",
                    b"\n\n",
                    b"id\n",
                    b"id,id\n1,2\n",
                    b",\n1\n",
                    b'[{"id": 1}]',
                    b"1,2,3\n",
                    b"id,name\n1,a\x00b\n",
                    b"id,name\n1,\xff\xfe\n",
                    b'id,name\n1,"unterminated\n',
                    b"id,name\n1,a,extra,cells\n",
                    b"\xef\xbb\xbfid,name\n1,x\n",
                    b"id\n" + b"9" * 100 + b"\n",
                    b"id\n2.9\n",
                    b"id\n" + str(2**70).encode() + b"\n",
                ]
            )
        )
        if draw(st.booleans()):
            return (
                draw(
                    st.sampled_from(
                        ["text/csv", "text/csv; charset=utf-8", "text/tab-separated-values"]
                    )
                ),
                raw,
                RAW,
                True,
            )
        ctype, body = multipart([("file", "rows.csv", "text/csv", raw)], close=draw(st.booleans()))
        return ctype, body, RAW, True
    charset = draw(st.sampled_from(["utf-8"] * 4 + CHARSETS))
    delimiter = draw(st.sampled_from([","] * 4 + DELIMITERS))
    real = {"tab": "\t", "\\t": "\t"}.get(delimiter, delimiter)
    text = csv_text(rows, real if len(real) == 1 and real != "\x00" else ",")
    try:
        encoded = text.encode(
            charset
            if charset.lower() in ("utf-8", "latin-1", "utf-16", "ascii", "utf-8-sig")
            else "utf-8",
            errors="surrogatepass",
        )
    except (UnicodeEncodeError, LookupError):
        encoded = text.encode("utf-8", errors="surrogatepass")
    understood = charset.lower() in ("utf-8", "utf-8-sig") and delimiter in (
        ",",
        ";",
        "tab",
        "\\t",
        "|",
    )
    data = csv_rows(rows) if understood else RAW
    if kind == "body":
        params = []
        if charset:
            params.append(f"charset={charset}")
        if delimiter != ",":
            params.append(f'delimiter="{delimiter}"')
        ctype = "; ".join(["text/csv", *params])
        return ctype, encoded, data, True
    part_type = f"text/csv; charset={charset}" if charset else "text/csv"
    extra = [("delimiter", None, None, delimiter.encode("utf-8"))] if delimiter != "," else []
    close = draw(st.sampled_from([True, True, True, False]))
    ctype, body = multipart([*extra, ("file", "rows.csv", part_type, encoded)], close=close)
    return ctype, body, data if close else RAW, True


# Query strings and headers -------------------------------------------------------


def flag(name: str):
    return st.one_of(
        st.tuples(
            st.just(name), st.sampled_from(TRUE_SPELLINGS + FALSE_SPELLINGS + ("TRUE", "On"))
        ),
        st.tuples(st.just(name), st.sampled_from(BAD_SPELLINGS)),
    )


@st.composite
def query(draw, ids, filters=()):
    """A query string: flags, ``ids``, ``format``, filters and noise."""
    params: list[tuple[str, str]] = []
    pool = [
        flag("dry_run"),
        flag("dry_run"),
        flag("upsert"),
        st.tuples(st.just("upsert"), st.sampled_from(["sku", "name", "id", "SKU", "1"])),
    ]
    pool.append(
        st.tuples(
            st.just("ids"),
            st.lists(
                st.one_of(
                    ids.map(str),
                    hostile_scalar.map(lambda value: cell(value) if value is not None else ""),
                ),
                max_size=4,
            ).map(",".join),
        )
    )
    pool.append(st.tuples(st.just("format"), st.sampled_from(["json", "csv", "xml", "", "CSV"])))
    pool.append(
        st.tuples(
            st.sampled_from(["junk", "page", "ordering", "search", "delimiter"]), hostile_text
        )
    )
    for name in filters:
        pool.append(
            st.tuples(
                st.just(name),
                st.one_of(
                    ids.map(str),
                    hostile_scalar.map(lambda value: cell(value) if value is not None else ""),
                ),
            )
        )
    if draw(st.integers(0, 3)) == 0:
        return params
    params = draw(st.lists(st.one_of(*pool), max_size=4))
    if draw(st.integers(0, 5)) == 0:
        # The same flag twice, meaning different things.
        params += [("dry_run", "1"), ("dry_run", "0")]
    return params


PREFERENCES = [
    "handling=lenient",
    "return=minimal",
    "respond-async",
    "handling=strict",
    "handling=lenient, return=minimal",
    "handling=lenient; wait=5",
    "HANDLING=LENIENT",
    "handling=",
    "return=representation",
    "respond-async, handling=lenient",
    ";;,,",
    "handling=lenient\x00",
]

prefer = st.one_of(st.none(), st.none(), st.sampled_from(PREFERENCES))


# Requests of one target ----------------------------------------------------------


def pools(world):
    own, other, locked = world.own_items, world.other_items, world.locked_items
    return {
        "item_id": st.one_of(
            st.sampled_from(own),
            st.sampled_from(own),
            st.sampled_from(other + locked),
            st.sampled_from([0, 999_999]),
        ),
        "account": st.one_of(
            st.sampled_from(world.own_accounts),
            st.sampled_from(world.own_accounts),
            st.sampled_from(world.other_accounts),
        ),
        "sku": st.sampled_from(["NEW-1", "NEW-2", "NEW-3", *world.skus[:3]]),
        "ref": st.sampled_from(["r-new", "r-new-2", *world.refs[:2]]),
        "name": st.sampled_from(["plain", "renamed", "forbidden", "locked now"]),
        "price": st.sampled_from(["1.00", "9.99", "0", 3]),
        "quantity": st.integers(0, 60),
        "tags": st.lists(st.sampled_from(world.tags), max_size=2, unique=True),
        "document": st.one_of(st.sampled_from(world.documents), st.just(str(uuid_zero))),
        "title": st.sampled_from(["t1", "t2", "doc 0", "a title"]),
        "version": st.integers(1, 3),
        "slug": st.one_of(
            st.sampled_from(world.articles), st.sampled_from(["new-slug", "new-slug-2"])
        ),
        "task": st.one_of(
            st.sampled_from(world.tasks), st.sampled_from(world.deleted_tasks + [999_999])
        ),
    }


uuid_zero = "00000000-0000-0000-0000-000000000000"


def item_strategy(world, target_name: str, method: str, weight: int = 3):
    """One item of a write on ``target_name``, its fields plausible or hostile (1 in ``weight + 1``)."""
    p = pools(world)

    def mixed(valid, weight=weight):
        return st.one_of(*([valid] * weight), hostile_value)

    with_id = method in ("PUT", "PATCH")
    model = target_name.split("-")[-1]
    if model == "items":
        fields = {
            "account": mixed(p["account"]),
            "sku": mixed(p["sku"]),
            "ref": mixed(p["ref"]),
            "name": mixed(p["name"]),
            "price": mixed(p["price"]),
            "quantity": mixed(p["quantity"]),
            "tags": mixed(p["tags"], weight=1),
        }
        lookup = ("id", mixed(p["item_id"]))
    elif model == "documents":
        fields = {
            "title": mixed(p["title"]),
            "version": mixed(p["version"]),
            "body": mixed(st.just("text"), weight=1),
        }
        lookup = ("id", mixed(p["document"]))
    elif model == "articles":
        fields = {"title": mixed(p["title"]), "views": mixed(st.integers(0, 9))}
        lookup = ("slug", mixed(p["slug"]))
        if not with_id:
            fields["slug"] = mixed(p["slug"])
    else:
        fields = {"title": mixed(p["title"])}
        lookup = ("id", mixed(p["task"]))
    if with_id:
        required = {lookup[0]: lookup[1]}
    else:
        required = {}
    required_fields = {name: fields[name] for name in list(fields)[:3]} if method != "PATCH" else {}
    optional = {name: value for name, value in fields.items() if name not in required_fields}
    if method == "POST" and model != "articles":
        optional[lookup[0]] = lookup[1]  # an id on a create: ignored or refused, never an update
    return st.fixed_dictionaries({**required, **required_fields}, optional=optional)


def delete_item_strategy(world, target_name: str, weight: int = 3):
    p = pools(world)

    def mixed(valid, weight=weight):
        return st.one_of(*([valid] * weight), hostile_value)

    model = target_name.split("-")[-1]
    value = {
        "items": p["item_id"],
        "documents": p["document"],
        "articles": p["slug"],
        "tasks": p["task"],
    }[model]
    key = "slug" if model == "articles" else "id"
    return st.one_of(mixed(value), mixed(value), st.fixed_dictionaries({key: mixed(value)}))


@st.composite
def calls(draw, world, target, method: str, *, csv_allowed: bool = True):
    """A hostile request of ``method`` on ``target`` (a ``tests.hostile.oracle.Target``)."""
    p = pools(world)
    model = target.name.split("-")[-1]
    ids = {
        "items": p["item_id"],
        "documents": p["document"],
        "articles": p["slug"],
        "tasks": p["task"],
    }[model]
    call = Call(target=target.name, method=method, path=target.path)
    # Half the requests are plausible, with at most a detail wrong: they
    # reach the writes, where the oracle has most to check.
    calm = draw(st.booleans())
    call.query = [] if calm and draw(st.booleans()) else draw(query(ids, target.filters))
    preference = draw(prefer)
    if preference is not None:
        call.headers["HTTP_PREFER"] = preference
    if method == "GET":
        if draw(st.booleans()):
            call.query.append(("ids", ",".join(draw(st.lists(ids.map(str), max_size=4)))))
        if target.bulk and draw(st.integers(0, 3)) == 0:
            filters = draw(
                st.dictionaries(
                    st.sampled_from(["quantity", "account", "name", "sku"]),
                    st.one_of(
                        hostile_value,
                        st.dictionaries(
                            st.sampled_from(["gte", "lte", "in", "exact", "regex"]),
                            hostile_scalar,
                            max_size=2,
                        ),
                    ),
                    max_size=2,
                )
            )
            call.content_type, call.body, call.data = (
                "application/json",
                dumps({"filters": filters}),
                {"filters": filters},
            )
        return call
    weight = 30 if calm else 3
    items = (
        delete_item_strategy(world, target.name, weight)
        if method == "DELETE"
        else item_strategy(world, target.name, method, weight)
    )
    if calm and draw(st.integers(0, 3)):
        data = draw(st.lists(items, min_size=1, max_size=3))
        call.content_type, call.body, call.data = "application/json", dumps(data), data
        return call
    if target.bulk and csv_allowed and draw(st.integers(0, 2)) == 0:
        call.content_type, call.body, call.data, call.csv = draw(
            csv_body(
                items.map(
                    lambda item: (
                        item
                        if isinstance(item, dict)
                        else {"slug" if model == "articles" else "id": item}
                    )
                )
            )
        )
    elif draw(st.integers(0, 12)) == 0:
        # A form post, or an upload on a route that takes none.
        call.content_type, call.body = multipart(
            [("id", None, None, b"1"), ("file", "x.csv", "text/csv", b"id\n1\n")],
            close=draw(st.booleans()),
        )
        call.data = RAW
    else:
        call.content_type, call.body, call.data = draw(json_body(items))
    if method == "DELETE" and draw(st.integers(0, 5)) == 0:
        call.content_type, call.body, call.data = draw(
            st.sampled_from(
                [
                    (None, None, NOBODY),
                    ("application/json", b"[]", []),
                    ("application/json", b"null", None),
                ]
            )
        )
    return call
