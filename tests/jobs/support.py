"""What the job tests and their worker processes share."""

from __future__ import annotations

import time

#: Job settings for the tests, in the test process and in every worker:
#: small batches, and a dead worker noticed within seconds.
JOB_SETTINGS = {
    "JOB_BATCH_SIZE": 10,
    "JOB_HEARTBEAT_INTERVAL": 0.2,
    "JOB_STALE_AFTER": 2,
    "JOB_WORKERS": 1,
}

#: How long a test waits for a job, in seconds.
TIMEOUT = 30


def wait_until(
    predicate, timeout: float = TIMEOUT, interval: float = 0.05, message: str = "condition"
):
    """Poll ``predicate`` until it returns something true; returns that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout}s waiting for {message}.")
        time.sleep(interval)
