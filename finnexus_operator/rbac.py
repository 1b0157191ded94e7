"""The exact Kubernetes permissions the operator's code uses.

This module is the single source of truth for RBAC: the Helm chart's ClusterRole/Role rules
are compared against :data:`RULES` by the packaging tests, and the contract tests record every
API call the real operator makes against the emulator and check it is covered by these rules
(and that every rule here is actually exercised).
"""

from __future__ import annotations

from typing import Final, TypedDict

__all__ = ["PEERING_RULES", "RULES", "Rule"]


class Rule(TypedDict):
    apiGroups: list[str]
    resources: list[str]
    verbs: list[str]


RULES: Final[list[Rule]] = [
    # The custom resource: kopf lists and watches it; the operator removes the request
    # annotation (patch) and writes status only through the status subresource.
    {"apiGroups": ["finnexus.ai"], "resources": ["finnexusdeployments"],
     "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": ["finnexus.ai"], "resources": ["finnexusdeployments/status"],
     "verbs": ["patch"]},
    # Owned objects: ensure-style (read, then create or minimal patch); Deployments and
    # Services are never deleted (garbage collection through ownerReferences does that).
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "create", "patch"]},
    {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "create", "patch"]},
    # Ingress: also deleted when spec.ingress is removed (only ever one this resource owns).
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"],
     "verbs": ["get", "create", "patch", "delete"]},
    # Health checks: list the candidate's pods (by label selector) to learn their IPs.
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
    # Events for every phase change and request (kopf posts core/v1 Events).
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
]

# Only with leader election (more than one replica): kopf's peering objects.
PEERING_RULES: Final[list[Rule]] = [
    {"apiGroups": ["kopf.dev"], "resources": ["kopfpeerings", "clusterkopfpeerings"],
     "verbs": ["get", "list", "watch", "patch"]},
]
