"""
The status API of bulk jobs.

==========================================================  ==========================================
``GET    bulk-operations/``                                  the caller's jobs (every job for staff)
``GET    bulk-operations/{task_id}/``                        one job
``GET    bulk-operations/{task_id}/status/``                 the same, where django-bulk-drf had it
``POST   bulk-operations/{task_id}/cancel/``                 cancel a waiting or running job
``DELETE bulk-operations/{task_id}/``                        delete a finished job and its files
``GET    bulk-operations/{task_id}/results/{kind}/``         the ``successful``, ``failed`` or
                                                             ``unprocessed`` items, as JSON lines
                                                             (``?format=json``) or CSV (``?format=csv``)
==========================================================  ==========================================

A job is visible to the user who submitted it and to staff; to anyone else
its id is unknown (404), so ids cannot be probed. While a job waits or runs,
its representation comes with ``Retry-After``.

Every client error is JSON, ``{"code": "...", "detail": "..."}``, whatever
was asked for (a result file in CSV included): ``not_authenticated`` (401),
``not_found`` (404: an unknown job, another user's, an id that is no UUID),
``unknown_result_kind`` and ``result_missing`` (404), ``method_not_allowed``
(405), ``job_running``, ``job_not_finished`` and ``job_finished`` (409).
"""

from __future__ import annotations

import math

from django.http import FileResponse
from django.utils.translation import gettext_lazy as _
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from ..browsable import BulkBrowsableAPIMixin
from ..exceptions import RequestError
from ..mixins import BulkErrorsMixin
from ..renderers import CSVRenderer
from ..settings import api_settings
from .ending import cancel_job
from .files import get_storage
from .models import BulkJob
from .results import KINDS
from .runners import get_runner
from .serializers import BulkJobListSerializer, BulkJobSerializer


class JSONLinesRenderer(JSONRenderer):
    """One JSON document per line (https://jsonlines.org)."""

    media_type = "application/jsonl"
    format = "json"


class BulkJobViewSet(
    BulkBrowsableAPIMixin,
    BulkErrorsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Follow, cancel and delete your bulk jobs, and download their results.

    ``rest_framework_bulk.urls`` routes it. To change who sees what, or how
    a job is shown, subclass it and route your subclass at
    ``bulk-operations/`` instead, keeping the URL names (``bulk-job-status``
    is how a submitted job points at its status)::

        class JobViewSet(BulkJobViewSet):
            permission_classes = [IsAuthenticated, IsInImportersGroup]
    """

    serializer_class = BulkJobSerializer
    permission_classes = [IsAuthenticated]
    lookup_url_kwarg = "task_id"
    # Any segment reaches the view, which answers a JSON 404 for what is no job id.
    lookup_value_regex = "[^/]+"

    default_error_messages = {
        "running": _("The job is still running; cancel it first."),
        "not_finished": _("The job has not finished; its results are not ready."),
        "finished": _("The job has already finished."),
        "unknown_result_kind": _("There are no results of that kind; the kinds are %(kinds)s."),
        "result_missing": _("This result file is no longer available."),
    }

    def get_queryset(self):
        """The jobs the user may see: their own, or every job for staff.

        On the list, ``?state=`` keeps the jobs in that state. You may
        override this to show a group's jobs to each of its members, say;
        a job left out is answered 404, as if it did not exist.
        """
        queryset = BulkJob.objects.visible_to(self.request.user)
        state = self.request.query_params.get("state") if self.action == "list" else None
        if state:
            queryset = queryset.filter(state=state.upper())
        return queryset.order_by("-created_at")

    def get_serializer_class(self):
        """``BulkJobListSerializer`` on the list (no result), else ``serializer_class``."""
        if self.action == "list":
            return BulkJobListSerializer
        return super().get_serializer_class()

    def get_retry_after(self, job: BulkJob) -> int | None:
        """The ``Retry-After`` of a waiting or running job, in seconds; ``None`` once it ended.

        ``JOB_HEARTBEAT_INTERVAL`` by default (the job's progress changes no
        more often); you may override this to have clients poll less often.
        """
        if job.is_running:
            return max(1, math.ceil(api_settings.JOB_HEARTBEAT_INTERVAL))
        return None

    def get_job_response(self, job: BulkJob, status_code: int = status.HTTP_200_OK) -> Response:
        """The job's representation, with ``Retry-After`` while it waits or runs."""
        if job.is_running:
            # A job left waiting by a restarted process is picked up when
            # its owner looks at it (the embedded runner starts its threads).
            get_runner().ensure_started()
        serializer = self.get_serializer(job)
        retry_after = self.get_retry_after(job)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return Response(serializer.data, status=status_code, headers=headers)

    def fail(self, key: str, code: str, status_code: int = status.HTTP_409_CONFLICT, **values):
        """Answer the client error ``default_error_messages[key]``, with ``code``."""
        message = self.default_error_messages[key]
        raise RequestError(message % values if values else message, code, status_code)

    def finalize_response(self, request, response, *args, **kwargs):
        """Render an error as JSON, whatever format the client asked for."""
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response) and response.status_code >= 400:
            # An error is JSON even where a result file was asked for as CSV.
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        return response

    def retrieve(self, request, *args, **kwargs):
        """The job's state, progress and, once it has finished, its result."""
        return self.get_job_response(self.get_object())

    @action(detail=True, methods=["get"], url_path="status", url_name="status")
    def job_status(self, request, *args, **kwargs):
        """The job's state, progress and, once it has finished, its result."""
        return self.get_job_response(self.get_object())

    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        """Cancel the job: 200 once cancelled, 202 while a running job stops.

        A job that has ended (succeeded, failed or was cancelled already)
        cannot be cancelled: 409 ``job_finished``.
        """
        job = self.get_object()
        if job.is_finished:
            self.fail("finished", "job_finished")
        job = cancel_job(job)
        if job.state in (BulkJob.State.SUCCESS, BulkJob.State.FAILURE):
            self.fail("finished", "job_finished")  # it ended meanwhile
        accepted = job.state == BulkJob.State.PROGRESS
        return self.get_job_response(
            job, status.HTTP_202_ACCEPTED if accepted else status.HTTP_200_OK
        )

    def perform_destroy(self, instance: BulkJob):
        """Delete a job that has ended, and its files; a waiting or running one is a 409.

        You may override this to keep a record of deleted jobs, say; call
        ``super()`` to keep the 409.
        """
        if instance.is_running:
            self.fail("running", "job_running")
        instance.delete()

    @action(
        detail=True,
        methods=["get"],
        url_path=r"results/(?P<kind>[^/]+)",
        url_name="results",
        renderer_classes=[JSONLinesRenderer, CSVRenderer],
    )
    def results(self, request, *args, kind=None, **kwargs):
        """Download a result file of a finished job."""
        job = self.get_object()
        if kind not in KINDS:
            self.fail(
                "unknown_result_kind",
                "unknown_result_kind",
                status.HTTP_404_NOT_FOUND,
                kinds=", ".join(KINDS),
            )
        if not job.is_finished:
            self.fail("not_finished", "job_not_finished")
        renderer = request.accepted_renderer
        extension = "csv" if renderer.format == "csv" else "jsonl"
        name = (job.files.get(kind) or {}).get(extension)
        try:
            if not name:
                raise FileNotFoundError(kind)
            handle = get_storage().open(name, "rb")
        except FileNotFoundError:
            # The job ended without result files (its input was gone), or
            # they were removed from storage since.
            self.fail("result_missing", "result_missing", status.HTTP_404_NOT_FOUND)
        return FileResponse(
            handle,
            as_attachment=True,
            filename=f"{job.pk}-{kind}.{extension}",
            content_type=f"{renderer.media_type}; charset=utf-8",
        )


class BulkJobNotFoundView(BulkErrorsMixin, APIView):
    """Answers a path under ``bulk-operations/`` that names nothing, as the API does."""

    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raise NotFound()


job_not_found = BulkJobNotFoundView.as_view()
