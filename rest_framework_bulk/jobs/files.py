"""
A job's files in Django's storage.

Under ``{JOB_STORAGE_PREFIX}{job id}/`` a job keeps:

* ``input.jsonl`` (one item per line; for the rows of a CSV body, each with
  its line number) or ``input.csv`` (the file as uploaded);
* ``parts/{phase}-{start}.jsonl``: the outcome of each batch, written before
  the batch commits, so that the outcomes of committed batches survive a
  crash (a batch that runs again overwrites its part);
* the result files, ``{kind}.jsonl`` and ``{kind}.csv`` for the successful,
  failed and unprocessed items.

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
from collections.abc import Iterable, Iterator
from typing import IO, Any

from django.core.files import File
from django.core.files.storage import Storage, storages
from rest_framework.utils.encoders import JSONEncoder

from ..parsers import CSVRow, CSVRows
from ..settings import api_settings

logger = logging.getLogger("rest_framework_bulk.jobs")

#: Spooled to disk above this size, so a large input never sits in memory.
SPOOL_SIZE = 4 * 1024 * 1024

_encoder = JSONEncoder(ensure_ascii=False, separators=(",", ":"))

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


def dumps(value: Any) -> str:
    return _encoder.encode(value)


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


def iter_input(job, start: int = 0) -> Iterator[tuple[int, Any]]:
    """``(index, item)`` for the job's items from ``start`` on."""
    if job.input_format == "csv":
        with open_file(job.input_name) as handle:
            for index, row in enumerate(CSVRows(handle, **job.options.get("csv", {}))):
                if index >= start:
                    yield index, row
        return
    rows = job.input_format == "csvrows"
    with open_file(job.input_name) as handle:
        index = 0
        for line in handle:
            if not line.strip():
                continue
            if index >= start:
                item = json.loads(line)
                yield index, CSVRow(item["row"], line=item["line"]) if rows else item
            index += 1


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


# Batch outcomes ------------------------------------------------------------


def part_name(job, phase: str, start: int) -> str:
    return job_path(job.pk, "parts", f"{phase}-{start:012d}.jsonl")


def write_part(job, phase: str, start: int, records: list[dict]) -> None:
    write_lines(part_name(job, phase, start), records)


def iter_outcomes(job, phase: str | None, end: int | None = None) -> Iterator[dict]:
    """The recorded outcomes of ``phase``'s batches before ``end``, in item order."""
    if phase is None:
        return
    storage = get_storage()
    end = job.total if end is None else end
    for start in range(0, end, job.batch_size):
        name = part_name(job, phase, start)
        if storage.exists(name):
            yield from sorted(read_lines(name), key=lambda record: record["index"])


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
