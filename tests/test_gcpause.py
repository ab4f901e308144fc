"""The collector is paused while a bulk write runs, and only then."""

from __future__ import annotations

import gc
import threading

import pytest
from rest_framework.test import APIRequestFactory

from rest_framework_bulk import gcpause
from rest_framework_bulk.generics import ListBulkCreateUpdateDestroyAPIView
from tests.models import SimpleModel
from tests.serializers import SimpleSerializer

pytestmark = pytest.mark.django_db


class RecordingSerializer(SimpleSerializer):
    seen: list[bool] = []

    def validate(self, attrs):
        self.seen.append(gc.isenabled())
        if attrs["contents"] == "boom":
            raise RuntimeError("a hook that fails")
        return attrs


class RecordingView(ListBulkCreateUpdateDestroyAPIView):
    queryset = SimpleModel.objects.all()
    serializer_class = RecordingSerializer
    authentication_classes = []
    permission_classes = []

    def perform_bulk_create(self, serializer):
        RecordingSerializer.seen.append(gc.isenabled())
        super().perform_bulk_create(serializer)


@pytest.fixture
def recorded():
    RecordingSerializer.seen = []
    assert gc.isenabled()
    yield RecordingSerializer.seen
    gc.enable()


def post(items):
    request = APIRequestFactory().post("/", items, format="json")
    return RecordingView.as_view()(request)


def test_a_bulk_write_runs_with_the_collector_paused(recorded):
    response = post([{"number": n, "contents": f"c{n}"} for n in range(3)])

    assert response.status_code == 201
    assert recorded == [False, False, False, False]
    assert gc.isenabled()
    assert SimpleModel.objects.count() == 3


@pytest.mark.parametrize(
    ("items", "status"), [([{"number": "x", "contents": "a"}], 400), ([{"contents": "a"}], 400)]
)
def test_a_refused_request_resumes_the_collector(recorded, items, status):
    assert post(items).status_code == status
    assert gc.isenabled()


def test_a_hook_that_raises_resumes_the_collector(recorded):
    with pytest.raises(RuntimeError):
        post([{"number": 1, "contents": "boom"}])
    assert recorded == [False]
    assert gc.isenabled()
    assert not SimpleModel.objects.exists()


def test_reads_leave_the_collector_alone(recorded):
    seen = []

    class ReadingView(RecordingView):
        def list(self, request, *args, **kwargs):
            seen.append(gc.isenabled())
            return super().list(request, *args, **kwargs)

    response = ReadingView.as_view()(APIRequestFactory().get("/"))
    assert response.status_code == 200
    assert seen == [True]


def test_the_setting_leaves_the_collector_alone(recorded, settings):
    settings.REST_FRAMEWORK_BULK = {"PAUSE_GC": False}

    assert post([{"number": 1, "contents": "a"}]).status_code == 201
    assert recorded == [True, True]


def test_a_collector_disabled_before_stays_disabled(recorded):
    gc.disable()
    assert post([{"number": 1, "contents": "a"}]).status_code == 201
    assert not gc.isenabled()


def test_overlapping_pauses_resume_when_the_last_ends():
    assert gc.isenabled()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with gcpause.paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with gcpause.paused():
            second_in.set()
            first_out.wait(5)
            # The first pause has ended; this one still holds.
            seen["inside"] = gc.isenabled()
        seen["after"] = gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"inside": False, "after": True}
    with gcpause.paused(), gcpause.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


@pytest.mark.parametrize("limit", [0.0, 60.0])
def test_pauses_that_overlap_without_end_still_collect_now_and_then(monkeypatch, limit):
    monkeypatch.setattr(gcpause, "MAX_PAUSE", limit)
    collections = []

    def record(phase, info):
        if phase == "start":
            collections.append(info["generation"])

    first, second = gcpause.paused(), gcpause.paused()
    gc.callbacks.append(record)
    try:
        first.__enter__()
        second.__enter__()
        # The first ends while the second still holds the collector.
        first.__exit__(None, None, None)
        assert not gc.isenabled()
        # Past MAX_PAUSE, a full collection all the same; before it, none.
        assert collections == ([2] if limit == 0.0 else [])
        second.__exit__(None, None, None)
        assert gc.isenabled()
    finally:
        gc.callbacks.remove(record)
        gc.enable()
