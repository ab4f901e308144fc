"""``manage.py run_bulk_jobs``: a worker process for the embedded runner."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import uuid

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from ....settings import api_settings
from ... import chunks
from ...leases import claim_next
from ...runners import BaseRunner, WorkerPool
from ...running import execute


class Command(BaseCommand):
    help = (
        "Run bulk jobs: wait for jobs and run them on worker threads until stopped "
        "(SIGTERM or Ctrl-C), taking over jobs whose worker died. With --once, run "
        "the jobs waiting now and exit (for cron)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="Worker threads (default: JOB_WORKERS, at least 1).",
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=1,
            help="Worker processes, each with --workers threads (default 1). Threads of one "
            "process share Python's interpreter lock; processes run the chunks of a large "
            "lenient job on several cores.",
        )
        parser.add_argument(
            "--once",
            action="store_true",
            help="Run the jobs that are waiting or abandoned now, one after another, then exit.",
        )

    def handle(self, *args, workers=None, processes=1, once=False, **options):
        if once:
            count = parts = 0
            while True:
                # The chunks of a job split by another worker first.
                parts += chunks.work()
                lease = uuid.uuid4()
                job_id = claim_next(lease)
                if job_id is None:
                    break
                # No runner to ask for help: this loop runs the chunks itself.
                execute(job_id, lease, runner=BaseRunner())
                count += 1
            self.stdout.write(f"Ran {count} bulk job(s) and {parts} chunk(s) of split jobs.")
            return
        size = workers if workers is not None else max(1, api_settings.JOB_WORKERS)
        if size < 1:
            raise CommandError("--workers must be at least 1.")
        if processes < 1:
            raise CommandError("--processes must be at least 1.")
        stopped = threading.Event()

        def stop(signum, frame):
            stopped.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if processes == 1:
            self.stdout.write(f"Running bulk jobs on {size} thread(s).")
            self.stdout.flush()
            self.serve(size, stopped)
            return
        children = self.start_processes(processes, size)
        self.stdout.write(f"Running bulk jobs on {processes} processes of {size} thread(s).")
        self.stdout.flush()
        while not stopped.wait(1):
            if not any(child.is_alive() for child in children):
                raise CommandError("Every worker process has exited.")
        for child in children:
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, signal.SIGTERM)
        for child in children:
            child.join()

    def serve(self, size: int, stopped: threading.Event) -> None:
        """Run ``size`` worker threads in this process until ``stopped`` is set."""
        pool = WorkerPool(size, name="run-bulk-jobs").start()
        while not stopped.wait(1):
            pass
        self.stdout.write(
            "Stopping: jobs being run go back to the queue after their current batch."
        )
        self.stdout.flush()
        pool.stop()

    def start_processes(self, processes: int, size: int) -> list:
        # Forked, so that each runs these settings without knowing how this
        # command was started; no connection may be shared with a child.
        context = multiprocessing.get_context("fork")
        connections.close_all()
        children = [
            context.Process(target=self.serve_child, args=(size,), name=f"run-bulk-jobs-{n}")
            for n in range(processes)
        ]
        for child in children:
            child.start()
        return children

    def serve_child(self, size: int) -> None:
        stopped = threading.Event()

        def stop(signum, frame):
            stopped.set()

        signal.signal(signal.SIGTERM, stop)
        # Ctrl-C reaches the whole process group; the parent passes it on as SIGTERM.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.serve(size, stopped)
