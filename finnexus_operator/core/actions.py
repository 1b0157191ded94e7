"""Actions plan() asks for. Each is an *ensure*: applying it twice is the same as once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Action",
    "ClearRequest",
    "CreateJob",
    "DeleteJob",
    "EnsureDeployment",
    "EnsureServices",
    "PruneRevisions",
    "RecordRevision",
    "RemoveIngress",
    "RoutePreview",
    "RouteTraffic",
    "ScaleDeployment",
]


@dataclass(frozen=True)
class EnsureDeployment:
    """Deployment <name>-<color> exists with this template (revision-labelled) and replicas."""

    color: str
    revision: str
    template: Mapping[str, Any]
    replicas: int


@dataclass(frozen=True)
class ScaleDeployment:
    """Deployment <name>-<color> has ``replicas`` (its template is left alone)."""

    color: str
    replicas: int


@dataclass(frozen=True)
class EnsureServices:
    """Services <name>-blue and <name>-green exist and select their colour."""


@dataclass(frozen=True)
class RouteTraffic:
    """Production traffic goes to ``color``: active Service <name> and Ingress <name>."""

    color: str


@dataclass(frozen=True)
class RoutePreview:
    """Service <name>-preview selects ``color``."""

    color: str


@dataclass(frozen=True)
class RemoveIngress:
    """No Ingress <name> owned by this resource (``spec.ingress`` was removed)."""


@dataclass(frozen=True)
class ClearRequest:
    """Remove the finnexus.ai/request annotation (the request was acted on)."""

    value: str


@dataclass(frozen=True)
class RecordRevision:
    """ControllerRevision <name>-<revision> holds this promoted template (created once)."""

    revision: str
    template: Mapping[str, Any]


@dataclass(frozen=True)
class PruneRevisions:
    """Only these revisions keep a ControllerRevision (the last promoted ones, newest last)."""

    keep: tuple[str, ...]


@dataclass(frozen=True)
class CreateJob:
    """Hook Job ``name`` exists running ``spec`` (a rendered JobSpec): created once, never
    patched (its name is deterministic, so a second create finds it)."""

    name: str
    revision: str
    hook: str  # preSwitch | postPromotion
    spec: Mapping[str, Any]


@dataclass(frozen=True)
class DeleteJob:
    """Hook Job ``name`` is deleted (propagationPolicy Background: its pods go too)."""

    name: str


Action = (
    EnsureDeployment | ScaleDeployment | EnsureServices | RouteTraffic | RoutePreview
    | RemoveIngress | ClearRequest | RecordRevision | PruneRevisions | CreateJob | DeleteJob
)
