from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient


class JSONClient(APIClient):
    """An API client that sends JSON bodies on every verb, DELETE included."""

    def bulk(self, method, url, data=None, **extra):
        body = json.dumps(data) if data is not None else None
        return getattr(self, method)(url, data=body, content_type="application/json", **extra)


@pytest.fixture
def api():
    return JSONClient()
