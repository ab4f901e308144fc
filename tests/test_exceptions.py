"""The error types of ``rest_framework_bulk.exceptions`` and the one body shape they share."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DataError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.exceptions import ErrorDetail

from rest_framework_bulk.exceptions import (
    NO_VERSION,
    STATUS_BY_CODE,
    BulkError,
    ItemError,
    RequestError,
    TooManyItems,
    TransactionConflict,
    as_api_exception,
    error_body,
)

# ItemError ------------------------------------------------------------------


def entry(error: ItemError) -> dict:
    """The item's entry in the ``errors`` of the body of a ``BulkError``."""
    return BulkError([error], 1).detail["errors"][0]


def test_item_error_entry_has_index_code_and_detail_only_by_default():
    error = ItemError(3, "invalid", {"name": ["This field is required."]})

    assert entry(error) == {
        "index": 3,
        "code": "invalid",
        "detail": {"name": ["This field is required."]},
    }


def test_item_error_entry_carries_every_known_extra_in_order():
    error = ItemError(
        1,
        "version_conflict",
        "Stale.",
        lookup=7,
        codes={"version": ["stale"]},
        line=4,
        current_version=5,
    )

    data = entry(error)

    assert data == {
        "index": 1,
        "line": 4,
        "lookup": 7,
        "code": "version_conflict",
        "detail": "Stale.",
        "codes": {"version": ["stale"]},
        "current_version": 5,
    }
    assert list(data) == ["index", "line", "lookup", "code", "detail", "codes", "current_version"]


def test_item_error_reports_a_row_that_is_gone_as_current_version_none():
    gone = ItemError(0, "version_conflict", "Gone.", current_version=None)

    assert entry(gone)["current_version"] is None
    assert "current_version" not in entry(ItemError(0, "invalid", "x"))
    assert ItemError(0, "invalid", "x").current_version is NO_VERSION


def test_item_error_keeps_falsy_lookups_and_lines():
    data = entry(ItemError(0, "not_found", "Not found.", lookup=0, line=0))

    assert data["lookup"] == 0
    assert data["line"] == 0


# BulkError ------------------------------------------------------------------


def test_bulk_error_sorts_errors_by_index_and_counts_them():
    error = BulkError(
        [ItemError(4, "invalid", "d"), ItemError(0, "invalid", "a"), ItemError(2, "invalid", "c")],
        total=5,
    )

    assert [item["index"] for item in error.detail["errors"]] == [0, 2, 4]
    assert error.detail["detail"] == "3 of 5 items were rejected; nothing was written."
    assert error.status_code == 400


def test_bulk_error_message_is_singular_for_one_item():
    error = BulkError([ItemError(1, "not_found", "Not found.", lookup=9)], total=2)

    assert error.detail["detail"] == "1 of 2 items was rejected; nothing was written."
    assert error.detail["errors"] == [
        {"index": 1, "lookup": 9, "code": "not_found", "detail": "Not found."}
    ]


def test_bulk_error_takes_the_code_of_its_items_when_they_share_one():
    error = BulkError([ItemError(0, "not_found", "x"), ItemError(1, "not_found", "y")], 2)

    assert error.detail["code"] == "not_found"
    assert error.get_codes() == "not_found"
    assert error.detail["detail"].code == "not_found"


def test_bulk_error_with_mixed_codes_is_invalid():
    error = BulkError([ItemError(0, "not_found", "x"), ItemError(1, "unique", "y")], 2)

    assert error.detail["code"] == "invalid"
    assert error.get_codes() == "invalid"


def test_bulk_error_code_can_be_given():
    error = BulkError([ItemError(0, "not_found", "x")], 1, code="rejected")

    assert error.detail["code"] == "rejected"
    assert error.detail["detail"].code == "rejected"
    assert error.detail["errors"][0]["code"] == "not_found"


@pytest.mark.parametrize(("code", "expected"), list(STATUS_BY_CODE.items()))
def test_bulk_error_status_follows_the_item_code(code, expected):
    assert BulkError([ItemError(0, code, "x")], 1).status_code == expected


@pytest.mark.parametrize("code", ["invalid", "not_found", "unique", "duplicate_lookup"])
def test_bulk_error_status_is_400_for_other_codes(code):
    assert BulkError([ItemError(0, code, "x")], 1).status_code == 400


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        # The first code of STATUS_BY_CODE that occurs decides, wherever it is in the list.
        (["invalid", "version_conflict", "permission_denied"], 403),
        (["version_conflict", "not_authenticated"], 401),
        (["conflict", "version_required"], 428),
        (["not_found", "protected", "invalid"], 409),
        (["version_conflict", "invalid"], 409),
    ],
)
def test_bulk_error_status_precedence(codes, expected):
    errors = [ItemError(index, code, "x") for index, code in enumerate(codes)]

    error = BulkError(errors, len(errors))

    assert error.status_code == expected
    assert error.detail["code"] == "invalid"


def test_bulk_error_status_is_per_instance():
    BulkError([ItemError(0, "permission_denied", "x")], 1)

    assert BulkError([ItemError(0, "invalid", "x")], 1).status_code == 400
    assert BulkError.status_code == 400


def test_bulk_error_body_is_kept_by_error_body():
    error = BulkError([ItemError(0, "invalid", {"name": ["bad"]})], 1)

    assert error_body(error) is error.detail


# RequestError and its kinds -----------------------------------------------


def test_request_error_body_and_status():
    error = RequestError("Expected a list of items but got dict.", "not_a_list")

    assert error.status_code == 400
    assert error.detail == {
        "code": "not_a_list",
        "detail": "Expected a list of items but got dict.",
    }
    assert error.detail["detail"].code == "not_a_list"
    assert error.get_codes() == "not_a_list"
    assert error_body(error) is error.detail


def test_request_error_status_can_be_given_per_instance():
    error = RequestError("Taken.", "conflict", status.HTTP_409_CONFLICT)

    assert error.status_code == 409
    assert RequestError("x", "invalid").status_code == 400


def test_too_many_items_with_a_count():
    error = TooManyItems(1500, 1000)

    assert error.status_code == 413
    assert error.detail["code"] == "too_many_items"
    assert error.detail["detail"] == "This request carries 1500 items; at most 1000 are allowed."


def test_too_many_items_is_singular_for_a_limit_of_one():
    assert TooManyItems(3, 1).detail["detail"] == (
        "This request carries 3 items; at most 1 is allowed."
    )
    assert TooManyItems(None, 1).detail["detail"] == (
        "This request matches more than 1 item; at most 1 is allowed."
    )


def test_too_many_items_matched_by_a_filter_and_with_a_hint():
    error = TooManyItems(None, 50, hint="Narrow the filter.")

    assert error.detail["detail"] == (
        "This request matches more than 50 items; at most 50 are allowed. Narrow the filter."
    )


def test_transaction_conflict_is_a_retryable_409():
    error = TransactionConflict()

    assert isinstance(error, RequestError)
    assert error.status_code == 409
    assert error.detail["code"] == "transaction_conflict"
    assert "Retry" in error.detail["detail"]


# error_body() ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "code", "status_code"),
    [
        (exceptions.ParseError(), "parse_error", 400),
        (exceptions.NotFound(), "not_found", 404),
        (exceptions.PermissionDenied(), "permission_denied", 403),
        (exceptions.NotAuthenticated(), "not_authenticated", 401),
        (exceptions.AuthenticationFailed(), "authentication_failed", 401),
        (exceptions.MethodNotAllowed("PUT"), "method_not_allowed", 405),
        (exceptions.NotAcceptable(), "not_acceptable", 406),
        (exceptions.UnsupportedMediaType("text/x"), "unsupported_media_type", 415),
        (exceptions.Throttled(3), "throttled", 429),
    ],
)
def test_error_body_of_a_message_keeps_drf_code(exc, code, status_code):
    body = error_body(exc)

    assert body == {"code": code, "detail": str(exc.detail)}
    assert body["detail"].code == code
    assert exc.status_code == status_code


@pytest.mark.parametrize(
    ("status_code", "code"),
    [(409, "conflict"), (413, "too_large"), (404, "not_found"), (500, "invalid")],
)
def test_error_body_replaces_drf_generic_code_by_the_status_code(status_code, code):
    exc = exceptions.APIException("Something.")
    assert exc.get_codes() == "error"

    assert error_body(exc, status_code) == {"code": code, "detail": "Something."}


def test_error_body_reads_the_exception_status_when_none_is_given():
    exc = exceptions.APIException("Taken.")
    exc.status_code = 409

    assert error_body(exc)["code"] == "conflict"


def test_error_body_of_a_validation_error_list():
    exc = exceptions.ValidationError(["First.", "Second."])

    body = error_body(exc)

    assert body == {"code": "invalid", "detail": "First. Second."}
    assert "fields" not in body


def test_error_body_of_a_validation_error_list_takes_its_first_code():
    exc = exceptions.ValidationError(
        [ErrorDetail("Too long.", code="max_length"), ErrorDetail("Odd.", code="odd")]
    )

    assert error_body(exc)["code"] == "max_length"


def test_error_body_of_a_validation_error_dict_keeps_fields_and_codes():
    exc = exceptions.ValidationError(
        {
            "name": [ErrorDetail("This field is required.", code="required")],
            "address": {"city": [ErrorDetail("Too long.", code="max_length")]},
        }
    )

    body = error_body(exc)

    assert body["code"] == "required"
    assert body["detail"] == "name: This field is required. address: city: Too long."
    assert body["fields"] == {
        "name": ["This field is required."],
        "address": {"city": ["Too long."]},
    }
    assert body["codes"] == {"name": ["required"], "address": {"city": ["max_length"]}}


def test_error_body_of_a_nested_dict_finds_the_first_code_below():
    exc = exceptions.ValidationError({"address": {"city": [ErrorDetail("x", code="blank")]}})

    assert error_body(exc)["code"] == "blank"


def test_error_body_of_an_empty_validation_error_falls_back_to_the_default_code():
    assert error_body(exceptions.ValidationError([]))["code"] == "invalid"


def test_error_body_of_a_plain_validation_error_message():
    body = error_body(exceptions.ValidationError("Plain.", code="plain"))

    # DRF wraps a bare message in a list.
    assert body == {"code": "plain", "detail": "Plain."}


def test_error_body_keeps_the_line_and_column_of_a_csv_error():
    exc = exceptions.ParseError("Unterminated quote.", code="csv_syntax")
    exc.line = 12
    exc.column = 3

    assert error_body(exc) == {
        "code": "csv_syntax",
        "detail": "Unterminated quote.",
        "line": 12,
        "column": 3,
    }


def test_error_body_rewrites_a_dict_that_only_looks_like_a_body():
    # "code" must be a text for the body to be taken as it is.
    exc = exceptions.ValidationError({"code": ["Required."], "detail": ["Required."]})

    body = error_body(exc)

    assert body["code"] == "invalid"
    assert body["fields"] == {"code": ["Required."], "detail": ["Required."]}


# as_api_exception() ----------------------------------------------------------


def test_http404_becomes_not_found():
    exc = as_api_exception(Http404("No Item matches the given query."))

    assert isinstance(exc, exceptions.NotFound)
    assert error_body(exc) == {"code": "not_found", "detail": "Not found."}


def test_django_permission_denied_becomes_drf_permission_denied():
    exc = as_api_exception(DjangoPermissionDenied("secret"))

    assert isinstance(exc, exceptions.PermissionDenied)
    assert exc.status_code == 403
    assert error_body(exc)["code"] == "permission_denied"
    assert "secret" not in str(exc.detail)


def test_recursion_error_becomes_a_parse_error():
    exc = as_api_exception(RecursionError("maximum recursion depth exceeded"))

    assert isinstance(exc, exceptions.ParseError)
    assert error_body(exc) == {
        "code": "parse_error",
        "detail": "The request body is nested too deeply.",
    }


def test_data_error_becomes_an_invalid_value():
    exc = as_api_exception(DataError("invalid byte sequence"))

    assert isinstance(exc, RequestError)
    assert exc.status_code == 400
    assert exc.detail["code"] == "invalid_value"
    assert "byte sequence" not in str(exc.detail["detail"])


@pytest.mark.parametrize(
    "exc",
    [ValueError("x"), KeyError("x"), exceptions.ParseError(), exceptions.ValidationError("x")],
)
def test_other_exceptions_are_returned_as_they_are(exc):
    assert as_api_exception(exc) is exc
