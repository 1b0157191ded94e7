"""``spec`` of a FinNexusDeployment (DESIGN.md §2).

These models are the single source of truth: ``finnexus_operator.crd`` generates the CRD's
``openAPIV3Schema`` from them (descriptions, defaults, bounds, CEL rules), and a check in
``make test`` fails when the committed CRD is not what the models generate.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from finnexus_operator.models.hooks import HooksSpec
from finnexus_operator.models.pod_template import container_port_names, container_port_numbers

__all__ = [
    "AnalysisSpec",
    "FinNexusDeploymentSpec",
    "HealthCheckSpec",
    "IngressSpec",
    "MetricSpec",
    "PromotionSpec",
    "RelativeSpec",
    "ServiceSpec",
    "container_port_names",
    "container_port_numbers",
]

PORT_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
METRIC_NAME = r"^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
INGRESS_HOST = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# metadata.name of a FinNexusDeployment: it names Services (<name>, <name>-blue, <name>-green,
# <name>-preview), which are DNS-1035 labels of at most 63 characters.
RESOURCE_NAME = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
DNS_LABEL_MAX = 63
MAX_NAME_LENGTH = DNS_LABEL_MAX - len("-preview")  # 55: the longest derived Service name fits
MAX_REPLICAS = 1000
TemplateName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
MetricName = Annotated[str, Field(min_length=1, max_length=63, pattern=METRIC_NAME)]
IntOrString = Annotated[
    int | str,
    Field(json_schema_extra={"x-kubernetes-int-or-string": True}),
]


def _cel(*rules: tuple[str, str]) -> dict[str, Any]:
    """``x-kubernetes-validations`` for the generated CRD (rule, message)."""
    return {"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}


class _SpecModel(BaseModel):
    # strict: no coercion. The CRD schema types every field, but the operator must not read
    # replicas "3" as 3 or paused "no" as False when a spec reaches it unchecked (an older CRD,
    # an API without schema validation): a wrong type is Invalid, never a guess.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True,
        strict=True,
    )


def _check_port(value: int | str, field: str) -> int | str:
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            raise ValueError(f"{field} {value} is not a port number (1-65535)")
    elif not re.match(PORT_NAME, value) or len(value) > 15:
        raise ValueError(f"{field} {value!r} is not a port name (IANA_SVC_NAME, 1-15 chars)")
    return value


class ServiceSpec(_SpecModel):
    """The Services the operator creates for the app."""

    port: int = Field(80, ge=1, le=65535, description="Port the Services expose.")
    target_port: IntOrString = Field(
        "http",
        description="Container port the Services forward to: a port name or number.",
    )

    @field_validator("target_port")
    @classmethod
    def _target_port(cls, v: int | str) -> int | str:
        return _check_port(v, "targetPort")


class IngressSpec(_SpecModel):
    """When set, the operator owns Ingress <name> and flips its backend on each switch."""

    host: str = Field(
        min_length=1, max_length=253, pattern=INGRESS_HOST,
        description="Host name the Ingress serves: a DNS name, optionally '*.'-prefixed.",
    )
    path: str = Field("/", pattern=r"^/", description="HTTP path of the Ingress rule.")
    path_type: Literal["Prefix", "Exact", "ImplementationSpecific"] = Field(
        "Prefix", description="pathType of the Ingress rule."
    )
    class_name: str | None = Field(
        None, max_length=253, pattern=DNS_SUBDOMAIN,
        description="ingressClassName of the Ingress.",
    )
    tls_secret_name: str | None = Field(
        None, max_length=253, pattern=DNS_SUBDOMAIN,
        description="Secret with the TLS certificate for host; enables TLS when set.",
    )
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations copied onto the Ingress."
    )


class HealthCheckSpec(_SpecModel):
    """HTTP health checks of every candidate pod before it sees production traffic."""

    path: str = Field("/health", pattern=r"^/", description="Path probed with GET on each pod.")
    port: IntOrString | None = Field(
        None,
        description="Pod port probed: a container port name or number. "
        "Default: service.targetPort.",
    )
    interval_seconds: int = Field(5, ge=1, le=3600, description="Seconds between probe rounds.")
    timeout_seconds: int = Field(2, ge=1, le=60, description="Timeout of one probe.")
    success_threshold: int = Field(
        3, ge=1, le=100,
        description="Consecutive rounds in which every candidate pod answered 2xx before the "
        "candidate is considered healthy.",
    )
    failure_threshold: int = Field(
        3, ge=1, le=100,
        description="Consecutive failed rounds after which the candidate is rejected.",
    )

    @field_validator("port")
    @classmethod
    def _port(cls, v: int | str | None) -> int | str | None:
        return None if v is None else _check_port(v, "healthCheck.port")


class RelativeSpec(_SpecModel):
    """An upper bound relative to the stable revision as it served before the switch: the
    same query with {{service}}, {{color}} and {{revision}} set to the stable colour's,
    evaluated at the time of the switch (the baseline)."""

    model_config = ConfigDict(
        json_schema_extra=_cel(
            ("has(self.maxIncrease) != has(self.maxRatio)",
             "relative needs exactly one of maxIncrease or maxRatio"),
        )
    )

    max_increase: float | None = Field(
        None, ge=0, le=1000, allow_inf_nan=False,
        description="candidate <= baseline * (1 + maxIncrease); 0.2 allows 20 % more.",
    )
    max_ratio: float | None = Field(
        None, ge=0, le=1000, allow_inf_nan=False,
        description="candidate <= baseline * maxRatio.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> RelativeSpec:
        if (self.max_increase is None) == (self.max_ratio is None):
            raise ValueError("relative needs exactly one of maxIncrease or maxRatio")
        return self

    def limit(self, baseline: float) -> float:
        """The highest value a candidate may have against ``baseline``."""
        if self.max_ratio is not None:
            return baseline * self.max_ratio
        return baseline * (1.0 + (self.max_increase or 0.0))


class MetricSpec(_SpecModel):
    """One Prometheus query that must return exactly one number within [min, max] and, with
    ``relative``, no more than the stable revision's value at the switch allows."""

    model_config = ConfigDict(
        json_schema_extra=_cel(
            ("has(self.min) || has(self.max) || has(self.relative)",
             "a metric needs min, max or relative"),
            ("!has(self.min) || !has(self.max) || self.min <= self.max",
             "min must be less than or equal to max"),
        )
    )

    name: str = Field(
        min_length=1, max_length=63, pattern=METRIC_NAME,
        description="Name of the metric, shown in status and messages.",
    )
    query: str = Field(
        min_length=1, max_length=4096, pattern=r"\S",
        description="PromQL instant query returning one series. Placeholders: {{namespace}}, "
        "{{name}}, {{color}}, {{revision}}, {{service}} (the candidate's), {{stableColor}}, "
        "{{stableService}}.",
    )
    min: float | None = Field(None, allow_inf_nan=False, description="Inclusive lower bound.")
    max: float | None = Field(None, allow_inf_nan=False, description="Inclusive upper bound.")
    relative: RelativeSpec | None = Field(None, description=RelativeSpec.__doc__)

    @model_validator(mode="after")
    def _bounds(self) -> MetricSpec:
        if self.min is None and self.max is None and self.relative is None:
            raise ValueError("a metric needs min, max or relative")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class AnalysisSpec(_SpecModel):
    """Prometheus gate after the traffic switch; absent -> promote right after the switch."""

    model_config = ConfigDict(
        json_schema_extra=_cel(
            ("(has(self.metrics) && size(self.metrics) > 0) || "
             "(has(self.templates) && size(self.templates) > 0)",
             "an analysis needs metrics or templates (spec.analysis.metrics is empty)"),
        )
    )

    interval_seconds: int = Field(
        30, ge=1, le=3600,
        description="Seconds between the measurement rounds that count toward checks.",
    )
    breach_check_seconds: int = Field(
        5, ge=1, le=3600,
        description="Seconds between breach checks: re-measurements between rounds in which "
        "a Fail counts like a failed round (and rolls back at once past failureLimit); "
        "NoData and Error there never count. No breach checks when it is not less than "
        "intervalSeconds.",
    )
    checks: int = Field(10, ge=1, le=1000, description="Passing rounds needed to promote.")
    failure_limit: int = Field(
        0, ge=0, le=1000, description="Failed measurements tolerated per metric."
    )
    no_data_limit: int = Field(
        3, ge=0, le=1000,
        description="Consecutive empty or NaN results tolerated per metric.",
    )
    error_limit: int = Field(
        3, ge=0, le=1000, description="Consecutive query errors tolerated per metric."
    )
    metrics: list[MetricSpec] = Field(
        default_factory=list, max_length=20, description="The queries measured every round "
        "and breach check (merged with those of the templates).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    # -- shared SLO templates (issue 11 item 2; merged by core/slo.py) --
    templates: list[TemplateName] = Field(
        default_factory=list, max_length=10,
        description="Names of cluster-scoped FinNexusAnalysisTemplates whose metrics are "
        "merged with metrics: a metric of the same name may only tighten a template's bounds.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    drop_metrics: list[MetricName] = Field(
        default_factory=list, max_length=20,
        description="Names of template metrics with required: false this resource does not "
        "measure (a required one is Invalid).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )

    @model_validator(mode="after")
    def _some_metric(self) -> AnalysisSpec:
        if not self.metrics and not self.templates:
            raise ValueError("an analysis needs metrics or templates (spec.analysis.metrics is "
                             "empty)")
        return self

    @field_validator("metrics")
    @classmethod
    def _unique(cls, v: list[MetricSpec]) -> list[MetricSpec]:
        names = [m.name for m in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"metric names must be unique; repeated: {', '.join(dupes)}")
        return v

    @property
    def breach_check_period(self) -> float | None:
        """Seconds between breach checks; None when there is no check between two rounds."""
        period = self.breach_check_seconds
        return float(period) if period < self.interval_seconds else None


class PromotionSpec(_SpecModel):
    """How a healthy candidate is promoted."""

    auto: bool = Field(
        True,
        description="false: stop in AwaitingPromotion until a 'promote' request "
        "(annotation finnexus.ai/request: promote).",
    )
    scale_down_delay_seconds: int = Field(
        30, ge=0, le=86400,
        description="Seconds the old colour keeps running after promotion (instant undo).",
    )


class FinNexusDeploymentSpec(_SpecModel):
    """A stateless HTTP service released blue-green by the FinNexus operator."""

    replicas: int = Field(
        1, ge=1, le=MAX_REPLICAS,
        description=f"Pods per colour (at most {MAX_REPLICAS}: a bound on what one resource "
        "can make the operator create and probe).",
    )
    template: dict[str, Any] = Field(
        description="A full PodTemplateSpec. Its containers name the port service.targetPort "
        "(default 'http'). A change is a new revision.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    service: ServiceSpec = Field(default_factory=ServiceSpec, description=ServiceSpec.__doc__)
    ingress: IngressSpec | None = Field(None, description=IngressSpec.__doc__)
    health_check: HealthCheckSpec = Field(
        default_factory=HealthCheckSpec, description=HealthCheckSpec.__doc__
    )
    analysis: AnalysisSpec | None = Field(None, description=AnalysisSpec.__doc__)
    promotion: PromotionSpec = Field(
        default_factory=PromotionSpec, description=PromotionSpec.__doc__
    )
    progress_deadline_seconds: int = Field(
        600, ge=1, le=86400,
        description="Seconds the candidate has to become Ready and healthy before it is rejected.",
    )
    paused: bool = Field(False, description="Freezes progress; never suppresses a rollback.")
    # spec.hooks (issue 11 item 1): Jobs that gate the switch and follow the promotion
    hooks: HooksSpec | None = Field(None, description=HooksSpec.__doc__)

    @field_validator("template")
    @classmethod
    def _template(cls, v: dict[str, Any]) -> dict[str, Any]:
        meta = v.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise ValueError("template.metadata must be an object (ObjectMeta)")
        labels = (meta or {}).get("labels")
        if labels is not None and not (isinstance(labels, dict) and all(
                isinstance(k, str) and isinstance(x, str) for k, x in labels.items())):
            raise ValueError("template.metadata.labels must map strings to strings")
        spec = v.get("spec")
        if not isinstance(spec, dict):
            raise ValueError("template.spec is required (a PodSpec)")
        containers = spec.get("containers")
        if not isinstance(containers, list) or not containers:
            raise ValueError("template.spec.containers must list at least one container")
        for i, c in enumerate(containers):
            if not isinstance(c, dict) or not c.get("name") or not c.get("image"):
                raise ValueError(f"template.spec.containers[{i}] needs a name and an image")
            ports = c.get("ports")
            if ports is not None and not (isinstance(ports, list) and all(
                    isinstance(p, dict) for p in ports)):
                raise ValueError(f"template.spec.containers[{i}].ports must be a list of "
                                 "ContainerPorts")
            for j, p in enumerate(ports or []):
                number = p.get("containerPort")
                if isinstance(number, bool) or not isinstance(number, int) or not (
                        1 <= number <= 65535):
                    raise ValueError(f"template.spec.containers[{i}].ports[{j}].containerPort "
                                     f"{number!r} is not a port number (1-65535)")
        return v

    @model_validator(mode="after")
    def _ports_declared(self) -> FinNexusDeploymentSpec:
        names = container_port_names(self.template)
        for field, port in (
            ("service.targetPort", self.service.target_port),
            ("healthCheck.port", self.health_check.port),
        ):
            if isinstance(port, str) and port not in names:
                raise ValueError(
                    f"{field} {port!r} is not a port name declared by any container of the "
                    f"template (declared: {', '.join(sorted(names)) or 'none'})"
                )
        # Health probes go only to ports the pods declare: a numeric health port must be a
        # containerPort of some container (a Service's numeric targetPort need not be, but it
        # is the health port when healthCheck.port is unset).
        numbers = container_port_numbers(self.template)
        port = self.health_port
        if isinstance(port, int) and port not in numbers:
            field = "healthCheck.port" if self.health_check.port is not None else (
                "service.targetPort")
            why = "" if field == "healthCheck.port" else (
                " (it is the health check port while healthCheck.port is unset)")
            raise ValueError(
                f"{field} {port} is not a containerPort of any container of the template{why} "
                f"(declared: {', '.join(map(str, sorted(numbers))) or 'none'})"
            )
        return self

    @property
    def health_port(self) -> int | str:
        """The pod port the health checks probe."""
        return self.health_check.port if self.health_check.port is not None else (
            self.service.target_port
        )

