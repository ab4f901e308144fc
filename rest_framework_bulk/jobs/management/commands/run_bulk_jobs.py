"""``manage.py run_bulk_jobs``: a worker process for the embedded runner."""

from __future__ import annotations

import signal
import threading
import uuid

from django.core.management.base import BaseCommand, CommandError

from ....settings import api_settings
from ... import chunks
from ...leases import claim_next
from ...runners import WorkerPool
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
            "--once",
            action="store_true",
            help="Run the jobs that are waiting or abandoned now, one after another, then exit.",
        )

    def handle(self, *args, workers=None, once=False, **options):
        if once:
            count = parts = 0
            while True:
                # The chunks of a job split by another worker first.
                parts += chunks.work()
                lease = uuid.uuid4()
                job_id = claim_next(lease)
                if job_id is None:
                    break
                execute(job_id, lease)
                count += 1
            self.stdout.write(f"Ran {count} bulk job(s) and {parts} chunk(s) of split jobs.")
            return
        size = workers if workers is not None else max(1, api_settings.JOB_WORKERS)
        if size < 1:
            raise CommandError("--workers must be at least 1.")
        stopped = threading.Event()

        def stop(signum, frame):
            stopped.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        pool = WorkerPool(size, name="run-bulk-jobs").start()
        self.stdout.write(f"Running bulk jobs on {size} thread(s).")
        self.stdout.flush()
        while not stopped.wait(1):
            pass
        self.stdout.write(
            "Stopping: jobs being run go back to the queue after their current batch."
        )
        pool.stop()
