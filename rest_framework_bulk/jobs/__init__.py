"""
Bulk jobs: large bulk work run outside the HTTP request.

Add the app to your settings to use it::

    INSTALLED_APPS = [
        ...,
        "rest_framework",
        "rest_framework_bulk",
        "rest_framework_bulk.jobs",
    ]

A job is a :class:`~rest_framework_bulk.jobs.models.BulkJob` row. The
``/bulk/`` endpoint turns a large request into one with
:func:`~rest_framework_bulk.jobs.submit.submit_job` and answers
``202 Accepted``; a runner (``REST_FRAMEWORK_BULK["DEFAULT_JOB_RUNNER_CLASS"]``)
starts it, and a worker runs it batch by batch through the same engine as a
synchronous request (:mod:`~rest_framework_bulk.jobs.running`, then
:mod:`~rest_framework_bulk.jobs.ending`); the client follows it at
``bulk-operations/{task_id}/status/`` and downloads the successful, failed
and unprocessed items when it is done.
"""
