"""Every name, label, annotation and API coordinate of the contract (DESIGN.md §2), in one place."""

from __future__ import annotations

from typing import Final

__all__ = [
    "ANNOTATION_APPLIED",
    "ANNOTATION_MANAGED_ANNOTATIONS",
    "ANNOTATION_MANAGED_FIELDS",
    "ANNOTATION_REQUEST",
    "API_VERSION",
    "COLORS",
    "CRD_NAME",
    "GROUP",
    "KIND",
    "LABEL_COLOR",
    "LABEL_HOOK",
    "LABEL_MANAGED_BY",
    "LABEL_NAME",
    "LABEL_REVISION",
    "MANAGED_BY",
    "PLURAL",
    "SHORT_NAMES",
    "SINGULAR",
    "TEMPLATE_CRD_NAME",
    "TEMPLATE_KIND",
    "TEMPLATE_PLURAL",
    "TEMPLATE_SHORT_NAMES",
    "TEMPLATE_SINGULAR",
    "VERSION",
]

GROUP: Final = "finnexus.ai"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "FinNexusDeployment"
PLURAL: Final = "finnexusdeployments"
SINGULAR: Final = "finnexusdeployment"
SHORT_NAMES: Final = ("fnd",)
CRD_NAME: Final = f"{PLURAL}.{GROUP}"

# The cluster-scoped shared SLO templates (spec.analysis.templates).
TEMPLATE_KIND: Final = "FinNexusAnalysisTemplate"
TEMPLATE_PLURAL: Final = "finnexusanalysistemplates"
TEMPLATE_SINGULAR: Final = "finnexusanalysistemplate"
TEMPLATE_SHORT_NAMES: Final = ("fnat",)
TEMPLATE_CRD_NAME: Final = f"{TEMPLATE_PLURAL}.{GROUP}"

LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "finnexus-operator"
LABEL_COLOR: Final = "finnexus.ai/color"
LABEL_REVISION: Final = "finnexus.ai/revision"
LABEL_HOOK: Final = "finnexus.ai/hook"  # preSwitch | postPromotion, on hook Jobs

ANNOTATION_REQUEST: Final = "finnexus.ai/request"
# On an owned object: the annotation keys the operator set (comma-separated, sorted), so that
# it removes only its own when they are no longer declared and keeps everybody else's.
ANNOTATION_MANAGED_ANNOTATIONS: Final = "finnexus.ai/managed-annotations"
# On an owned Ingress: the spec fields the operator set at its last write (comma-separated,
# sorted), so that a field no longer declared is removed only if the operator had set it.
ANNOTATION_MANAGED_FIELDS: Final = "finnexus.ai/managed-fields"
# On an owned Deployment: "<declared>.<stored>", hashes of the pod template we last wrote and
# of what the API server stored of it (defaults included), so that a field added by hand is
# told apart from a default.
ANNOTATION_APPLIED: Final = "finnexus.ai/applied"

BLUE: Final = "blue"
GREEN: Final = "green"
COLORS: Final = (BLUE, GREEN)
