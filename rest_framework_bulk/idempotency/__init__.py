"""
The records behind ``Idempotency-Key`` retries of bulk writes.

Add the app to keep them::

    INSTALLED_APPS = [
        ...,
        "rest_framework_bulk",
        "rest_framework_bulk.idempotency",
    ]

then ``manage.py migrate``. The behaviour is described in
:mod:`rest_framework_bulk.idempotency_keys`; this app only stores it, and
works with or without ``rest_framework_bulk.jobs``.
"""
