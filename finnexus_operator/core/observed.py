"""What one reconcile pass saw: cluster state, probe results and measurements (plain data)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from finnexus_operator.core.measurement import QueryResult

__all__ = ["DeploymentState", "HealthRound", "JobState", "MetricSample", "Observed"]


@dataclass(frozen=True)
class DeploymentState:
    """One colour's Deployment: the revision its template carries, and its Ready pods."""

    revision: str | None
    replicas: int
    ready: int = 0  # Ready pods (phase Running, Ready=True) carrying this colour and revision
    # UIDs of the pods counted in ``ready``: owned by a ReplicaSet owned by this Deployment and
    # carrying its revision (DESIGN §2.1 rule 4). Health streaks belong to this set of pods.
    pods: frozenset[str] = frozenset()


@dataclass(frozen=True)
class HealthRound:
    """One round of HTTP health checks over every candidate pod."""

    ok: bool
    pods: int
    detail: str = ""  # the first failure, e.g. "pod web-green-x 10.0.0.7:8080/health: HTTP 503"


@dataclass(frozen=True)
class MetricSample:
    """One metric's measurement in one analysis round."""

    name: str
    result: QueryResult
    query: str = ""
    baseline: bool = False  # the stable colour's value at the switch time (relative bounds)


@dataclass(frozen=True)
class JobState:
    """A hook Job this resource owns, as its conditions say (spec.hooks)."""

    name: str
    result: str  # Running | Succeeded | Failed (a Complete or Failed condition with status True)
    message: str = ""  # the last condition's reason and message
    started_at: str | None = None  # status.startTime
    finished_at: str | None = None  # completionTime, or the terminal condition's time
    deadline_seconds: int | None = None  # spec.activeDeadlineSeconds


@dataclass(frozen=True)
class Observed:
    """Everything plan() may look at besides the spec, the status and the clock."""

    namespace: str = ""  # the FinNexusDeployment observed (probes and queries name it)
    name: str = ""
    generation: int = 1
    request: str | None = None
    deployments: Mapping[str, DeploymentState] = field(default_factory=dict)
    active_service_color: str | None = None  # selector of Service <name>; None if absent
    ingress_color: str | None = None  # backend colour of Ingress <name>; None if absent
    ingress_present: bool = False  # an Ingress <name> owned by this resource exists
    # promoted templates by revision, from the ControllerRevisions <name>-<revision> it owns
    revisions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    health: HealthRound | None = None  # probed in this pass (None: not due / not probed)
    metrics: Sequence[MetricSample] | None = None  # measured in this pass (None: not due)
    breach_check: bool = False  # ``metrics`` is a breach check between rounds, not a round
    jobs: Mapping[str, JobState] = field(default_factory=dict)  # owned hook Jobs by name
