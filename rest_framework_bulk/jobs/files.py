"""
A job's files in Django's storage.

Under ``{JOB_STORAGE_PREFIX}{job id}/`` a job keeps:

* ``input.jsonl`` (one item per line; for the rows of a CSV body, each with
  its line number) or ``input.csv`` (the file as uploaded);
* ``parts/{phase}-{start}.part``: what each batch did, as its share of the
  result files (its JSON lines and CSV rows of each kind, the columns these
  use, the indexes of the items that failed), written by the worker that ran
  the batch before the batch commits, so that the outcomes of committed
  batches survive a crash; a batch that runs again replaces its part. Parts
  are named by the index of the batch's first item, so parts written by
  different workers put together;
* the result files, ``{kind}.jsonl`` and ``{kind}.csv`` for the successful,
  failed and unprocessed items: the parts, copied in item order (see
  :func:`rest_framework_bulk.jobs.results.write_results`).

The payload never travels through a broker: a job is known by its id alone.

Items are stored as UTF-8. Text that UTF-8 cannot hold (a lone surrogate
such as ``"\\ud800"``, which a JSON body may spell) is refused when the job
is submitted (:class:`UnstorableItems`), as a synchronous request refuses it
when validating.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import posixpath
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any

from django.core.files import File
from django.core.files.storage import Storage, storages

from ..parsers import CSVRow, CSVRows
from ..settings import api_settings
from .rows import KINDS, BatchRows, dumps, get_null_value

logger = logging.getLogger("rest_framework_bulk.jobs")

#: Spooled to disk above this size, so a large input never sits in memory.
SPOOL_SIZE = 4 * 1024 * 1024

#: Most refused items an ``UnstorableItems`` lists.
MAX_UNSTORABLE = 100


class InputMissing(Exception):
    """A job's input file is not in storage (deleted, or never copied over)."""

    def __init__(self, name: str):
        super().__init__(f"The input file {name!r} is missing.")
        self.name = name


class UnstorableItems(Exception):
    """Items that cannot be stored as UTF-8; ``items`` holds ``(index, item)`` pairs."""

    def __init__(self, items: list[tuple[int, Any]]):
        super().__init__(f"{len(items)} items cannot be stored as UTF-8.")
        self.items = items


def get_storage() -> Storage:
    return storages[api_settings.JOB_STORAGE]


def job_path(job_id, *names: str) -> str:
    prefix = api_settings.JOB_STORAGE_PREFIX.strip("/")
    return posixpath.join(prefix, str(job_id), *names)


def spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_SIZE)


def save(name: str, content: IO[bytes]) -> str:
    """Save ``content`` as ``name``, replacing a file of that name."""
    storage = get_storage()
    if storage.exists(name):
        storage.delete(name)
    content.seek(0)
    saved = storage.save(name, File(content, name=posixpath.basename(name)))
    if saved != name:
        # A storage that renamed the file (another writer raced us): the
        # name is what readers look for, so this is an error worth seeing.
        storage.delete(saved)
        raise OSError(f"Storage saved {name!r} as {saved!r}.")
    return saved


def write_lines(name: str, records: Iterable[Any]) -> tuple[str, int]:
    """Save ``records`` as JSON lines; returns the name and the count.

    Raises ``UnstorableItems``, saving nothing, if some records hold text
    UTF-8 cannot encode.
    """
    count = 0
    unstorable: list[tuple[int, Any]] = []
    with spool() as buffer:
        for record in records:
            try:
                line = dumps(record).encode()
            except UnicodeEncodeError:
                if len(unstorable) < MAX_UNSTORABLE:
                    unstorable.append((count, record))
            else:
                if not unstorable:
                    buffer.write(line)
                    buffer.write(b"\n")
            count += 1
        if unstorable:
            raise UnstorableItems(unstorable)
        return save(name, buffer), count


def open_file(name: str) -> IO[bytes]:
    """``name`` opened for reading; ``InputMissing`` if it is not there."""
    try:
        return get_storage().open(name, "rb")
    except FileNotFoundError:
        raise InputMissing(name) from None


def read_lines(name: str) -> Iterator[Any]:
    with open_file(name) as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def has_input(job) -> bool:
    """Whether the job's input file is still in storage."""
    return bool(job.input_name) and get_storage().exists(job.input_name)


# Input ---------------------------------------------------------------------


def is_file(value: Any) -> bool:
    return hasattr(value, "read") and not isinstance(value, (list, tuple, dict, str, bytes))


def save_input(job_id, items_or_file: Any, csv_options: dict) -> tuple[str, str, int]:
    """Store a job's input; returns its name, its format and its item count.

    A list (or any iterable) of items is stored as JSON lines, rows of a
    CSV body (``CSVRow``) with their line numbers. An uploaded
    CSV file is stored as it is, after one pass that counts its rows and
    rejects a malformed file while the client is still there to hear it.
    """
    if is_file(items_or_file):
        upload = items_or_file
        upload.seek(0)
        total = sum(1 for _row in CSVRows(upload, **csv_options))
        upload.seek(0)
        return save(job_path(job_id, "input.csv"), upload), "csv", total
    items = iter(items_or_file)
    first = next(items, None)
    items = itertools.chain([] if first is None else [first], items)
    if isinstance(first, CSVRow):
        # Rows of a CSV body keep their line numbers, for the error reports.
        records = ({"line": row.line, "row": row} for row in items)
        name, total = write_lines(job_path(job_id, "input.jsonl"), records)
        return name, "csvrows", total
    name, total = write_lines(job_path(job_id, "input.jsonl"), items)
    return name, "jsonl", total


class InputCursor:
    """The job's items, read forward once; only the items asked for are decoded.

    ``take(start, stop)`` yields ``(index, item)`` for the items from
    ``start`` up to ``stop`` (``None``: the end); each call must start at or
    after where the one before stopped. The input is opened on first use, so
    a cursor that is never asked for an item never reads it (and never
    raises ``InputMissing``).
    """

    #: JSON lines decoded at once: one ``json.loads()`` of a few hundred lines
    #: costs less than half of one call per line.
    DECODE_AT_ONCE = 250

    def __init__(self, job):
        self.job = job
        self.index = 0
        self._handle: IO[bytes] | None = None
        self._source: Iterator[Any] | None = None
        self._decode: Callable[[list[bytes]], list] | None = None
        #: Items decoded and not yet taken, the next one last.
        self._decoded: list = []

    def _open(self) -> Iterator[Any]:
        job = self.job
        self._handle = handle = open_file(job.input_name)
        if job.input_format == "csv":
            return iter(CSVRows(handle, **job.options.get("csv", {})))
        self._decode = _json_items if job.input_format == "jsonl" else _csv_rows
        return (line for line in handle if line.strip())

    def _next(self, stop: int | None) -> Any:
        """The next item, ``_END`` at the end; lines are decoded a run at a time, never past ``stop``."""
        decoded = self._decoded
        if not decoded:
            assert self._source is not None, "take() opens the input first"
            if self._decode is None:
                return next(self._source, _END)
            count = (
                self.DECODE_AT_ONCE if stop is None else min(self.DECODE_AT_ONCE, stop - self.index)
            )
            lines = list(itertools.islice(self._source, max(count, 1)))
            if not lines:
                return _END
            decoded.extend(reversed(self._decode(lines)))
        return decoded.pop()

    def take(self, start: int, stop: int | None = None) -> Iterator[tuple[int, Any]]:
        if self._source is None:
            self._source = self._open()
        while self.index < start:
            if self._decoded:
                self._decoded.pop()
            elif next(self._source, _END) is _END:
                return
            self.index += 1
        while stop is None or self.index < stop:
            item = self._next(stop)
            if item is _END:
                return
            self.index += 1
            yield self.index - 1, item

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()

    def __enter__(self) -> InputCursor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


_END = object()


def _json_items(lines: list[bytes]) -> list:
    try:
        return json.loads(b"[" + b",".join(lines) + b"]")
    except ValueError:
        # Name the line at fault, as decoding one line at a time would.
        return [json.loads(line) for line in lines]


def _csv_rows(lines: list[bytes]) -> list[CSVRow]:
    # Rows of a CSV body, stored with their line numbers.
    return [CSVRow(item["row"], line=item["line"]) for item in _json_items(lines)]


def iter_input(job, start: int = 0) -> Iterator[tuple[int, Any]]:
    """``(index, item)`` for the job's items from ``start`` on."""
    with InputCursor(job) as cursor:
        yield from cursor.take(start)


def iter_batches(job, start: int = 0) -> Iterator[tuple[int, list]]:
    """``(index of the first item, items)`` for each batch from ``start`` on."""
    batch: list = []
    first = start
    for index, item in iter_input(job, start):
        if not batch:
            first = index
        batch.append(item)
        if len(batch) >= job.batch_size:
            yield first, batch
            batch = []
    if batch:
        yield first, batch


# Batch parts -----------------------------------------------------------------

#: The layout of a part; a part of another version is read as if missing.
PART_VERSION = 1


def part_name(job, phase: str, start: int) -> str:
    return job_path(job.pk, "parts", f"{phase}-{start:012d}.part")


def legacy_part_name(job, phase: str, start: int) -> str:
    """Where releases before parts held result rows kept a batch's outcome records."""
    return job_path(job.pk, "parts", f"{phase}-{start:012d}.jsonl")


def write_part(
    job,
    phase: str,
    start: int,
    records: list[dict],
    items: Sequence,
    *,
    kinds: Iterable[str] = KINDS,
) -> None:
    """Store what the batch of ``items`` at ``start`` did, as its share of the result files.

    ``records`` are the batch's outcomes (``ItemResult.as_dict()``); an item
    without one was not run. The part holds, for each of ``kinds``, the
    batch's JSON lines and CSV rows (with the columns they use), and the
    indexes of the items that failed;
    :func:`~rest_framework_bulk.jobs.results.write_results` puts the parts
    together. Call it before the batch commits, so that what was committed
    has its part; a batch that runs again replaces it.
    """
    batch = BatchRows(get_null_value(job), kinds)
    batch.add_items(zip(range(start, start + len(items)), items), records)
    sections = []
    manifest: dict[str, Any] = {
        "version": PART_VERSION,
        "start": start,
        "size": len(items),
        "failed": batch.failed,
        "kinds": {},
    }
    for kind, rows in batch.items():
        jsonl, table = rows.jsonl(), rows.csv()
        manifest["kinds"][kind] = {
            "count": rows.count,
            "meta": list(rows.meta),
            "columns": list(rows.columns),
            "jsonl": len(jsonl),
            "csv": len(table),
        }
        sections += [jsonl, table]
    with spool() as buffer:
        buffer.write(dumps(manifest).encode())
        buffer.write(b"\n")
        for section in sections:
            buffer.write(section)
        save(part_name(job, phase, start), buffer)


class Part:
    """A batch's share of the result files, as :func:`write_part` stored it."""

    def __init__(self, manifest: dict, body: bytes):
        self.start: int = manifest["start"]
        self.size: int = manifest["size"]
        self.failed: list[int] = manifest["failed"]
        #: ``(count, meta, columns, jsonl, csv)`` by kind.
        self.sections: dict[str, tuple[int, list[str], list[str], bytes, bytes]] = {}
        offset = 0
        for kind, entry in manifest["kinds"].items():
            jsonl = body[offset : offset + entry["jsonl"]]
            offset += entry["jsonl"]
            table = body[offset : offset + entry["csv"]]
            offset += entry["csv"]
            self.sections[kind] = (entry["count"], entry["meta"], entry["columns"], jsonl, table)


def read_part(job, phase: str, start: int) -> Part | None:
    """The part of ``phase``'s batch at ``start``; ``None`` if there is none."""
    name = part_name(job, phase, start)
    if not get_storage().exists(name):
        return None
    with open_file(name) as handle:
        content = handle.read()
    head, _newline, body = content.partition(b"\n")
    manifest = json.loads(head)
    if manifest.get("version") != PART_VERSION:
        return None
    return Part(manifest, body)


def read_legacy_part(job, phase: str, start: int) -> list[dict] | None:
    """The outcome records an earlier release kept for a batch; ``None`` if there are none.

    A job that was running when the package was upgraded has them for the
    batches it committed before.
    """
    name = legacy_part_name(job, phase, start)
    if not get_storage().exists(name):
        return None
    return list(read_lines(name))


# Clean-up --------------------------------------------------------------------


def delete_files(job_id) -> None:
    """Delete every file of the job ``job_id``."""
    storage = get_storage()
    root = job_path(job_id)
    try:
        _delete_tree(storage, root)
    except NotImplementedError:  # pragma: no cover - a storage that cannot list
        for name in ("input.jsonl", "input.csv"):
            storage.delete(job_path(job_id, name))
    except OSError:
        logger.warning("Could not delete the files of bulk job %s.", job_id, exc_info=True)


def _delete_tree(storage: Storage, path: str) -> None:
    try:
        directories, names = storage.listdir(path)
    except FileNotFoundError:
        return
    for directory in directories:
        _delete_tree(storage, posixpath.join(path, directory))
    for name in names:
        storage.delete(posixpath.join(path, name))
    if hasattr(storage, "path"):
        # A file system storage keeps empty directories.
        try:
            os.rmdir(storage.path(path))
        except OSError:
            pass
