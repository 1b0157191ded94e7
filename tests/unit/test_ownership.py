"""The one owner check: an object is ours only with an ownerReference to our uid."""

from __future__ import annotations

from typing import Any

import pytest

from finnexus_operator.adapters.objects import is_owned_by


def obj(*uids: str | None) -> dict[str, Any]:
    refs = [{"kind": "FinNexusDeployment", "name": "web"} | ({} if u is None else {"uid": u})
            for u in uids]
    return {"metadata": {"name": "web", "ownerReferences": refs}}


@pytest.mark.parametrize("found, owned", [
    (obj("u-1"), True),
    (obj("other", "u-1"), True),  # several owners: ours among them
    (obj("other"), False),
    (obj(), False),
    (obj(None), False),  # a reference without a uid is nobody's
    ({"metadata": {"name": "web"}}, False),
    ({}, False),
    (None, False),  # absent
])
def test_is_owned_by(found: dict[str, Any] | None, owned: bool) -> None:
    assert is_owned_by(found, "u-1") is owned


def test_an_empty_uid_matches_no_reference_without_one() -> None:
    assert not is_owned_by(obj(None), "")
