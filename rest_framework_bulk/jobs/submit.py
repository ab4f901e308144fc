"""
Turning a bulk request into a job, and the ``202 Accepted`` answer.

The ``/bulk/`` endpoint (or any bulk view) hands a large request over::

    from rest_framework_bulk.jobs.submit import accepted_response, submit_job

    job = submit_job(
        request=request,
        view=self,
        operation="create",
        items_or_file=request.data,
        options={"handling": "lenient"},
    )
    return accepted_response(job, request)

The input goes to storage, the job row is created, and the runner is told
once the surrounding transaction commits, so a worker never looks for a row
that is not there yet (or that was rolled back).

Items that cannot be stored (text with a lone surrogate, ``"\\ud800"``) are
refused with the ``400`` a synchronous request answers for them, item by
item; nothing is stored and no job is created.
"""

from __future__ import annotations

import logging
import uuid
from functools import partial
from typing import Any, cast

from django.core.exceptions import ImproperlyConfigured
from django.db import router, transaction
from django.urls import NoReverseMatch
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import ErrorDetail, NotAuthenticated, ValidationError
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from ..exceptions import BulkError, ItemError
from ..operations import ACTIONS
from ..settings import api_settings, get_view_option
from . import files
from .context import describe_view
from .export import export_options, is_filtered
from .models import BulkJob
from .runners import get_runner

logger = logging.getLogger("rest_framework_bulk.jobs")

#: The options a job takes, with their defaults.
OPTIONS = {
    # "strict": all items or none; "lenient": valid items, errors reported.
    "handling": BulkJob.Handling.STRICT,
    # Validate and report what would happen; write nothing.
    "dry_run": False,
    # The unique field an upsert matches items on.
    "upsert_field": "",
    # For a CSV file: CSVRows' delimiter and encoding.
    "delimiter": ",",
    "encoding": "utf-8",
    # For a ``retrieve`` (export) job: the body's filters, when no ids were given.
    "filters": None,
}

#: The operations a job runs: the engine's, and ``retrieve`` (an export).
OPERATIONS = (*ACTIONS, BulkJob.Operation.RETRIEVE)


class JobNotAuthenticated(NotAuthenticated):
    """An anonymous request asked for a job."""

    default_detail = _(
        "Log in to run a bulk job: its status and results are shown only to the user who submitted it."
    )

    def __init__(self):
        super().__init__()
        self.detail = {
            "code": self.default_code,
            "detail": ErrorDetail(str(self.default_detail), code=self.default_code),
        }


def submit_job(
    *,
    request,
    view,
    operation: str,
    items_or_file: Any,
    options: dict | None = None,
) -> BulkJob:
    """Store ``items_or_file``, create the job and enqueue it on commit.

    ``items_or_file`` is a list (or any iterable) of items, or an uploaded
    CSV file. ``options`` may set ``handling``, ``dry_run``, ``upsert_field``,
    and for CSV ``delimiter`` and ``encoding``.

    A ``retrieve`` job exports objects: ``items_or_file`` is the ids asked
    for, or empty with ``options["filters"]`` (see
    :mod:`rest_framework_bulk.jobs.export`).

    A job belongs to the user who submits it: anonymous requests get
    401/403 (``not_authenticated``).

    Call this from a bulk view's action when you want a job on your own
    terms (a view that always imports in the background, say), and answer
    with ``accepted_response()``. The worker rebuilds the view for the job's
    owner from its dotted class path and ``as_view()`` arguments (see
    :mod:`rest_framework_bulk.jobs.context`), so define the view at module
    level and give it only JSON-serializable ``initkwargs``.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        raise JobNotAuthenticated()
    unknown = set(options or {}) - set(OPTIONS)
    assert not unknown, (
        f"`submit_job()` got unknown options {sorted(unknown)}; known: {sorted(OPTIONS)}."
    )
    options = {**OPTIONS, **(options or {})}
    assert options["handling"] in BulkJob.Handling.values, (
        f"`handling` must be one of {BulkJob.Handling.values}, not {options['handling']!r}."
    )
    assert operation in OPERATIONS, f"`operation` must be one of {OPERATIONS}, not {operation!r}."
    assert (operation == "upsert") == bool(options["upsert_field"]), (
        "`upsert_field` goes with the `upsert` operation, and only with it."
    )

    job_id = uuid.uuid4()
    csv_options = {
        "delimiter": options["delimiter"],
        "encoding": options["encoding"],
        "null_value": get_csv_null_value(view),
    }
    try:
        input_name, input_format, total = files.save_input(job_id, items_or_file, csv_options)
    except files.UnstorableItems as exc:
        raise unstorable_error(exc, items_or_file) from None
    # The result files write nulls as the view reads them.
    job_options: dict[str, Any] = {"csv_null_value": csv_options["null_value"]}
    if input_format == "csv":
        job_options["csv"] = csv_options
    # Fixed when submitted, as the batch size is: the worker that runs the
    # job splits it by the settings of the process that took it.
    job_options["chunk_size"] = api_settings.JOB_CHUNK_SIZE or 0
    if operation == BulkJob.Operation.RETRIEVE:
        job_options["export"] = export_options(options["filters"])
    try:
        job = BulkJob.objects.create(
            id=job_id,
            owner=user,
            operation=operation,
            handling=options["handling"],
            dry_run=bool(options["dry_run"]),
            upsert_field=options["upsert_field"] or "",
            options=job_options,
            input_name=input_name,
            input_format=input_format,
            batch_size=get_job_batch_size(view),
            total=total,
            message=gettext("Waiting to run."),
            **describe_view(view),
        )
    except Exception:
        files.delete_files(job_id)
        raise
    runner = get_runner()
    transaction.on_commit(
        partial(runner.enqueue, job.pk), using=router.db_for_write(BulkJob), robust=True
    )
    return job


def unstorable_error(exc: files.UnstorableItems, items: Any) -> BulkError:
    """The ``400`` for items holding text UTF-8 cannot store, shaped as a synchronous request's."""
    total = len(items) if hasattr(items, "__len__") else exc.items[-1][0] + 1
    validator = ProhibitSurrogateCharactersValidator()
    errors = []
    for index, item in exc.items:
        field, value = first_unstorable(item)
        try:
            validator(value)  # DRF's wording for the character at fault
        except ValidationError as error:
            # The validator raises with one message, which DRF wraps in a list.
            message = str(cast(list, error.detail)[0])
        else:
            message = gettext("This value cannot be stored as UTF-8 text.")
        detail = {field: [ErrorDetail(message, code=validator.code)]}
        errors.append(ItemError(index, "invalid", detail, codes={field: [validator.code]}))
    return BulkError(errors, total)


def first_unstorable(item: Any, field: str = "non_field_errors") -> tuple[str, Any]:
    """The top-level field of ``item`` (and the text) that UTF-8 cannot encode."""
    if isinstance(item, dict):
        for key, value in item.items():
            if not is_storable(key):
                return "non_field_errors", key
            if not is_storable(value):
                return str(key), first_unstorable(value, str(key))[1]
    elif isinstance(item, (list, tuple)):
        for value in item:
            if not is_storable(value):
                return field, first_unstorable(value, field)[1]
    return field, item


def is_storable(value: Any) -> bool:
    try:
        files.dumps(value).encode()
    except UnicodeEncodeError:
        return False
    return True


def get_csv_null_value(view) -> str:
    """The view's ``get_csv_null_value()``, else ``CSV_NULL_VALUE``."""
    return get_view_option(view, "csv_null_value", "CSV_NULL_VALUE") or api_settings.CSV_NULL_VALUE


def get_job_batch_size(view) -> int:
    """The view's ``get_bulk_job_batch_size()``, else ``JOB_BATCH_SIZE``."""
    return (
        get_view_option(view, "bulk_job_batch_size", "JOB_BATCH_SIZE")
        or api_settings.JOB_BATCH_SIZE
    )


def get_status_url(job: BulkJob, request) -> str:
    try:
        return reverse("bulk-job-status", kwargs={"task_id": job.pk}, request=request)
    except NoReverseMatch as exc:
        raise ImproperlyConfigured(
            "The bulk job URLs are not installed: add "
            '`path("", include("rest_framework_bulk.urls"))` to your URLconf.'
        ) from exc


def accepted_response(job: BulkJob, request, headers: dict | None = None) -> Response:
    """``202 Accepted`` for a submitted job, pointing at its status (RFC 9110 §15.3.3).

    The body has ``message``, ``task_id``, ``total_items`` and ``status_url``,
    which ``Location`` repeats; ``headers`` are added (a ``Preference-Applied``,
    say). Return it from the view that called ``submit_job()``.
    """
    status_url = get_status_url(job, request)
    operation = job.get_operation_display().lower()
    if job.operation == BulkJob.Operation.RETRIEVE and is_filtered(job):
        # The matches are counted by the worker.
        message = gettext("Bulk %(operation)s job accepted.") % {"operation": operation}
        total = None
    else:
        message = ngettext(
            "Bulk %(operation)s job accepted for %(count)d item.",
            "Bulk %(operation)s job accepted for %(count)d items.",
            job.total,
        ) % {"operation": operation, "count": job.total}
        total = job.total
    data = {
        "message": message,
        "task_id": str(job.pk),
        "total_items": total,
        "status_url": status_url,
    }
    return Response(
        data,
        status=status.HTTP_202_ACCEPTED,
        headers={"Location": status_url, **(headers or {})},
    )
