"""Pydantic models of the FinNexusDeployment resource: the single source of truth for the CRD."""

from finnexus_operator.models.spec import (
    AnalysisSpec,
    FinNexusDeploymentSpec,
    HealthCheckSpec,
    IngressSpec,
    MetricSpec,
    PromotionSpec,
    ServiceSpec,
)

__all__ = [
    "AnalysisSpec",
    "FinNexusDeploymentSpec",
    "HealthCheckSpec",
    "IngressSpec",
    "MetricSpec",
    "PromotionSpec",
    "ServiceSpec",
]
