"""Least privilege: the chart grants exactly what finnexus_operator/rbac.py says the code uses."""

from __future__ import annotations

from typing import Any

import pytest

from finnexus_operator.rbac import PEERING_RULES, RULES
from tests.packaging.tools import of_kind, render

Canon = frozenset[tuple[str, str, str]]


def canonical(rules: list[Any]) -> Canon:
    """Rules as a set of (apiGroup, resource, verb): order- and grouping-insensitive."""
    out: set[tuple[str, str, str]] = set()
    for rule in rules:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, f"unexpected keys in {rule}"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert "*" not in (group, resource, verb), f"wildcard in {rule}"
                    out.add((group, resource, verb))
    return frozenset(out)


def operator_cluster_roles(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The operator's ClusterRoles: not the user-facing ones aggregated into view/edit/admin
    (they grant people access to finnexusdeployments; the operator is never bound to them)."""
    return [r for r in of_kind(objs, "ClusterRole") if not any(
        k.startswith("rbac.authorization.k8s.io/aggregate-to-")
        for k in r["metadata"].get("labels", {}))]


EXPECTED = canonical(list(RULES))
EXPECTED_HA = canonical([*RULES, *PEERING_RULES])


@pytest.mark.parametrize("replicas", ["1", "3"])
def test_cluster_role_equals_the_rules_the_code_uses(replicas: str) -> None:
    objs = render({"replicas": replicas})
    (role,) = operator_cluster_roles(objs)
    assert canonical(role["rules"]) == (EXPECTED_HA if replicas != "1" else EXPECTED)
    assert not of_kind(objs, "Role")
    (binding,) = of_kind(objs, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    (sa,) = of_kind(objs, "ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "finnexus-system"}
    ]


@pytest.mark.parametrize("replicas", ["1", "2"])
def test_namespaced_mode_has_one_role_per_watched_namespace(replicas: str) -> None:
    objs = render({"watchNamespaces": "{trading,payments,risk}", "replicas": replicas})
    assert not operator_cluster_roles(objs) and not of_kind(objs, "ClusterRoleBinding")
    roles = of_kind(objs, "Role")
    bindings = of_kind(objs, "RoleBinding")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["payments", "risk", "trading"]
    for role in roles:
        assert canonical(role["rules"]) == (EXPECTED_HA if replicas != "1" else EXPECTED)
    for b in bindings:
        assert b["roleRef"]["kind"] == "Role"
        assert b["subjects"][0]["namespace"] == "finnexus-system"
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["payments", "risk", "trading"]


def test_rbac_can_be_left_to_the_user() -> None:
    objs = render({"rbac.create": "false"})
    for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
        assert not of_kind(objs, kind)


def test_comparison_is_sensitive() -> None:
    """A rule with one extra verb is not equal (the canonical form does not hide it)."""
    widened: list[dict[str, Any]] = [dict(r) for r in RULES]
    widened[0] = {**widened[0], "verbs": [*widened[0]["verbs"], "delete"]}
    assert canonical(widened) != EXPECTED
