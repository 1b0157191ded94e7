"""The exact Kubernetes permissions the operator's code uses.

This module is the single source of truth for RBAC: the Helm chart's ClusterRole/Role rules
are compared against :data:`RULES` by the packaging tests, and the contract tests record every
API call the real operator makes against the emulator and check it is covered by these rules
(and that every rule here is actually exercised).
"""

from __future__ import annotations

from typing import Final, TypedDict

__all__ = ["LEASE_RULES", "RULES", "TEMPLATE_RULES", "Rule"]


class Rule(TypedDict):
    apiGroups: list[str]
    resources: list[str]
    verbs: list[str]


RULES: Final[list[Rule]] = [
    # The custom resource: kopf lists and watches it (a pass reads its body from that watch,
    # never GETs it); the operator removes the request annotation (patch) and writes status
    # only through the status subresource.
    {"apiGroups": ["finnexus.ai"], "resources": ["finnexusdeployments"],
     "verbs": ["list", "watch", "patch"]},
    {"apiGroups": ["finnexus.ai"], "resources": ["finnexusdeployments/status"],
     "verbs": ["patch"]},
    # Owned objects: listed and watched by label (the informers: a pass reads them from
    # there), so that a hand edit is corrected promptly; created or minimally patched; read
    # (get) only when a create answers 409 for one the cache does not hold (our label removed
    # by hand, or not ours).
    # Deployments and Services are never deleted (garbage collection through
    # ownerReferences does that).
    {"apiGroups": ["apps"], "resources": ["deployments"],
     "verbs": ["get", "create", "patch", "list", "watch"]},
    {"apiGroups": [""], "resources": ["services"],
     "verbs": ["get", "create", "patch", "list", "watch"]},
    # Ingress: also deleted when spec.ingress is removed (only ever one this resource owns).
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"],
     "verbs": ["get", "create", "patch", "delete", "list", "watch"]},
    # Which pods count: pods owned by a ReplicaSet owned by the colour's Deployment. Listed
    # and watched by label (informers), so that a pod change wakes the resource.
    {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["list", "watch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
    # Promoted templates, one ControllerRevision <name>-<revision> each: listed and watched
    # (an informer), created once when a revision is recorded (never patched), read only when
    # a create finds one the cache does not hold, pruned to the last 10.
    {"apiGroups": ["apps"], "resources": ["controllerrevisions"],
     "verbs": ["get", "create", "list", "watch", "delete"]},
    # Hook Jobs <name>-<revision>-<hook>-<i> (spec.hooks): listed and watched (an informer),
    # created once per revision (never patched), read only when a create finds one the cache
    # does not hold, deleted (propagationPolicy Background) ttlSeconds after they end.
    {"apiGroups": ["batch"], "resources": ["jobs"],
     "verbs": ["get", "create", "list", "watch", "delete"]},
    # Events for every phase change and request (kopf posts core/v1 Events).
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
]

# Only with leader election: the shard's Lease (controller.leader, adapters.lease), in the
# operator's own namespace (a Role there, never cluster-wide). Read and renewed by a
# conditional merge patch (the chart limits these two verbs to the Lease's name with
# resourceNames); created once when missing (create cannot be limited by name).
LEASE_RULES: Final[list[Rule]] = [
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "patch"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
]

# Shared SLO templates (FinNexusAnalysisTemplate): cluster-scoped, so always a ClusterRole,
# also in namespaced mode (a Role cannot grant a cluster-scoped kind). Listed and watched by
# the one cluster-scoped informer (adapters.cache); a pass reads them from there, never GETs.
TEMPLATE_RULES: Final[list[Rule]] = [
    {"apiGroups": ["finnexus.ai"], "resources": ["finnexusanalysistemplates"],
     "verbs": ["list", "watch"]},
]
