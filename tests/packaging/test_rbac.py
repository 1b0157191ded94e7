"""Least privilege: the chart grants exactly what finnexus_operator/rbac.py says the code uses."""

from __future__ import annotations

from typing import Any

import pytest

from finnexus_operator.rbac import LEASE_RULES, RULES, TEMPLATE_RULES
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
LEASE_ROLE = "finnexus-finnexus-operator-leader-election"


def lease_role(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] in ("Role", "RoleBinding")
            and o["metadata"]["name"] == LEASE_ROLE]


def watched_roles(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in of_kind(objs, kind) if o["metadata"]["name"] != LEASE_ROLE]


@pytest.mark.parametrize("replicas", ["1", "3"])
def test_cluster_role_equals_the_rules_the_code_uses(replicas: str) -> None:
    objs = render({"replicas": replicas})
    (role,) = operator_cluster_roles(objs)
    # the Lease is never granted cluster-wide; the templates are cluster-scoped
    assert canonical(role["rules"]) == EXPECTED | canonical(list(TEMPLATE_RULES))
    assert not watched_roles(objs, "Role")
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
    # cluster-wide only the cluster-scoped FinNexusAnalysisTemplates, read-only
    (templates,) = operator_cluster_roles(objs)
    assert canonical(templates["rules"]) == canonical(list(TEMPLATE_RULES))
    (tbinding,) = of_kind(objs, "ClusterRoleBinding")
    assert tbinding["roleRef"]["name"] == templates["metadata"]["name"]
    assert tbinding["subjects"][0]["namespace"] == "finnexus-system"
    roles = watched_roles(objs, "Role")
    bindings = watched_roles(objs, "RoleBinding")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["payments", "risk", "trading"]
    for role in roles:
        assert canonical(role["rules"]) == EXPECTED
    for b in bindings:
        assert b["roleRef"]["kind"] == "Role"
        assert b["subjects"][0]["namespace"] == "finnexus-system"
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["payments", "risk", "trading"]


@pytest.mark.parametrize("namespaces", [None, "{trading,payments}"], ids=["cluster", "namespaced"])
def test_leader_election_gets_its_lease_only_in_the_operators_namespace(
        namespaces: str | None) -> None:
    base = {"watchNamespaces": namespaces} if namespaces else {}
    assert not lease_role(render(base))  # one replica: no Lease access at all
    objs = render({**base, "replicas": "2", "leaderElection.leaseName": "shard-a"})
    role, binding = sorted(lease_role(objs), key=lambda o: str(o["kind"]))
    assert (role["kind"], binding["kind"]) == ("Role", "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "finnexus-system"
    # equal to LEASE_RULES, with reading and renewing limited to the Lease's own name
    assert canonical([{k: v for k, v in r.items() if k != "resourceNames"}
                      for r in role["rules"]]) == canonical(list(LEASE_RULES))
    named = {v: r.get("resourceNames") for r in role["rules"] for v in r["verbs"]}
    assert named == {"get": ["shard-a"], "patch": ["shard-a"], "create": None}
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": LEASE_ROLE}
    (sa,) = of_kind(objs, "ServiceAccount")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                    "namespace": "finnexus-system"}]


def test_rbac_can_be_left_to_the_user() -> None:
    objs = render({"rbac.create": "false"})
    for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
        assert not of_kind(objs, kind)


def test_comparison_is_sensitive() -> None:
    """A rule with one extra verb is not equal (the canonical form does not hide it)."""
    widened: list[dict[str, Any]] = [dict(r) for r in RULES]
    widened[0] = {**widened[0], "verbs": [*widened[0]["verbs"], "delete"]}
    assert canonical(widened) != EXPECTED
