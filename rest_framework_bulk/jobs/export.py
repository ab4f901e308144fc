"""
Export jobs: a bulk GET answered later, as result files.

A GET on ``/bulk/`` with ``Prefer: respond-async`` becomes a ``retrieve``
job (without it, a GET answers at once, or says how to narrow it). The job
keeps what was asked, never the rows: the ids (its input file) or the
body's filters (``options["export"]``; the query-string filters are in the
stored request, which the rebuilt view reads again).

The worker rebuilds the view for the job's owner and reads the objects
through ``view.filter_queryset(view.get_queryset())``, so an export shows
exactly what the same GET would have shown:

* with ids, batch by batch in the order asked; an id that matches nothing
  the owner may see (or that ``check_object_permissions`` refuses) is
  reported as not found;
* with filters, it first lists the primary keys of the matches to a file,
  then exports them batch by batch, so memory stays flat however many
  rows match.

Each batch is serialized with ``view.get_serializer(objects, many=True)``.
The objects go to the ``successful`` result file, ids not found to
``failed``, both as JSON lines and CSV. Nothing is written to the
database, so an interrupted export simply starts over; handling
(strict/lenient) does not apply.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext

from ..operations import read_by_lookup
from ..settings import api_settings
from ..targets import convert, display, get_lookup_field, get_model_field
from . import files
from .ending import end_export
from .models import BulkJob
from .results import FAILED, SUCCESSFUL, ResultFiles, Tally
from .rows import BatchRows, KindRows

RETRIEVE = BulkJob.Operation.RETRIEVE

#: The status of an exported object in the ``successful`` result file.
EXPORTED = "retrieved"


def export_options(filters: Any = None) -> dict:
    """``job.options["export"]``: ``{"filters": ...}`` for a filtered export, ``{}`` for ids."""
    return {"filters": filters} if filters is not None else {}


def is_filtered(job: BulkJob) -> bool:
    return "filters" in job.options.get("export", {})


def get_export_queryset(view, job: BulkJob):
    """What the job may export: the view's queryset, filtered as the GET was."""
    queryset = view.filter_queryset(view.get_queryset())
    filters = job.options.get("export", {}).get("filters")
    if filters is not None:
        queryset = view.get_bulk_filter().filter_queryset(queryset, filters)
    return queryset


def lookup_field(view) -> str:
    """The view's ``get_bulk_lookup_field()``."""
    if hasattr(view, "get_bulk_lookup_field"):
        return view.get_bulk_lookup_field()
    return get_lookup_field(view.get_serializer_class())


class Export:
    """Runs one export job for an ``Execution`` (which holds its lease).

    Progress is written through the execution, which raises ``LeaseLost``
    once another worker has taken the job over; the end is written through
    the execution's ``mine`` (the job's row, filtered on the lease).
    """

    def __init__(self, execution, view):
        self.execution = execution
        self.job = execution.job
        self.view = view
        self.queryset = get_export_queryset(view, self.job)
        self.tally = Tally(self.job.total)
        self.not_found: list = []
        #: Ids already exported, to show an id asked twice once (ids are few: they came in a URL).
        self.seen: set | None = None if is_filtered(self.job) else set()

    def run(self) -> bool:
        """Export the objects and end the job; returns whether the lease held to the end."""
        job = self.job
        if is_filtered(job):
            field = "pk"
            model_field = self.queryset.model._meta.pk
            names = self.list_matches()
        else:
            field = lookup_field(self.view)
            model_field = get_model_field(self.queryset.model, field)
            names = files.read_lines(job.input_name)
        self.execution.save_progress(
            phase=BulkJob.Phase.WRITING,
            total=self.tally.total,
            processed=0,
            message=self.execution.progress_message(BulkJob.Phase.WRITING, 0),
        )
        results = ResultFiles(job)
        try:
            done = 0
            for start, raw_ids in self.batches(names):
                self.execution.check_stop()
                rows = BatchRows(results.null, (SUCCESSFUL, FAILED))
                self.export_batch(rows, field, model_field, start, raw_ids)
                results.add_rows(rows)
                done = start + len(raw_ids)
                self.execution.save_progress(
                    processed=done,
                    succeeded=self.tally.success_count,
                    failed=self.tally.error_count,
                    message=self.execution.progress_message(BulkJob.Phase.WRITING, done),
                )
                self.execution.yield_database()
            written = results.save()
        finally:
            results.close()
        return end_export(job, self.execution.mine, self.tally, written, self.not_found)

    def list_matches(self) -> Iterator:
        """Write the primary keys of every match to a file; returns them, read back."""
        queryset = self.queryset
        if not queryset.ordered:
            queryset = queryset.order_by("pk")
        pks = queryset.values_list("pk", flat=True).iterator(chunk_size=self.job.batch_size)
        name, total = files.write_lines(files.job_path(self.job.pk, "export-ids.jsonl"), pks)
        self.tally.total = total
        return files.read_lines(name)

    def batches(self, names) -> Iterator[tuple[int, list]]:
        batch: list = []
        start = 0
        for index, value in enumerate(names):
            batch.append(value)
            if len(batch) >= self.job.batch_size:
                yield start, batch
                start, batch = index + 1, []
        if batch:
            yield start, batch

    def export_batch(self, rows: BatchRows, field, model_field, start: int, raw_ids: list) -> None:
        values = []
        for raw in raw_ids:
            try:
                values.append(convert(model_field, raw))
            except ValueError:
                values.append(None)
        found = read_by_lookup(
            self.view, self.queryset, model_field, values, batch_size=len(values)
        )
        objects, indexes = [], []
        for offset, (raw, value, obj) in enumerate(zip(raw_ids, values, found)):
            index = start + offset
            if self.seen is not None and value is not None:
                if value in self.seen:
                    continue  # asked twice: exported once
                self.seen.add(value)
            if obj is None:
                self.add_not_found(rows[FAILED], index, field, raw if value is None else value)
                continue
            objects.append(obj)
            indexes.append(index)
        if not objects:
            return
        data = self.view.get_serializer(objects, many=True).data
        exported = rows[SUCCESSFUL]
        for index, obj, item in zip(indexes, objects, data):
            exported.add(index, item, {"status": EXPORTED, "id": display(obj.pk)})
        self.tally.success_count += len(objects)

    def add_not_found(self, writer: KindRows, index: int, field: str, raw: Any) -> None:
        shown = display(raw)
        message = gettext("No object with `%(field)s` %(value)s.") % {
            "field": field,
            "value": shown,
        }
        writer.add(index, {field: shown}, {"lookup": shown, "code": "not_found", "detail": message})
        tally = self.tally
        tally.error_count += 1
        if len(tally.errors) < api_settings.JOB_MAX_ERRORS:
            tally.errors.append(
                {"index": index, "code": "not_found", "error": message, "data": {field: shown}}
            )
        else:
            tally.truncated = True
        if len(self.not_found) < api_settings.JOB_MAX_IDS:
            self.not_found.append(shown)
        else:
            tally.truncated = True
