"""ResourceClient: the status write sends one merge patch and reports the new resourceVersion."""

from __future__ import annotations

from typing import Any

import pytest

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
