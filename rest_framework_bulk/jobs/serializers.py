"""The representation of a job, as its status endpoint shows it."""

from __future__ import annotations

from django.utils.translation import gettext, ngettext
from rest_framework import serializers
from rest_framework.reverse import reverse

from ..settings import api_settings
from .models import BulkJob
from .results import ID_LISTS, KINDS, SUCCESSFUL

#: The id lists of a job's summary, and the result file holding all of each.
ID_FILES = {**{name: SUCCESSFUL for name in ID_LISTS.values()}, "not_found": "failed"}


class BulkJobSerializer(serializers.ModelSerializer):
    """A job, in django-bulk-drf's status shape plus what a client needs next.

    ``task_id``, ``state``, ``progress``, ``result`` and ``status`` are the
    shape django-bulk-drf's status endpoint had; ``counts``, the timestamps
    and the ``results`` links (once the job has finished) are added.

    The id lists of ``result`` (``created_ids``, ``updated_ids``,
    ``deleted_ids``, an export's ``not_found``) show at most
    ``JOB_STATUS_MAX_IDS`` ids each (100 by default). When one is cut,
    ``ids_truncated`` is true, ``id_counts`` has how many ids there are and
    ``ids_urls`` links each cut list to the result file that has them all::

        "result": {"success_count": 10000, "created_ids": [1, 2, ...],
                   "ids_truncated": true, "id_counts": {"created_ids": 10000, ...},
                   "ids_urls": {"created_ids": ".../results/successful/"}, ...}
    """

    task_id = serializers.UUIDField(source="pk", read_only=True)
    result = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()
    status_url = serializers.SerializerMethodField()
    results = serializers.SerializerMethodField()

    class Meta:
        model = BulkJob
        fields = [
            "task_id",
            "state",
            "progress",
            "result",
            "status",
            "operation",
            "handling",
            "dry_run",
            "counts",
            "cancel_requested",
            "created_at",
            "started_at",
            "finished_at",
            "expires_at",
            "status_url",
            "results",
        ]
        read_only_fields = fields

    def get_result(self, job: BulkJob) -> dict | None:
        if job.result is None:
            return None
        result = dict(job.result)
        if job.progress and not job.is_finished:
            # The counts at the last checkpoint (the lists may be older).
            result.update(job.progress)
        limit = api_settings.JOB_STATUS_MAX_IDS
        # The stored lists may be cut already (`JOB_MAX_IDS`): the counts are the truth.
        counts = dict(result.get("id_counts") or {})
        urls = {}
        for name, kind in ID_FILES.items():
            ids = result.get(name)
            if not isinstance(ids, list):
                continue
            counts.setdefault(name, len(ids))
            result[name] = ids[:limit]
            if counts[name] > len(result[name]) and kind in job.files:
                urls[name] = self.reverse("bulk-job-results", job, kind=kind)
        result["ids_truncated"] = any(
            counts[name] > len(result[name]) for name in ID_FILES if name in counts
        )
        result["id_counts"] = counts
        if result["ids_truncated"]:
            result["ids_urls"] = urls
        return result

    def get_progress(self, job: BulkJob) -> dict:
        total = job.total
        percentage = (
            round(100.0 * job.processed / total, 1) if total else 100.0 if job.is_finished else 0.0
        )
        return {
            "current": job.processed,
            "total": total,
            "percentage": percentage,
            "message": job.message,
            "phase": job.phase or None,
        }

    def get_status(self, job: BulkJob) -> str:
        if job.state == BulkJob.State.PENDING:
            return gettext("Job is waiting to run.")
        if job.state == BulkJob.State.PROGRESS:
            if job.cancel_requested:
                return gettext("Job is being cancelled.")
            return gettext("Job is running.")
        if job.state == BulkJob.State.SUCCESS:
            if job.failed:
                return ngettext(
                    "Job completed with %(count)d error.",
                    "Job completed with %(count)d errors.",
                    job.failed,
                ) % {"count": job.failed}
            return gettext("Job completed successfully.")
        if job.state == BulkJob.State.CANCELLED:
            return gettext("Job was cancelled.")
        return gettext("Job failed.")

    def get_counts(self, job: BulkJob) -> dict:
        if job.is_finished:
            unprocessed = job.files.get("unprocessed", {}).get("count", job.unprocessed)
        else:
            unprocessed = job.unprocessed
        return {
            "total": job.total,
            "processed": job.processed,
            "succeeded": job.succeeded,
            "failed": job.failed,
            "unprocessed": unprocessed,
        }

    def get_status_url(self, job: BulkJob) -> str:
        return self.reverse("bulk-job-status", job)

    def get_results(self, job: BulkJob) -> dict | None:
        if not job.is_finished or not job.files:
            return None
        return {
            kind: {
                "count": job.files[kind]["count"],
                "url": self.reverse("bulk-job-results", job, kind=kind),
            }
            for kind in KINDS
            if kind in job.files
        }

    def reverse(self, name: str, job: BulkJob, **kwargs) -> str:
        return reverse(
            name, kwargs={"task_id": job.pk, **kwargs}, request=self.context.get("request")
        )


class BulkJobListSerializer(BulkJobSerializer):
    """A job in a list: everything but the result, which may be large."""

    class Meta(BulkJobSerializer.Meta):
        fields = [name for name in BulkJobSerializer.Meta.fields if name != "result"]
        read_only_fields = fields
