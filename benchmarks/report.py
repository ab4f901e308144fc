"""Tables for the benchmark results: fixed-width text for a terminal, or
reStructuredText for ``docs/performance.rst``."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.cases import CASES, IMPLEMENTATIONS, OPERATIONS

TARGET_SIZE = 10_000
LARGE_SIZE = 100_000


@dataclass
class Result:
    operation: str
    implementation: str
    n: int
    seconds: float | None = None
    queries: int | None = None
    peak_bytes: int | None = None
    # "ok", "skipped" (by a limit), "unavailable" or "failed"
    outcome: str = "ok"
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass(frozen=True)
class Target:
    label: str
    operation: str
    numerator: tuple[str, int]
    denominator: tuple[str, int]
    limit: float
    at_least: bool = False  # the ratio must be at least the limit

    def ratio(self, results: dict) -> float | None:
        top = _seconds(results, self.operation, *self.numerator)
        bottom = _seconds(results, self.operation, *self.denominator)
        if top is None or bottom is None or bottom == 0:
            return None
        return top / bottom

    def met(self, ratio: float) -> bool:
        return ratio >= self.limit if self.at_least else ratio <= self.limit


# The targets of the bulk engine, measured at 10 000 items.
TARGETS = [
    Target(
        "create <= 2x ORM bulk_create()",
        "create",
        ("drf-bulk", TARGET_SIZE),
        ("orm", TARGET_SIZE),
        2.0,
    ),
    Target(
        "create >= 10x faster than plain DRF",
        "create",
        ("drf", TARGET_SIZE),
        ("drf-bulk", TARGET_SIZE),
        10.0,
        at_least=True,
    ),
    Target(
        "PUT all fields <= 0.25x ORM bulk_update()",
        "update",
        ("drf-bulk", TARGET_SIZE),
        ("orm", TARGET_SIZE),
        0.25,
    ),
    Target(
        "PATCH one field <= 1x ORM bulk_update()",
        "partial_update",
        ("drf-bulk", TARGET_SIZE),
        ("orm", TARGET_SIZE),
        1.0,
    ),
    Target(
        "DELETE by ids <= 3x filter(pk__in=ids).delete()",
        "destroy",
        ("drf-bulk", TARGET_SIZE),
        ("orm", TARGET_SIZE),
        3.0,
    ),
] + [
    Target(
        f"{op.label}: drf-bulk at 100 000 items <= 12x its 10 000 time",
        op.key,
        ("drf-bulk", LARGE_SIZE),
        ("drf-bulk", TARGET_SIZE),
        12.0,
    )
    for op in OPERATIONS.values()
]


LEGEND = [
    "drf-bulk: ListBulkCreateUpdateDestroyAPIView with a BulkListSerializer, one request "
    "per operation; DELETE sends the list of ids as its body.",
    "plain DRF: ListCreateAPIView with many=True for create; for the others a loop that "
    "fetches, validates and saves (or deletes) each item, in one transaction.",
    "ORM floor: Django's bulk methods on model instances built before timing; no HTTP and "
    "no validation.",
    "seconds: wall time of the operation alone, best of the timed runs; building the data "
    "and checking the result afterwards are not timed.",
    "queries: SQL statements sent during the operation.",
    "peak MiB: Python memory peak (tracemalloc) during the operation, from a separate run.",
    "vs ORM, vs DRF: seconds over the ORM floor's, or plain DRF's, seconds for the same "
    "operation and size.",
]


def _seconds(results: dict, operation: str, implementation: str, n: int) -> float | None:
    result = results.get((operation, implementation, n))
    return result.seconds if result is not None and result.ok else None


def count(value: int) -> str:
    """``10000`` as ``10 000``."""
    return f"{value:,}".replace(",", " ")


def _time(seconds: float) -> str:
    return (
        f"{seconds:.4f}" if seconds < 1 else f"{seconds:.3f}" if seconds < 100 else f"{seconds:.1f}"
    )


def _ratio(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.3f}x" if value < 0.1 else f"{value:.2f}x"


def render(results: list[Result], meta: list[tuple[str, str]], fmt: str) -> str:
    by_key = {(r.operation, r.implementation, r.n): r for r in results}
    notes: list[str] = []

    def mark(note: str) -> str:
        if note not in notes:
            notes.append(note)
        return f"({notes.index(note) + 1})"

    headers = [
        "operation",
        "items",
        "implementation",
        "seconds",
        "queries",
        "peak MiB",
        "vs ORM",
        "vs DRF",
    ]
    align = "<><>>>>>"
    rows = []
    for result in results:
        op = OPERATIONS[result.operation]
        name = IMPLEMENTATIONS[result.implementation]
        detail = CASES[(result.operation, result.implementation)].detail
        if detail:
            name = f"{name}: {detail}"
        row = [op.label, count(result.n), name]
        if result.ok:
            orm = _seconds(by_key, result.operation, "orm", result.n)
            drf = _seconds(by_key, result.operation, "drf", result.n)
            row += [
                _time(result.seconds),
                count(result.queries),
                "" if result.peak_bytes is None else f"{result.peak_bytes / 2**20:.1f}",
                _ratio(result.seconds / orm if orm else None),
                _ratio(result.seconds / drf if drf else None),
            ]
        else:
            shown = {"skipped": "—", "unavailable": "n/a", "failed": "FAILED"}[result.outcome]
            row += [f"{shown} {mark(result.note)}", "", "", "", ""]
        rows.append(row)

    target_rows = []
    for target in TARGETS:
        ratio = target.ratio(by_key)
        if ratio is None:
            target_rows.append([target.label, "", "not measured"])
        else:
            verdict = "met" if target.met(ratio) else "NOT MET"
            target_rows.append([target.label, _ratio(ratio), verdict])

    if fmt == "rst":
        return _render_rst(meta, headers, align, rows, notes, target_rows)
    return _render_text(meta, headers, align, rows, notes, target_rows)


def _widths(headers: list[str], rows: list[list[str]]) -> list[int]:
    return [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]


def _line(cells: list[str], widths: list[int], align: str) -> str:
    return "  ".join(
        cell.ljust(width) if a == "<" else cell.rjust(width)
        for cell, width, a in zip(cells, widths, align)
    ).rstrip()


def _render_text(meta, headers, align, rows, notes, target_rows) -> str:
    out = ["drf-bulk benchmarks", ""]
    key_width = max(len(key) for key, _ in meta)
    out += [f"{key.ljust(key_width)}  {value}" for key, value in meta]
    out.append("")
    widths = _widths(headers, rows)
    out.append(_line(headers, widths, align))
    out.append(_line(["-" * w for w in widths], widths, align))
    previous = None
    for row in rows:
        # Print the operation and size once per group, as a reader scans.
        group = tuple(row[:2])
        shown = ["", ""] + row[2:] if group == previous else row
        if previous is not None and group != previous:
            out.append("")
        out.append(_line(shown, widths, align))
        previous = group
    out.append("")
    out += [f"({i}) {note}" for i, note in enumerate(notes, 1)]
    out += LEGEND
    out.append("")
    out.append(f"Targets at {count(TARGET_SIZE)} items")
    target_headers = ["target", "measured", "verdict"]
    widths = _widths(target_headers, target_rows)
    out.append(_line(target_headers, widths, "<><"))
    out.append(_line(["-" * w for w in widths], widths, "<><"))
    out += [_line(row, widths, "<><") for row in target_rows]
    return "\n".join(out) + "\n"


def _rst_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = _widths(headers, rows)
    border = "  ".join("=" * w for w in widths)
    out = [border, "  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), border]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    out.append(border)
    return out


def _render_rst(meta, headers, align, rows, notes, target_rows) -> str:
    out = [".. Produced by ``python -m benchmarks --format rst``.", ""]
    out += [f":{key}: {value}" for key, value in meta]
    out.append("")
    out += _rst_table(headers, rows)
    out.append("")
    out += [f"- ({i}) {note}" for i, note in enumerate(notes, 1)]
    out += [f"- {line}" for line in LEGEND]
    out.append("")
    out.append(f"Targets at {count(TARGET_SIZE)} items:")
    out.append("")
    out += _rst_table(["target", "measured", "verdict"], target_rows)
    return "\n".join(out) + "\n"
