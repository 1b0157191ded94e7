"""ResourceClient: the status write sends one merge patch and reports the new resourceVersion."""

from __future__ import annotations

from typing import Any

import pytest

from finnexus_operator import errors
from finnexus_operator.adapters.resource import ResourceClient

STATUS_PATH = "/apis/finnexus.ai/v1alpha1/namespaces/ns/finnexusdeployments/web/status"


class RecordingKube:
    """Answers every PATCH with ``answer``; records (path, body, kind)."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.patches: list[tuple[str, Any, str]] = []

    async def patch(self, path: str, body: Any, kind: str = "merge") -> dict[str, Any]:
        self.patches.append((path, body, kind))
        return self.answer


@pytest.mark.parametrize("answer, rv", [
    ({"metadata": {"name": "web", "resourceVersion": "42"}}, "42"),
    ({"metadata": {"name": "web", "resourceVersion": 7}}, "7"),  # always a string
    ({"metadata": {"name": "web"}}, None),
    ({}, None),
])
async def test_write_status_merge_patches_the_status_subresource(
    answer: dict[str, Any], rv: str | None
) -> None:
    kube = RecordingKube(answer)
    status = {"phase": "Active", "message": None}  # None deletes the key (merge patch)
    written = await ResourceClient(kube).write_status(  # type: ignore[arg-type]
        "ns", "web", status)
    assert written == rv
    assert kube.patches == [(STATUS_PATH, {"status": {"phase": "Active", "message": None}},
                             "merge")]


class FailingKube:
    """Answers every PATCH with ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def patch(self, path: str, body: Any, kind: str = "merge") -> dict[str, Any]:
        raise self.error


@pytest.mark.parametrize("error", [
    errors.Invalid("the JSON patch test failed", status=422),
    errors.ApiError("bad request", status=400),
    errors.NotFound("gone", status=404),
])
async def test_a_request_changed_or_gone_meanwhile_is_not_cleared(error: Exception) -> None:
    client = ResourceClient(FailingKube(error))  # type: ignore[arg-type]
    assert await client.clear_request("ns", "web", "promote") is False


@pytest.mark.parametrize("error", [
    errors.ApiUnavailable("HTTP 500", status=500),  # not a failed test: the pass is retried
    errors.ApiUnavailable("HTTP 503", status=503),
    errors.Conflict("HTTP 409", status=409),
])
async def test_a_failed_request_clear_fails_the_pass(error: Exception) -> None:
    """A handled request left in place would be acted on again by the next pass (a promote
    accepted in AwaitingPromotion, replayed in Analyzing, skips the analysis)."""
    client = ResourceClient(FailingKube(error))  # type: ignore[arg-type]
    with pytest.raises(type(error)):
        await client.clear_request("ns", "web", "promote")
