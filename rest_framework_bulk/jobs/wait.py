"""
``Prefer: wait=N``: answer a job-sized request as a synchronous one would.

The job is submitted as usual; the request then polls the job's row (no
transaction, no lock: the worker, in this process or another, is free to
run it) for up to N seconds, capped by ``MAX_WAIT``. If the job ends in
time in a result a synchronous request could have given, that answer is
built from the job's result files: the summary with 201/200, 207 or 400
for a write, or the strict ``400`` listing the items refused. A job that
is still running, was cancelled or failed as a whole (a permission lost,
an unexpected error) is answered ``202 Accepted`` as without the preference.

Inside a transaction (``ATOMIC_REQUESTS``) the job is only handed to the
runner when the request commits, so waiting could only run out: the
request answers 202 at once.
"""

from __future__ import annotations

import time

from django.db import router, transaction

from ..exceptions import BulkError, ItemError
from . import files
from .models import BulkJob
from .results import FAILED, SUCCESSFUL

#: Seconds between two looks at the job's row.
POLL_INTERVAL = 0.05

ID_LISTS = {
    "created": "created_ids",
    "updated": "updated_ids",
    "deleted": "deleted_ids",
    "would_update": "updated_ids",
    "would_delete": "deleted_ids",
}


def can_wait() -> bool:
    """Whether a job submitted now can run while the request waits (no transaction holds it)."""
    return not transaction.get_connection(router.db_for_write(BulkJob)).in_atomic_block


def wait_for_job(job: BulkJob, seconds: float) -> BulkJob | None:
    """``job`` once it has ended, or ``None`` if it is still running after ``seconds``."""
    deadline = time.monotonic() + seconds
    rows = BulkJob.objects.filter(pk=job.pk)
    while True:
        state = rows.values_list("state", flat=True).first()
        if state in BulkJob.FINISHED_STATES:
            return rows.first()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        time.sleep(min(POLL_INTERVAL, remaining))


def read_results(job: BulkJob, kind: str) -> list[dict]:
    name = (job.files.get(kind) or {}).get("jsonl")
    return list(files.read_lines(name)) if name else []


def item_errors(failed: list[dict]) -> list[ItemError]:
    return [
        ItemError(
            entry["index"],
            entry["code"],
            entry["detail"],
            lookup=entry.get("lookup"),
            codes=entry.get("codes"),
            line=entry.get("line"),
        )
        for entry in failed
    ]


def job_summary(job: BulkJob) -> dict | None:
    """The body a synchronous request would have answered, or ``None`` if there is none.

    Raises the strict request's ``BulkError`` for a strict job whose items
    were refused.
    """
    if job.operation == BulkJob.Operation.RETRIEVE or not job.files:
        return None
    failed = read_results(job, FAILED)
    if job.state == BulkJob.State.FAILURE:
        if failed and (job.result or {}).get("code") is not None:
            raise BulkError(item_errors(failed), job.total)
        return None
    if job.state != BulkJob.State.SUCCESS:
        return None
    successful = read_results(job, SUCCESSFUL)
    ids: dict[str, list] = {"created_ids": [], "updated_ids": [], "deleted_ids": []}
    items = []
    for entry in successful:
        item = {"index": entry["index"], "status": entry["status"]}
        if "id" in entry:
            item["id"] = entry["id"]
            name = ID_LISTS.get(entry["status"])
            if name is not None:
                ids[name].append(entry["id"])
        items.append(item)
    errors = []
    for entry in failed:
        item = {"index": entry["index"], "status": entry["code"]}
        if "line" in entry:
            item["line"] = entry["line"]
        if "lookup" in entry:
            item["lookup"] = entry["lookup"]
        item.update(code=entry["code"], detail=entry["detail"])
        if "codes" in entry:
            item["codes"] = entry["codes"]
        items.append(item)
        error = {"index": entry["index"], "code": entry["code"], "error": entry["error"]}
        if "line" in entry:
            error["line"] = entry["line"]
        error["data"] = entry["data"]
        errors.append(error)
    items.sort(key=lambda item: item["index"])
    return {
        "total_items": job.total,
        "success_count": len(successful),
        "error_count": len(failed),
        "dry_run": job.dry_run,
        "errors": errors,
        **ids,
        "items": items,
    }
