"""API answers translated into the error tree: the class, and the wait a 429/503 asks for."""

from __future__ import annotations

import json

import pytest

from finnexus_operator import errors
from finnexus_operator.adapters.kubeerrors import MAX_RETRY_AFTER
from finnexus_operator.adapters.kubeerrors import translate as _translate


def status(code: int, reason: str, **details: object) -> str:
    return json.dumps({"kind": "Status", "code": code, "reason": reason, "message": "m",
                       "details": details})


@pytest.mark.parametrize(("code", "cls"), [
    (404, errors.NotFound), (409, errors.Conflict), (422, errors.Invalid),
    (429, errors.ApiUnavailable), (500, errors.ApiUnavailable), (503, errors.ApiUnavailable),
    (504, errors.ApiUnavailable), (403, errors.ApiError)])
def test_each_status_maps_to_its_error(code: int, cls: type[errors.ApiError]) -> None:
    err = _translate(code, "x", status(code, "X"), "PATCH", "/p")
    assert type(err) is cls and err.status == code


def test_retry_after_comes_from_the_header_or_the_status_details() -> None:
    assert _translate(429, "", status(429, "TooManyRequests"), "GET", "/p",
                      {"Retry-After": "2"}).retry_after == 2.0
    assert _translate(503, "", status(503, "ServiceUnavailable", retryAfterSeconds=3),
                      "GET", "/p").retry_after == 3.0
    assert _translate(429, "", status(429, "TooManyRequests"), "GET", "/p",
                      {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}).retry_after is None
    assert _translate(429, "", "", "GET", "/p",
                      {"Retry-After": "3600"}).retry_after == MAX_RETRY_AFTER
    # only a 429 or 503 asks for a wait
    assert _translate(500, "", "", "GET", "/p", {"Retry-After": "2"}).retry_after is None
