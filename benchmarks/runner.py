"""Run the registered cases and print the table.

Each measurement starts from a freshly emptied table, filled by the case's
``prepare`` step. The timed run counts queries with a
``connection.execute_wrapper`` (a counter, not a log); peak memory comes from
a second run under ``tracemalloc``, which would slow the first one down.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import sqlite3
import sys
import time
import traceback
import tracemalloc
from pathlib import Path

import django
import rest_framework
from django.conf import settings
from django.db import connection
from django.test import override_settings

from benchmarks import data
from benchmarks.cases import CASES, DEFAULT_IMPLEMENTATIONS, IMPLEMENTATIONS, OPERATIONS, Case
from benchmarks.report import Result, count, render

DEFAULT_SIZES = [1_000, 10_000, 100_000]
DEFAULT_DRF_MAX = 10_000
# Without a batch size, bulk_update() sends one UPDATE with a CASE over every
# row for each field; on PostgreSQL 15 six fields over 10 000 rows took seven
# minutes. Around 100 rows per statement was the fastest in a sweep.
DEFAULT_ORM_UPDATE_BATCH_SIZE = 100
WARM_UP_SIZE = 3
# Small runs are over in milliseconds and easily disturbed; repeat them.
SMALL_SIZE = 1_000
SMALL_REPEAT = 3


def _list(choices):
    def parse(value: str) -> list[str]:
        items = [item.strip() for item in value.split(",") if item.strip()]
        unknown = [item for item in items if item not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown: {', '.join(unknown)} (choose from {', '.join(choices)})"
            )
        return items

    return parse


def _bulk_setting(value: str) -> tuple[str, object]:
    name, sep, text = value.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"not NAME=VALUE: {value!r}")
    try:
        return name, json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: the value is not JSON: {text!r}") from None


def _sizes(value: str) -> list[int]:
    try:
        sizes = [int(item.replace("_", "")) for item in value.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {value!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive integers")
    return sizes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Compare drf-bulk, plain Django REST framework and the Django ORM's bulk "
            "methods on one database (DATABASE_URL, or a temporary SQLite file)."
        ),
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=DEFAULT_SIZES,
        help="comma-separated list sizes (default: 1000,10000,100000)",
    )
    parser.add_argument(
        "--operations",
        type=_list(list(OPERATIONS)),
        default=list(OPERATIONS),
        help=f"comma-separated, from {','.join(OPERATIONS)} (default: all)",
    )
    parser.add_argument(
        "--implementations",
        type=_list(list(IMPLEMENTATIONS)),
        default=DEFAULT_IMPLEMENTATIONS,
        help=(
            f"comma-separated, from {','.join(IMPLEMENTATIONS)} "
            f"(default: {','.join(DEFAULT_IMPLEMENTATIONS)})"
        ),
    )
    parser.add_argument(
        "--drf-max",
        type=int,
        default=DEFAULT_DRF_MAX,
        help="largest size run with plain DRF, which writes row by row (default: 10000)",
    )
    parser.add_argument(
        "--orm-update-batch-size",
        type=int,
        default=DEFAULT_ORM_UPDATE_BATCH_SIZE,
        help=(
            "batch_size for the ORM floor's bulk_update(); 0 for Django's default "
            f"(default: {DEFAULT_ORM_UPDATE_BATCH_SIZE})"
        ),
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help=(
            "timed runs per measurement; the best one is reported (default: "
            f"{SMALL_REPEAT} up to {count(SMALL_SIZE)} items, 1 above)"
        ),
    )
    parser.add_argument(
        "--no-memory",
        action="store_true",
        help="skip the separate tracemalloc run that measures peak memory",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        type=Path,
        help="also run each case under cProfile and write DIR/<operation>-<size>-<implementation>.prof",
    )
    parser.add_argument(
        "--bulk-setting",
        metavar="NAME=JSON",
        type=_bulk_setting,
        action="append",
        default=[],
        help=(
            "a REST_FRAMEWORK_BULK setting for the drf-bulk cases, the value in JSON, e.g. "
            "COMPILED_SERIALIZERS=false (repeatable)"
        ),
    )
    parser.add_argument(
        "--format",
        choices=["text", "rst"],
        default="text",
        help="text for a terminal, rst for docs/performance.rst (default: text)",
    )
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def _load() -> float:
    # Other work on the machine shows in the timings; say how much there was.
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _prepared(case: Case, n: int):
    state = case.prepare(n)
    gc.collect()
    return state


def measure(case: Case, n: int, args: argparse.Namespace) -> Result:
    result = Result(case.operation, case.implementation, n)
    best = None
    for _ in range(repeats(args, n)):
        state = _prepared(case, n)
        counter = QueryCounter()
        with connection.execute_wrapper(counter):
            start = time.perf_counter()
            outcome = case.run(state)
            elapsed = time.perf_counter() - start
        case.check(state, outcome)
        del state, outcome
        if best is None or elapsed < best:
            best, result.queries = elapsed, counter.count
    result.seconds = best

    if not args.no_memory:
        state = _prepared(case, n)
        tracemalloc.start()
        try:
            outcome = case.run(state)
            result.peak_bytes = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        case.check(state, outcome)
        del state, outcome

    if args.profile:
        state = _prepared(case, n)
        profiler = cProfile.Profile()
        outcome = profiler.runcall(case.run, state)
        case.check(state, outcome)
        args.profile.mkdir(parents=True, exist_ok=True)
        path = args.profile / f"{case.operation}-{n}-{case.implementation}.prof"
        profiler.dump_stats(path)
        _progress(f"  profile written to {path}")
    return result


def repeats(args: argparse.Namespace, n: int) -> int:
    if args.repeat is not None:
        return args.repeat
    return SMALL_REPEAT if n <= SMALL_SIZE else 1


def machine_info(args: argparse.Namespace) -> list[tuple[str, str]]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from rest_framework_bulk import __version__ as bulk_version
    except Exception:
        bulk_version = "not importable"
    if args.repeat is None:
        method = f"best of {SMALL_REPEAT} timed runs up to {count(SMALL_SIZE)} items, one run above"
    else:
        method = f"best of {args.repeat} timed run{'s' if args.repeat > 1 else ''}"
    return [
        ("Machine", f"{os.cpu_count()} CPUs, {cpu}, {platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("Django", django.get_version()),
        ("Django REST framework", rest_framework.__version__),
        ("drf-bulk", bulk_version),
        ("Database", database_version()),
        ("Method", f"{method}; in-process HTTP through Django's test client, JSON bodies"),
    ]


def database_version() -> str:
    if connection.vendor == "sqlite":
        where = "in memory" if connection.is_in_memory_db() else "a file"
        return f"SQLite {sqlite3.sqlite_version}, {where}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0]
    if connection.vendor == "postgresql":
        # "PostgreSQL 15.20 (Debian ...) on x86_64-pc-linux-gnu, ..." -> "PostgreSQL 15.20"
        return " ".join(version.split()[:2])
    name = "MariaDB" if "mariadb" in version.lower() else "MySQL"
    return f"{name} {version.split('-')[0]}"


def skip_reason(case: Case, n: int, args: argparse.Namespace) -> tuple[str, str] | None:
    reason = case.unavailable()
    if reason:
        return "unavailable", reason
    if case.implementation == "drf" and n > args.drf_max:
        return "skipped", (
            f"plain DRF is not run above {count(args.drf_max)} items (--drf-max): it "
            "validates and writes one row at a time, a query or more per item, and takes "
            "minutes."
        )
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[Result] = []
    failed = False
    for case in CASES.values():
        case.configure(args)
    load_before = _load()
    overrides = dict(args.bulk_setting)
    bulk_settings = override_settings(
        REST_FRAMEWORK_BULK={**getattr(settings, "REST_FRAMEWORK_BULK", {}), **overrides}
    )
    bulk_settings.enable()
    old_database = data.create_database()
    try:
        meta = machine_info(args)
        if overrides:
            meta.append(
                ("drf-bulk settings", ", ".join(f"{k}={v!r}" for k, v in overrides.items()))
            )
        warmed: set[tuple[str, str]] = set()
        for n in args.sizes:
            for operation in args.operations:
                for implementation in args.implementations:
                    case = CASES[(operation, implementation)]
                    label = f"{OPERATIONS[operation].label}, {count(n)} items, {IMPLEMENTATIONS[implementation]}"
                    skipped = skip_reason(case, n, args)
                    if skipped:
                        outcome, note = skipped
                        results.append(
                            Result(operation, implementation, n, outcome=outcome, note=note)
                        )
                        _progress(f"{label}: {note}")
                        continue
                    try:
                        if (operation, implementation) not in warmed:
                            # Imports, URL resolving and other first-call costs.
                            state = case.prepare(WARM_UP_SIZE)
                            case.check(state, case.run(state))
                            warmed.add((operation, implementation))
                        result = measure(case, n, args)
                    except Exception as exc:
                        failed = True
                        _progress(f"{label}: FAILED")
                        traceback.print_exc()
                        note = (
                            f"{IMPLEMENTATIONS[implementation]} failed: {type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''}"
                        )
                        result = Result(
                            operation, implementation, n, outcome="failed", note=note[:300]
                        )
                    else:
                        _progress(
                            f"{label}: {result.seconds:.4f} s, {count(result.queries)} queries"
                        )
                    results.append(result)
    finally:
        data.destroy_database(old_database)
        bulk_settings.disable()
    meta.append(("Load average", f"{load_before:.2f} before, {_load():.2f} after (1 minute)"))
    sys.stdout.write(render(results, meta, args.format))
    return 1 if failed else 0
