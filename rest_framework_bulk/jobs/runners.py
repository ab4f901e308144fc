"""
Job runners: what starts a job once it is submitted.

The runner is chosen by ``REST_FRAMEWORK_BULK["DEFAULT_JOB_RUNNER_CLASS"]``:

``EmbeddedRunner`` (the default)
    Needs no broker. Jobs wait in the database; worker threads pick them up.
    The first job submitted in a process starts ``JOB_WORKERS`` daemon
    threads there, which poll for waiting jobs and take over abandoned ones.
    ``manage.py run_bulk_jobs`` runs the same workers in a process of their
    own; with ``JOB_WORKERS = 0`` web processes only submit and leave the
    work to such processes.

``rest_framework_bulk.jobs.celery.CeleryRunner``
    Sends the job's id (only the id) to a Celery task.

A runner of your own subclasses ``BaseRunner`` and implements ``enqueue()``;
its task or thread runs the job with ``rest_framework_bulk.jobs.running.run_job()``::

    class MyQueueRunner(BaseRunner):
        def enqueue(self, job_id):
            my_queue.put("bulk-job", str(job_id))

    # and, where the queue is consumed:
    run_job(job_id)
"""

from __future__ import annotations

import logging
import os
import threading
import uuid

from django.db import DatabaseError, close_old_connections, connections

from ..settings import api_settings
from . import chunks
from .leases import claim_next
from .models import BulkJob
from .running import execute

logger = logging.getLogger("rest_framework_bulk.jobs")


class BaseRunner:
    """Starts submitted jobs.

    ``DEFAULT_JOB_RUNNER_CLASS`` names the subclass in use; an instance is
    made each time one is needed (``get_runner()``), so keep any state that
    must last on the class or elsewhere.
    """

    def enqueue(self, job_id) -> None:
        """Arrange for the job ``job_id`` to run.

        Called once the job's row is committed (never for a job that was
        rolled back), and again by ``recover()`` for a job that looks lost,
        so a job may be enqueued more than once; only one worker at a time
        can claim it. You must override this: send the id (the input is in
        storage) to wherever your workers call ``run_job(job_id)``.
        """
        raise NotImplementedError("`enqueue()` must be implemented.")

    def enqueue_chunks(self, job_id, count: int) -> None:
        """Ask for up to ``count`` more workers to help with the chunks of the job ``job_id``.

        Called by the worker that split a large lenient job (see
        :mod:`rest_framework_bulk.jobs.chunks`), which runs chunks itself
        meanwhile. Does nothing by default, so that worker runs them all; a
        runner of your own may send ``count`` messages whose handlers call
        ``rest_framework_bulk.jobs.chunks.work(job_id)``.
        """

    def ensure_started(self) -> None:
        """Make sure this process can run jobs, if the runner works in-process.

        Called when a waiting or running job's status is shown, so that a job
        left behind by a restarted process is picked up. Does nothing by
        default; you may override this if your runner starts workers lazily.
        """

    def recover(self) -> int:
        """Enqueue again the jobs whose worker died or whose message was lost.

        Returns how many there were. Cheap enough to call from a periodic
        task (the Celery runner's ``recover_bulk_jobs``). You may override
        this if your queue knows better which jobs it still holds.
        """
        count = 0
        for job_id in BulkJob.objects.lost().values_list("pk", flat=True):
            self.enqueue(job_id)
            count += 1
        return count


class EmbeddedRunner(BaseRunner):
    """Runs jobs on worker threads in the web process (or ``run_bulk_jobs``)."""

    def enqueue(self, job_id) -> None:
        """Wake this process's worker threads, starting them if need be."""
        pool = get_pool()
        if pool is not None:
            pool.wake()

    def enqueue_chunks(self, job_id, count: int) -> None:
        """Wake this process's idle worker threads, if it has started them (it starts none).

        Other processes' workers look for chunks by themselves.
        """
        pool = _pool
        if pool is not None:
            pool.wake()

    def ensure_started(self) -> None:
        """Start this process's worker threads, unless ``JOB_WORKERS`` is 0."""
        get_pool()

    def recover(self) -> int:
        """Wake the worker threads, which take over abandoned jobs themselves; returns 0."""
        self.enqueue(None)
        return 0


def get_runner() -> BaseRunner:
    """An instance of the ``DEFAULT_JOB_RUNNER_CLASS`` runner."""
    return api_settings.DEFAULT_JOB_RUNNER_CLASS()


# Worker threads ----------------------------------------------------------------


class WorkerPool:
    """Threads that claim and run jobs until stopped."""

    def __init__(self, size: int, *, name: str = "bulk-jobs"):
        self.size = size
        self.name = name
        self.pid = os.getpid()
        self.stopping = threading.Event()
        self.wakeup = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> WorkerPool:
        for number in range(self.size):
            thread = threading.Thread(target=self.work, name=f"{self.name}-{number}", daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def wake(self) -> None:
        self.wakeup.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the threads; a job being run goes back to the queue after its batch."""
        self.stopping.set()
        self.wakeup.set()
        for thread in self.threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    def is_alive(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)

    def work(self) -> None:
        try:
            while not self.stopping.is_set():
                if not self.run_one():
                    if self.wakeup.wait(api_settings.JOB_HEARTBEAT_INTERVAL):
                        self.wakeup.clear()
        finally:
            connections.close_all()

    def run_one(self) -> bool:
        """Claim and run one chunk of a running job, or else one job; returns whether there was one."""
        close_old_connections()
        lease = uuid.uuid4()
        try:
            chunk_id = chunks.claim_next(lease)
            if chunk_id is not None:
                return self.run_chunk(chunk_id, lease)
            job_id = claim_next(lease)
        except DatabaseError:
            logger.warning("Could not look for bulk jobs.", exc_info=True)
            return False
        if job_id is None:
            return False
        try:
            execute(job_id, lease, stop=self.stopping, runner=EmbeddedRunner())
        except Exception:
            # The job stays claimed until its heartbeat is stale, then runs again.
            logger.exception("Bulk job %s was interrupted by an error.", job_id)
        finally:
            close_old_connections()
        return True

    def run_chunk(self, chunk_id, lease: uuid.UUID) -> bool:
        try:
            chunks.run_chunk(chunk_id, lease, stop=self.stopping)
        except Exception:
            logger.exception("A chunk of a bulk job was interrupted by an error.")
        finally:
            close_old_connections()
        return True


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def get_pool() -> WorkerPool | None:
    """This process's worker threads, started on first use (none if ``JOB_WORKERS`` is 0)."""
    global _pool
    size = api_settings.JOB_WORKERS
    if not size:
        return None
    with _pool_lock:
        # A forked child (a pre-forking web server) has none of its parent's threads.
        if _pool is None or _pool.pid != os.getpid() or not _pool.is_alive():
            _pool = WorkerPool(size).start()
        return _pool


def stop_pool(timeout: float | None = None) -> None:
    """Stop this process's worker threads, if they were started."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.stop(timeout)
