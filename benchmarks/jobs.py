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

Without ``--rows`` or ``--csv-mb`` it prints one table (what ``make
bench-jobs`` shows): the 100 000-row job on one worker and on two (a second
process claiming the job's chunks, ``JOB_CHUNK_SIZE`` 50 000), each beside
``bulk_create()`` of the same rows in the same run, then the 1 000 000-row
job's rows/s and peak RSS beside a tenth of it, with the machine's CPU,
load average and versions; tracemalloc stays off there. ``--workers 2``
runs one size on two workers.

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
        "--rows", type=int, help="rows in the CSV (without --rows or --csv-mb: the table)"
    )
    size.add_argument("--csv-mb", type=float, help="size the CSV in megabytes instead of rows")
    parser.add_argument("--no-tracemalloc", action="store_true", help="leave tracemalloc off")
    parser.add_argument(
        "--no-compare", action="store_true", help="skip the run with a tenth of the rows"
    )
    parser.add_argument(
        "--workers",
        type=int,
        choices=(1, 2),
        default=1,
        help="processes running the job's chunks (default 1)",
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip bulk_create() of the same rows"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of the 100 000-row job per worker count in the table; the fastest "
        "is shown (default 3)",
    )
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--helper", action="store_true", help=argparse.SUPPRESS)
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

        # A second worker is up before the upload, as a deployment's workers
        # are, so that its start-up is not counted as the job's time.
        helper = start_helper(name) if args.workers > 1 else None
        if not args.no_tracemalloc:
            import tracemalloc

            tracemalloc.start()
        sampler = RSSSampler()
        sampler.start()
        rss_before = current_rss()
        from rest_framework_bulk.jobs.models import BulkJob
        from rest_framework_bulk.jobs.running import run_job

        try:
            started = time.perf_counter()
            response = upload(path, user)
            submitted = time.perf_counter() - started
            assert response.status_code == 202, response.content[:500]
            job_id = response.data["task_id"]
            run_job(job_id)
        except BaseException:
            if helper is not None:
                helper.kill()
            raise
        finally:
            if helper is not None:
                helper.wait(600)
        wall = time.perf_counter() - started
        rss_peak = sampler.stop()
        traced = None
        if not args.no_tracemalloc:
            import tracemalloc

            traced = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        job = BulkJob.objects.get(pk=job_id)
        workers = sorted(set(job.chunks.values_list("worker", flat=True)))
        products = Product.objects.count()
        baseline = None if args.no_baseline else bulk_create_rate(path)
        return {
            "database": connection.vendor,
            "workers": args.workers,
            "chunks": job.chunks.count(),
            "chunk_workers": len(workers),
            "bulk_create_rows_per_second": baseline,
            "rows": rows,
            "file_bytes": size,
            "generate_seconds": round(generated, 2),
            "submit_seconds": round(submitted, 2),
            "wall_seconds": round(wall, 2),
            "rows_per_second": round(rows / wall),
            "state": job.state,
            "succeeded": job.succeeded,
            "failed": job.failed,
            "products_in_db": products,
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


def bulk_create_rate(path: str) -> int:
    """Rows per second of ``bulk_create()`` of the CSV's rows, in batches of 1 000, once the
    job's rows are deleted: what the job is compared with."""
    from decimal import Decimal

    from django.db import transaction

    from benchmarks.models import Product

    Product.objects.all().delete()
    started = time.perf_counter()
    count = 0
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        batch = []
        for row in reader:
            batch.append(
                Product(
                    category_id=int(row["category"]),
                    sku=row["sku"],
                    name=row["name"],
                    price=Decimal(row["price"]),
                    quantity=int(row["quantity"]),
                    active=row["active"] == "true",
                )
            )
            if len(batch) == 1000:
                with transaction.atomic():
                    Product.objects.bulk_create(batch)
                count += len(batch)
                batch = []
        if batch:
            with transaction.atomic():
                Product.objects.bulk_create(batch)
            count += len(batch)
    return round(count / (time.perf_counter() - started))


def start_helper(database: str) -> subprocess.Popen:
    """A second worker process, on this run's test database and files, claiming chunks."""
    from django.conf import settings

    env = {
        **os.environ,
        "BULK_BENCH_DB_NAME": database,
        "BULK_BENCH_MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    return subprocess.Popen([sys.executable, "-m", "benchmarks.jobs", "--helper"], env=env)


def helper() -> int:
    """Run chunks of the job until it has ended (the ``--workers 2`` helper)."""
    import django

    django.setup()

    from rest_framework_bulk.jobs import chunks
    from rest_framework_bulk.jobs.models import BulkJob

    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        chunks.work()
        if BulkJob.objects.filter(state__in=BulkJob.FINISHED_STATES).exists():
            return 0
        time.sleep(0.05)
    return 1


def child(args, rows=None, megabytes=None, workers=None, baseline=True, tracemalloc=True) -> dict:
    """One size, measured in a process of its own."""
    command = [sys.executable, "-m", "benchmarks.jobs", "--single"]
    command += ["--csv-mb", str(megabytes)] if megabytes else ["--rows", str(rows)]
    command += ["--workers", str(workers or args.workers)]
    if args.no_tracemalloc or not tracemalloc:
        command.append("--no-tracemalloc")
    if args.no_baseline or not baseline:
        command.append("--no-baseline")
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def show(label: str, result: dict) -> None:
    print(f"{label}:")
    for key, value in result.items():
        print(f"  {key:22} {value}")


def machine() -> list[str]:
    """What the numbers were measured on."""
    import platform

    import django
    import rest_framework

    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.jobs_settings")
    django.setup()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT version()" if connection.vendor != "sqlite" else "SELECT sqlite_version()"
        )
        database = cursor.fetchone()[0]
    return [
        f"CPU: {os.cpu_count()} x {model}; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}",
        f"Python {platform.python_version()}, Django {django.get_version()}, "
        f"DRF {rest_framework.__version__}",
        f"Database: {connection.vendor} {database.split(' on ')[0]}",
    ]


def table(args) -> int:
    """The 100 000-row job on 1 and 2 workers, and the 1 000 000-row job beside a tenth."""
    for line in machine():
        print(line)
    # tracemalloc slows Python down: never on for the rates. The runs on one
    # and two workers alternate, and the fastest of each is shown (as the
    # request benchmarks show the best of their runs), against the fastest
    # bulk_create() of them all.
    ones, twos = [], []
    for _ in range(max(args.repeat, 1)):
        ones.append(child(args, rows=100_000, workers=1, tracemalloc=False))
        twos.append(child(args, rows=100_000, workers=2, tracemalloc=False))
    floor = max(result["bulk_create_rows_per_second"] or 0 for result in ones + twos)
    one = {**max(ones, key=lambda result: result["rows_per_second"])}
    two = {**max(twos, key=lambda result: result["rows_per_second"])}
    one["bulk_create_rows_per_second"] = two["bulk_create_rows_per_second"] = floor
    big = child(args, rows=1_000_000, workers=1, baseline=False, tracemalloc=False)
    tenth = child(args, rows=100_000, workers=1, baseline=False, tracemalloc=False)
    rows = [
        ("CSV job, 100 000 rows, lenient, 1 worker", one),
        ("the same job on 2 workers", two),
    ]
    print()
    print(f"{'case':44} {'rows/s':>9} {'bulk_create rows/s':>19} {'time vs bulk_create':>20}")
    for label, result in rows:
        floor = result["bulk_create_rows_per_second"]
        ratio = f"{floor / result['rows_per_second']:.2f}x" if floor else "-"
        print(f"{label:44} {result['rows_per_second']:>9} {floor or '-':>19} {ratio:>20}")
    print(
        f"{'speed-up of 2 workers over 1':44} "
        f"{two['rows_per_second'] / one['rows_per_second']:>9.2f}x"
        f"   ({two['chunks']} chunks, run by {two['chunk_workers']} workers)"
    )
    print()
    print(f"{'case':44} {'rows/s':>9} {'peak RSS MB':>12} {'max RSS MB':>11}")
    for label, result in (("1 000 000-row job, 1 worker", big), ("a tenth of it", tenth)):
        print(
            f"{label:44} {result['rows_per_second']:>9} "
            f"{result['rss_peak_sampled_mb']:>12} {result['max_rss_mb']:>11}"
        )
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(
        f"runs: {len(ones)} per worker count; rows/s of each: "
        f"1 worker {', '.join(str(r['rows_per_second']) for r in ones)}; "
        f"2 workers {', '.join(str(r['rows_per_second']) for r in twos)}"
    )
    for result in (*ones, *twos, big, tenth):
        assert result["state"] == "SUCCESS" and result["products_in_db"] == result["rows"], result
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.helper:
        return helper()
    if args.single:
        print(json.dumps(run_once(args)))
        return 0
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("note: meant for PostgreSQL (DATABASE_URL=postgres://...)", file=sys.stderr)
    if args.rows is None and args.csv_mb is None:
        return table(args)
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
