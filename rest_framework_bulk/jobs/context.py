"""
The view a job runs, stored at submission and rebuilt in the worker.

A job keeps the view's dotted class path, the ``initkwargs`` it was built
with (for a viewset also its action map and action), the URL kwargs and a
few harmless parts of the request: method, path, query string, host, scheme
and language. The worker imports the class, builds the view as DRF's
``as_view()`` does, and hands it a DRF ``Request`` authenticated as the
submitter (``force_authenticate`` style), so ``get_queryset()``, the
serializer's context, permissions and ``perform_bulk_*`` hooks see what they
saw in the request. The owner must still be active (``owner_inactive``
otherwise), and the view's permission checks run again, since the user's
rights may have changed while the job waited; throttles do not (the request
was counted when it was made). Credentials, cookies and the body are not
kept.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, QueryDict
from django.utils import translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import PermissionDenied
from rest_framework.utils.encoders import JSONEncoder

#: Attributes DRF sets on a view while dispatching; never initkwargs.
DISPATCH_ATTRIBUTES = {
    "request",
    "args",
    "kwargs",
    "headers",
    "format_kwarg",
    "action_map",
    "action",
}

#: The request headers kept for the worker.
KEPT_META = (
    "SERVER_NAME",
    "SERVER_PORT",
    "HTTP_HOST",
    "HTTP_ACCEPT_LANGUAGE",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PROTO",
    "SCRIPT_NAME",
)


class OwnerInactive(PermissionDenied):
    """The job's owner was deactivated after submitting it."""

    default_detail = _("The user who submitted this job is no longer active; it was not run.")
    default_code = "owner_inactive"


def check_owner(user) -> None:
    """Refuse to act for a user who was deactivated since submitting.

    A request would not get this far: Django's authentication backends and
    DRF's token authentication refuse inactive users, but a job acts for its
    owner without authenticating again.
    """
    if not getattr(user, "is_active", True):
        raise OwnerInactive()


def view_path(view) -> str:
    cls = type(view)
    path = f"{cls.__module__}.{cls.__qualname__}"
    if "<locals>" in path:
        raise ImproperlyConfigured(
            f"`{path}` is defined inside a function, so a job worker cannot import it. "
            "Define the view at module level to run it as a bulk job."
        )
    return path


def jsonable(value: Any, what: str, view) -> Any:
    try:
        return json.loads(json.dumps(value, cls=JSONEncoder))
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"The {what} of `{type(view).__name__}` cannot be stored for a bulk job ({exc}). "
            "Set such values as class attributes instead of passing them to `as_view()`."
        ) from exc


def describe_view(view) -> dict:
    """What a job stores to rebuild ``view``: class, initkwargs, actions, action, URL kwargs."""
    cls = type(view)
    request = view.request
    func = getattr(getattr(request, "resolver_match", None), "func", None)
    if func is not None and getattr(func, "cls", None) is cls:
        initkwargs = dict(getattr(func, "initkwargs", None) or {})
        actions = getattr(func, "actions", None)
    else:
        # Called without URL resolution (a test calling `as_view()(request)`):
        # what `View.__init__` set from initkwargs is what the class also has.
        initkwargs = {
            key: value
            for key, value in vars(view).items()
            if key not in DISPATCH_ATTRIBUTES and hasattr(cls, key) and not callable(value)
        }
        actions = getattr(view, "action_map", None)
    return {
        "view_class": view_path(view),
        "view_initkwargs": jsonable(initkwargs, "initkwargs", view),
        "view_actions": jsonable(dict(actions), "actions", view) if actions else None,
        "view_action": getattr(view, "action", None) or "",
        "view_kwargs": jsonable(dict(getattr(view, "kwargs", {}) or {}), "URL kwargs", view),
        "request_meta": describe_request(request),
    }


def describe_request(request) -> dict:
    meta = {key: request.META[key] for key in KEPT_META if key in request.META}
    return {
        "method": request.method,
        "path": request.path,
        "path_info": request.path_info,
        "query_string": request.META.get("QUERY_STRING", ""),
        "scheme": request.scheme,
        "language": getattr(request, "LANGUAGE_CODE", None) or translation.get_language(),
        "meta": meta,
    }


class JobHttpRequest(HttpRequest):
    """An ``HttpRequest`` standing in for the one that submitted a job."""

    def __init__(self, described: dict):
        super().__init__()
        self.method = described.get("method", "POST")
        self.path = described.get("path", "/")
        self.path_info = described.get("path_info", self.path)
        self.META.update(described.get("meta", {}))
        self.META["QUERY_STRING"] = described.get("query_string", "")
        self.META["REQUEST_METHOD"] = self.method
        self.GET = QueryDict(self.META["QUERY_STRING"])
        self._scheme = described.get("scheme", "http")
        if described.get("language"):
            self.LANGUAGE_CODE = described["language"]

    def _get_scheme(self) -> str:
        return self._scheme


def build_view(job):
    """The view of ``job``, ready for the engine, acting for the job's owner.

    Raises ``PermissionDenied`` (``owner_inactive``, or the code of the
    view's permission) if the owner may no longer run it.
    """
    check_owner(job.owner)
    cls = import_string(job.view_class)
    view = cls(**job.view_initkwargs)
    if job.view_actions:
        view.action_map = job.view_actions
        for method, action in job.view_actions.items():
            setattr(view, method, getattr(view, action))
    http_request = JobHttpRequest(job.request_meta)
    http_request._force_auth_user = job.owner
    http_request._force_auth_token = None
    view.args = ()
    view.kwargs = dict(job.view_kwargs)
    view.headers = dict(view.default_response_headers)
    request = view.initialize_request(http_request, **view.kwargs)
    view.request = request
    if job.view_action:
        view.action = job.view_action
    view.format_kwarg = None
    request.accepted_renderer, request.accepted_media_type = view.perform_content_negotiation(
        request, force=True
    )
    request.version, request.versioning_scheme = view.determine_version(request, **view.kwargs)
    view.check_permissions(request)
    return view
