"""
``python -m benchmarks.jobs``: a CSV upload of a million rows through a bulk job.

Run it on PostgreSQL::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python -m benchmarks.jobs
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python -m benchmarks.jobs --rows 100000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python -m benchmarks.jobs --csv-mb 200

Each run writes a CSV of products to disk, row by row, sends it as one
``POST /products/bulk/`` multipart upload (streamed from the file, with
``Prefer: handling=lenient``), which the endpoint turns into a job, and runs
that job in-process as the embedded runner would. It reports rows per
second, wall time, the file size, the peak RSS of the process (sampled, and
``getrusage``'s max RSS) and the tracemalloc peak.

To show that memory does not grow with the file, the same measure is taken
for a tenth of the rows, each size in a process of its own (max RSS never
goes down), and both are printed. ``--csv-mb N`` sizes the file in
megabytes instead of rows (the 200 MB streaming check of the /bulk/
endpoint). ``--no-tracemalloc`` leaves tracemalloc off (it slows Python down).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

#: The columns of the generated CSV; ``name`` is padded for ``--csv-mb``.
COLUMNS = ["category", "sku", "name", "price", "quantity", "active"]
CATEGORIES = 10
#: ``name`` length with ``--csv-mb``: fewer, fatter rows, as a real export has.
PADDED_NAME = 90


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.jobs", description=__doc__.split("\n\n")[0]
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--rows", type=int, default=1_000_000, help="rows in the CSV (default 1 000 000)"
    )
    size.add_argument("--csv-mb", type=float, help="size the CSV in megabytes instead of rows")
    parser.add_argument("--no-tracemalloc", action="store_true", help="leave tracemalloc off")
    parser.add_argument(
        "--no-compare", action="store_true", help="skip the run with a tenth of the rows"
    )
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# Measures -------------------------------------------------------------------


def current_rss() -> int:
    """Resident set size of this process, in bytes."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RSSSampler(threading.Thread):
    def __init__(self, interval: float = 0.05):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = current_rss()
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(self.interval):
            self.peak = max(self.peak, current_rss())

    def stop(self) -> int:
        self.done.set()
        self.join()
        return max(self.peak, current_rss())


def max_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


# The run ---------------------------------------------------------------------


def write_csv(path: str, rows: int | None, megabytes: float | None, category_ids: list[int]) -> int:
    """Write the CSV row by row; returns the number of rows."""
    limit = int(megabytes * 1024 * 1024) if megabytes else None
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        while (count < rows) if limit is None else (handle.tell() < limit):
            name = f"product {count}"
            if limit is not None:
                name = name.ljust(PADDED_NAME, "x")
            writer.writerow(
                [
                    category_ids[count % len(category_ids)],
                    f"SKU{count:09d}",
                    name,
                    f"{count % 1000}.99",
                    count % 500,
                    "true",
                ]
            )
            count += 1
    return count


class Chain(io.RawIOBase):
    """A readable stream of some bytes, a file, and some more bytes: the multipart body."""

    def __init__(self, head: bytes, path: str, tail: bytes):
        self.parts = [io.BytesIO(head), open(path, "rb"), io.BytesIO(tail)]

    def readable(self):
        return True

    def readinto(self, buffer):
        while self.parts:
            data = self.parts[0].read(len(buffer))
            if data:
                buffer[: len(data)] = data
                return len(data)
            self.parts.pop(0).close()
        return 0


def upload(path: str, user):
    """``POST /products/bulk/`` with the file as a multipart upload, read from disk as it goes."""
    from django.core.handlers.wsgi import WSGIRequest
    from django.urls import resolve
    from rest_framework.test import force_authenticate

    boundary = "drf-bulk-benchmark-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="products.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + os.path.getsize(path) + len(tail)
    url = "/products/bulk/"
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": url,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "HTTP_PREFER": "handling=lenient",
        "HTTP_ACCEPT": "application/json",
        "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}",
        "CONTENT_LENGTH": str(length),
        "wsgi.input": io.BufferedReader(Chain(head, path, tail), 256 * 1024),
        "wsgi.url_scheme": "http",
    }
    request = WSGIRequest(environ)
    force_authenticate(request, user)
    match = resolve(url)
    request.resolver_match = match
    response = match.func(request, *match.args, **match.kwargs)
    response.render()
    return response


def run_once(args) -> dict:
    import django

    django.setup()

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection

    from benchmarks.models import Category, Product

    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    tmpdir = tempfile.mkdtemp(prefix="drf-bulk-bench-csv-")
    path = os.path.join(tmpdir, "products.csv")
    try:
        user = get_user_model().objects.create(username="bench")
        category_ids = [Category.objects.create(name=f"category {n}").pk for n in range(CATEGORIES)]
        started = time.perf_counter()
        rows = write_csv(path, args.rows, args.csv_mb, category_ids)
        generated = time.perf_counter() - started
        size = os.path.getsize(path)

        if not args.no_tracemalloc:
            import tracemalloc

            tracemalloc.start()
        sampler = RSSSampler()
        sampler.start()
        rss_before = current_rss()
        started = time.perf_counter()
        response = upload(path, user)
        submitted = time.perf_counter() - started
        assert response.status_code == 202, response.content[:500]
        job_id = response.data["task_id"]

        from rest_framework_bulk.jobs.models import BulkJob
        from rest_framework_bulk.jobs.running import run_job

        run_job(job_id)
        wall = time.perf_counter() - started
        rss_peak = sampler.stop()
        traced = None
        if not args.no_tracemalloc:
            import tracemalloc

            traced = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        job = BulkJob.objects.get(pk=job_id)
        return {
            "database": connection.vendor,
            "rows": rows,
            "file_bytes": size,
            "generate_seconds": round(generated, 2),
            "submit_seconds": round(submitted, 2),
            "wall_seconds": round(wall, 2),
            "rows_per_second": round(rows / wall),
            "state": job.state,
            "succeeded": job.succeeded,
            "failed": job.failed,
            "products_in_db": Product.objects.count(),
            "rss_before_mb": round(rss_before / 2**20, 1),
            "rss_peak_sampled_mb": round(rss_peak / 2**20, 1),
            "max_rss_mb": round(max_rss() / 2**20, 1),
            "tracemalloc_peak_mb": None if traced is None else round(traced / 2**20, 1),
        }
    finally:
        import shutil

        shutil.rmtree(tmpdir, ignore_errors=True)
        shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
        connection.creation.destroy_test_db(name, verbosity=0)


def child(args, rows=None, megabytes=None) -> dict:
    """One size, measured in a process of its own."""
    command = [sys.executable, "-m", "benchmarks.jobs", "--single"]
    command += ["--csv-mb", str(megabytes)] if megabytes else ["--rows", str(rows)]
    if args.no_tracemalloc:
        command.append("--no-tracemalloc")
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def show(label: str, result: dict) -> None:
    print(f"{label}:")
    for key, value in result.items():
        print(f"  {key:22} {value}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.single:
        print(json.dumps(run_once(args)))
        return 0
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("note: meant for PostgreSQL (DATABASE_URL=postgres://...)", file=sys.stderr)
    full = child(args, rows=args.rows, megabytes=args.csv_mb)
    show("full size", full)
    if not args.no_compare:
        tenth = child(
            args,
            rows=max(full["rows"] // 10, 1),
            megabytes=args.csv_mb / 10 if args.csv_mb else None,
        )
        show("a tenth of the rows", tenth)
        print(
            "peak memory, full / tenth: "
            f"RSS {full['rss_peak_sampled_mb']} / {tenth['rss_peak_sampled_mb']} MB, "
            f"tracemalloc {full['tracemalloc_peak_mb']} / {tenth['tracemalloc_peak_mb']} MB"
        )
    return 0


if __name__ == "__main__":
    # The benchmarks always use their own settings, whatever the shell has.
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.jobs_settings"
    sys.exit(main())
