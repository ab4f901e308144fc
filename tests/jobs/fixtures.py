"""The fixtures of the job tests; see ``conftest.py``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from django.db import connection

from rest_framework_bulk.jobs.models import BulkJob
from rest_framework_bulk.jobs.runners import stop_pool
from tests.factories import UserFactory

from .support import JOB_SETTINGS, wait_until

EMBEDDED = "rest_framework_bulk.jobs.runners.EmbeddedRunner"
CELERY = "rest_framework_bulk.jobs.celery.CeleryRunner"
TASKS = "rest_framework_bulk.jobs.django_tasks.TaskRunner"
ROOT = Path(__file__).resolve().parents[2]

#: The runners the job tests run on: ``BULK_JOBS_RUNNERS``, comma-separated
#: (all three by default; CI leaves out some where time is short).
RUNNERS = [name for name in os.environ.get("BULK_JOBS_RUNNERS", "embedded,celery,tasks").split(",")]
assert set(RUNNERS) <= {"embedded", "celery", "tasks"}, f"Unknown BULK_JOBS_RUNNERS: {RUNNERS}"


@pytest.fixture(scope="session")
def job_media_root():
    with tempfile.TemporaryDirectory(prefix="drf-bulk-jobs-") as path:
        yield path


@pytest.fixture(autouse=True)
def job_settings(settings, job_media_root):
    settings.MEDIA_ROOT = job_media_root
    settings.REST_FRAMEWORK_BULK = {**getattr(settings, "REST_FRAMEWORK_BULK", {}), **JOB_SETTINGS}
    return settings


@pytest.fixture(scope="session")
def shared_database(django_db_setup, django_db_blocker):
    """The test database's name, if other processes can open it."""
    with django_db_blocker.unblock():
        name = connection.settings_dict["NAME"]
        if connection.vendor == "sqlite" and connection.is_in_memory_db():
            pytest.skip(
                "Job tests need a test database other processes can open: set a file TEST NAME for SQLite."
            )
    return str(name)


def worker_env(database: str, media_root: str, **extra) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.jobs.worker_settings",
        "BULK_JOBS_BASE_SETTINGS": os.environ["DJANGO_SETTINGS_MODULE"],
        "BULK_JOBS_DB_NAME": database,
        "BULK_JOBS_MEDIA_ROOT": media_root,
        "PYTHONPATH": os.pathsep.join(path for path in sys.path if path),
        **extra,
    }


class WorkerProcess:
    """A worker started with ``command``, its output in ``log``."""

    def __init__(self, command: list[str], env: dict, log: Path, ready: str):
        self.command = command
        self.env = env
        self.log = log
        self.ready = ready
        self.process: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(
                self.command, env=self.env, cwd=ROOT, stdout=output, stderr=output
            )
        wait_until(self.is_ready, timeout=60, message=f"{self.command[2:5]} to start")
        return self

    def is_ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"The worker exited:\n{self.log.read_text()[-4000:]}")
        return self.ready in self.log.read_text()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def redis_url() -> str:
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def celery_worker(shared_database, job_media_root, tmp_path_factory):
    """A Celery worker process on Redis, for the whole session."""
    pytest.importorskip("celery")
    import redis

    try:
        redis.Redis.from_url(redis_url(), socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {redis_url()}: {exc}")
    queue = f"drf-bulk-tests-{uuid.uuid4().hex[:8]}"
    os.environ["BULK_JOBS_QUEUE"] = queue
    from .celery_app import app

    app.conf.task_default_queue = queue
    app.conf.broker_url = redis_url()
    app.set_default()
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    worker = start_celery_worker(shared_database, job_media_root, queue, log)
    worker.queue = queue
    yield worker
    worker.stop()
    redis.Redis.from_url(redis_url()).delete(queue)


@pytest.fixture
def second_celery_worker(celery_worker, shared_database, job_media_root, tmp_path):
    """One more Celery worker process on the session's queue, for one test."""
    log = tmp_path / "second-worker.log"
    worker = start_celery_worker(shared_database, job_media_root, celery_worker.queue, log, "2")
    yield worker
    worker.stop()


def start_celery_worker(
    database: str, media_root: str, queue: str, log: Path, name: str = ""
) -> WorkerProcess:
    return WorkerProcess(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.jobs.celery_app",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--queues",
            queue,
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            f"{queue}{name}@%h",
        ],
        worker_env(database, media_root, BULK_JOBS_QUEUE=queue, REDIS_URL=redis_url()),
        log,
        ready=" ready.",
    ).start()


def start_db_worker(database: str, media_root: str, queue: str, log: Path) -> WorkerProcess:
    """django-tasks-db's ``manage.py db_worker`` on ``queue``, running jobs one at a time."""
    return WorkerProcess(
        [
            sys.executable,
            "-m",
            "django",
            "db_worker",
            "--queue-name",
            queue,
            "--interval",
            "0.1",
            "--no-startup-delay",
            "--no-reload",
        ],
        # On SQLite, db_worker exits if it waits longer than the timeout to
        # look for tasks, as it does while another process writes for long
        # (a strict job of another runner's test, on a busy machine).
        worker_env(
            database, media_root, BULK_JOBS_TASK_QUEUE=queue, BULK_JOBS_SQLITE_TIMEOUT="120"
        ),
        log,
        ready="Starting worker",
    ).start()


@pytest.fixture(scope="session")
def task_worker(shared_database, job_media_root, tmp_path_factory):
    """A ``db_worker`` process on a queue of its own, for the whole session."""
    pytest.importorskip("django_tasks_db")
    queue = f"drf-bulk-tests-{uuid.uuid4().hex[:8]}"
    worker = start_db_worker(
        shared_database, job_media_root, queue, tmp_path_factory.mktemp("tasks") / "db_worker.log"
    )
    worker.queue = queue
    yield worker
    worker.stop()


@pytest.fixture
def task_worker_factory(shared_database, job_media_root, tmp_path):
    """Starts ``db_worker`` processes on a queue; stops them after the test."""
    workers = []

    def start(queue: str) -> WorkerProcess:
        log = tmp_path / f"db_worker-{len(workers)}.log"
        workers.append(start_db_worker(shared_database, job_media_root, queue, log))
        return workers[-1]

    yield start
    for worker in workers:
        worker.stop()


def wait_for_tasks(queue: str, timeout: float = 30) -> None:
    """Let the worker end the tasks of ``queue`` before their rows are flushed."""
    from django_tasks_db.models import DBTaskResult

    waiting = DBTaskResult.objects.filter(queue_name=queue, status__in=["READY", "RUNNING"])
    wait_until(lambda: not waiting.exists(), timeout=timeout, message=f"the tasks of {queue}")


@pytest.fixture
def embedded_worker_factory(shared_database, job_media_root, tmp_path):
    """Starts ``manage.py run_bulk_jobs`` processes; stops them after the test."""
    workers = []

    def start(*options: str) -> WorkerProcess:
        worker = WorkerProcess(
            [sys.executable, "-m", "django", "run_bulk_jobs", "--workers", "1", *options],
            worker_env(shared_database, job_media_root),
            tmp_path / f"run_bulk_jobs-{len(workers)}.log",
            ready="Running bulk jobs",
        )
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.stop()


def wait_for_idle(timeout: float = 30) -> None:
    """Let running jobs end before the test's rows are flushed."""
    running = BulkJob.objects.running()
    try:
        wait_until(lambda: not running.exists(), timeout=timeout, message="running jobs to end")
    except AssertionError:
        running.update(cancel_requested=True)
        wait_until(
            lambda: not BulkJob.objects.filter(state=BulkJob.State.PROGRESS).exists(),
            timeout=timeout,
        )


@pytest.fixture(params=RUNNERS)
def runner(request, transactional_db, shared_database, job_settings):
    """The runner under test: ``"embedded"``, ``"celery"`` or ``"tasks"``."""
    queue = None
    if request.param == "celery":
        request.getfixturevalue("celery_worker")
        overrides = {"JOB_RUNNER": CELERY}
    elif request.param == "tasks":
        worker = request.getfixturevalue("task_worker")
        if worker.process.poll() is not None:
            raise AssertionError(f"The db_worker exited:\n{worker.log.read_text()[-4000:]}")
        queue = worker.queue
        overrides = {"JOB_RUNNER": TASKS, "JOB_TASK_QUEUE_NAME": queue}
    else:
        overrides = {"JOB_RUNNER": EMBEDDED}
    job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, **overrides}
    yield request.param
    wait_for_idle()
    if queue is not None:
        wait_for_tasks(queue)
    stop_pool()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True)


@pytest.fixture
def client_for():
    from rest_framework.test import APIClient

    def make(user):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def api(client_for, user):
    return client_for(user)


def pytest_sessionfinish(session, exitstatus):
    stop_pool(timeout=5)
