"""Views driven without HTTP, built as the job worker builds them.

The worker imports the view class, instantiates it, gives a viewset its
action map, sets ``args``/``kwargs``/``headers``, wraps a plain
``HttpRequest`` authenticated as the submitter with ``initialize_request()``,
runs content negotiation, versioning and ``check_permissions()``, and hands
the view to ``BulkOperation``. ``make_view()`` does the same from an
``APIRequestFactory`` request.
"""

from __future__ import annotations

from urllib.parse import urlencode

from rest_framework.test import APIRequestFactory, force_authenticate

#: The bulk actions of a BulkModelViewSet's list route, by HTTP method.
ACTIONS = {
    "post": "create",
    "put": "bulk_update",
    "patch": "partial_bulk_update",
    "delete": "bulk_destroy",
}


def make_view(view_class, method: str = "post", *, user=None, query: dict | None = None):
    """An instance of ``view_class`` ready for the engine, acting for ``user``."""
    path = "/?" + urlencode(query) if query else "/"
    http_request = getattr(APIRequestFactory(), method)(path)
    if user is not None:
        force_authenticate(http_request, user)
    view = view_class()
    if hasattr(view_class, "get_extra_actions"):  # a viewset
        view.action_map = {method: ACTIONS[method]}
        view.action = ACTIONS[method]
    view.args = ()
    view.kwargs = {}
    view.headers = dict(view.default_response_headers)
    request = view.initialize_request(http_request)
    view.request = request
    view.format_kwarg = None
    request.accepted_renderer, request.accepted_media_type = view.perform_content_negotiation(
        request, force=True
    )
    request.version, request.versioning_scheme = view.determine_version(request)
    view.check_permissions(request)
    return view
