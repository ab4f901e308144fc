"""An export job's CSV result, sent back unchanged to /bulk/, writes the same rows."""

from __future__ import annotations

import pytest

from tests.models import Memo
from tests.test_csv_roundtrip import HOSTILE_TEXTS, SCRAMBLED, rows, sent_back

from .test_bulk_endpoint import wait_for

pytestmark = pytest.mark.urls("tests.urls")


@pytest.mark.parametrize(
    ("url", "null"), [("/api/memos/", "#N/A"), ("/api/null-token-memos/", "NULL")]
)
def test_an_export_jobs_csv_sent_back_writes_the_same_rows(runner, api, url, null):
    for index, text in enumerate(HOSTILE_TEXTS):
        Memo.objects.create(key=f"{text[:1]}k{index}", text=text, note=text or None, count=index)
    Memo.objects.create(key="nulls")
    original = rows()

    response = api.get(f"{url}bulk/", HTTP_PREFER="respond-async")
    assert response.status_code == 202, response.content
    body = wait_for(api, response.data["status_url"])
    assert body["state"] == "SUCCESS", body
    assert body["result"]["success_count"] == len(original)
    download = api.get(
        f"/bulk-operations/{response.data['task_id']}/results/successful/?format=csv"
    )
    assert download.status_code == 200
    content = b"".join(download.streaming_content)
    assert f",{null},".encode() in content

    Memo.objects.update(**SCRAMBLED)
    response = api.generic("PUT", f"{url}bulk/", content, content_type="text/csv")
    assert response.status_code == 200, response.content
    assert response.json()["success_count"] == len(original)
    assert rows() == sent_back(original, lambda row, name: SCRAMBLED[name])

    Memo.objects.all().delete()
    response = api.generic("POST", f"{url}bulk/?upsert=key", content, content_type="text/csv")
    assert response.status_code == 200, response.content
    assert rows() == sent_back(original, lambda row, name: Memo._meta.get_field(name).get_default())
