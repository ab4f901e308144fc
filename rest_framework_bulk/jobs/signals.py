"""
Knowing when a job ends: the ``job_finished`` signal and ``JOB_FINISHED_CALLBACK``.

``job_finished`` is sent once per job, when it ends (``SUCCESS``,
``FAILURE`` or ``CANCELLED``), after its final state is committed, with
``sender=BulkJob`` and ``job`` (the job as it ended)::

    from django.dispatch import receiver
    from rest_framework_bulk.jobs.models import BulkJob
    from rest_framework_bulk.jobs.signals import job_finished

    @receiver(job_finished, sender=BulkJob)
    def tell_the_owner(sender, job, **kwargs):
        send_mail("Your import has finished", job.message, None, [job.owner.email])

It is sent by the process that ended the job: the worker that ran it
(an embedded worker thread, ``run_bulk_jobs``, or a Celery worker), or the
process that cancelled a job that had not started. Connect your receivers
in a module every one of those imports (an ``AppConfig.ready()``). A
receiver that raises is logged and never changes the job.

``REST_FRAMEWORK_BULK["JOB_FINISHED_CALLBACK"]`` is called after the
receivers: the dotted path of a callable ``callback(job)``, or an
``http://``/``https://`` URL that receives a ``POST`` of the job's status
JSON (the body of its status endpoint, with paths for URLs) within
``CALLBACK_TIMEOUT`` seconds. One attempt, no retries: a failure is logged
and the job stays as it ended. For delivery that must survive an outage,
receive the signal and queue a task of your own that retries.
"""

from __future__ import annotations

import logging
import urllib.request

from django.dispatch import Signal
from django.utils.module_loading import import_string
from rest_framework.renderers import JSONRenderer

from ..settings import api_settings
from .models import BulkJob
from .serializers import BulkJobSerializer

logger = logging.getLogger("rest_framework_bulk.jobs")

__all__ = ["job_finished"]

#: Sent once when a job ends; arguments ``sender=BulkJob, job=<the job>``.
job_finished = Signal()

#: Seconds a ``JOB_FINISHED_CALLBACK`` URL has to answer.
CALLBACK_TIMEOUT = 5

URL_SCHEMES = ("http://", "https://")


def send_job_finished(job_id) -> None:
    """Tell the receivers of ``job_finished``, then the callback, that ``job_id`` ended."""
    job = BulkJob.objects.select_related("owner").filter(pk=job_id).first()
    if job is None or not job.is_finished:
        return
    for _receiver, response in job_finished.send_robust(sender=BulkJob, job=job):
        if isinstance(response, Exception):
            logger.error(
                "A job_finished receiver failed for bulk job %s.",
                job.pk,
                exc_info=(type(response), response, response.__traceback__),
            )
    notify_callback(job)


def notify_callback(job: BulkJob) -> None:
    """Call or POST to ``JOB_FINISHED_CALLBACK``; a failure is logged, never raised."""
    callback = api_settings.JOB_FINISHED_CALLBACK
    if not callback:
        return
    try:
        if callback.startswith(URL_SCHEMES):
            post_status(callback, job)
        else:
            import_string(callback)(job)
    except Exception:
        logger.exception("JOB_FINISHED_CALLBACK failed for bulk job %s.", job.pk)


def post_status(url: str, job: BulkJob) -> None:
    body = JSONRenderer().render(BulkJobSerializer(job, context={"request": None}).data)
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    # Straight to the address configured, not through a proxy from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=CALLBACK_TIMEOUT) as response:
        response.read()
