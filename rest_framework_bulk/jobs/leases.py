"""
Who runs a job: claiming it with a lease, and the heartbeat that keeps it.

A worker takes a job with one conditional ``UPDATE`` (waiting, or running
with a heartbeat older than ``JOB_STALE_AFTER``) that sets a fresh lease.
Every later write of that worker is conditional on the lease, so a worker
that lost its job (it stalled and another took over) can no longer write.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, connections, router, transaction
from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import BulkJob

logger = logging.getLogger("rest_framework_bulk.jobs")

State = BulkJob.State


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"[:255]


def jobs_db() -> str:
    return router.db_for_write(BulkJob)


# Claiming -------------------------------------------------------------------


def claim(job_id, lease: uuid.UUID) -> bool:
    """Take the job ``job_id`` if it is waiting or abandoned."""
    now = timezone.now()
    return (
        BulkJob.objects.claimable(now)
        .filter(pk=job_id)
        .update(
            state=State.PROGRESS,
            lease=lease,
            worker=worker_name(),
            heartbeat_at=now,
            started_at=Coalesce("started_at", Value(now, output_field=DateTimeField())),
            attempts=F("attempts") + 1,
        )
        == 1
    )


def claim_next(lease: uuid.UUID):
    """Take the oldest claimable job; returns its id, or ``None``."""
    candidates = BulkJob.objects.claimable().order_by("created_at").values_list("pk", flat=True)
    return claim_first(candidates, lambda pk: claim(pk, lease), jobs_db())


def claim_first(candidates, take: Callable[[Any], bool], using: str):
    """The first of ``candidates`` (primary keys, in order) that ``take(pk)`` wins, or ``None``.

    ``take`` is a conditional UPDATE that only one worker can win. Where the
    database has ``SKIP LOCKED``, workers skip the rows another is claiming;
    elsewhere (SQLite) the UPDATE alone decides, among the first few.
    """
    if connections[using].features.has_select_for_update_skip_locked:
        with transaction.atomic(using=using):
            for pk in candidates.select_for_update(skip_locked=True)[:1]:
                if take(pk):
                    return pk
        return None
    for pk in candidates[:10]:
        if take(pk):
            return pk
    return None


# The heartbeat ------------------------------------------------------------------


class Heartbeat(threading.Thread):
    """Touches a running job's row and watches for a cancel request.

    It has its own database connection, so it can report progress while the
    worker's connection is inside a long transaction.
    """

    def __init__(self, job_id, lease: uuid.UUID, interval: float):
        super().__init__(name=f"bulk-job-heartbeat-{job_id}", daemon=True)
        self.job_id = job_id
        self.lease = lease
        self.interval = interval
        self.cancelled = threading.Event()
        self.lost = threading.Event()
        self.finished = threading.Event()
        #: Fields to write with each beat (progress inside a transaction).
        self.progress: dict[str, Any] = {}
        #: Set while the worker holds SQLite's database-wide write lock.
        self.paused = False

    def run(self) -> None:
        try:
            while not self.finished.wait(self.interval):
                if not self.paused:
                    self.beat()
        finally:
            connections.close_all()

    def beat(self) -> None:
        try:
            mine = BulkJob.objects.filter(pk=self.job_id, lease=self.lease, state=State.PROGRESS)
            if not mine.update(heartbeat_at=timezone.now(), **self.progress):
                self.lost.set()
            elif mine.filter(cancel_requested=True).exists():
                self.cancelled.set()
        except DatabaseError:
            logger.warning("Heartbeat of bulk job %s failed.", self.job_id, exc_info=True)

    def stop(self) -> None:
        self.finished.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join()
