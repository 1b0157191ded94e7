"""``spec.hooks`` and ``status.hooks``: the Jobs that gate a release (DESIGN.md §2.3).

``preSwitch`` Jobs run in order after the candidate's health checks pass and before traffic
moves (a failure rejects the candidate); ``postPromotion`` Jobs run in order after the
promotion (a failure marks the resource Degraded and never moves traffic). Each Job is named
``<name>-<revision>-<hook>-<i>`` (``preswitch`` / ``postpromotion``) and created once.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

__all__ = ["HOOK_NAMES", "RESTART_POLICIES", "HookRun", "HookSpec", "HooksSpec", "HooksStatus",
           "check_job_spec"]

RESTART_POLICIES = ("Never", "OnFailure")
HOOK_NAMES = {"preSwitch": "preswitch", "postPromotion": "postpromotion"}  # in Job names
MAX_HOOKS = 10
MAX_TTL_SECONDS = 7 * 86400


def check_job_spec(v: Any) -> dict[str, Any]:
    """A JobSpec with a pod template that has containers (each a name and an image) and a
    restartPolicy of Never or OnFailure (absent: Never). Raises ValueError naming the field."""
    if not isinstance(v, dict):
        raise ValueError("template must be an object (a JobSpec)")
    pod = v.get("template")
    if not isinstance(pod, dict) or not isinstance(pod.get("spec"), dict):
        raise ValueError("template.template.spec is required (the Job's PodSpec)")
    containers = pod["spec"].get("containers")
    if not isinstance(containers, list) or not containers:
        raise ValueError("template.template.spec.containers must list at least one container")
    for i, c in enumerate(containers):
        if not isinstance(c, dict) or not c.get("name") or not c.get("image"):
            raise ValueError(f"template.template.spec.containers[{i}] needs a name and an image")
    policy = pod["spec"].get("restartPolicy", "Never")
    if policy not in RESTART_POLICIES:
        raise ValueError(f"template.template.spec.restartPolicy {policy!r} must be Never or "
                         "OnFailure")
    deadline = v.get("activeDeadlineSeconds")
    if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, int)
                                 or deadline < 1):
        raise ValueError(f"template.activeDeadlineSeconds {deadline!r} must be a positive "
                         "integer")
    return v


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid",
                              frozen=True, strict=True)


class HookSpec(_Model):
    """One hook: a Job run in the resource's namespace, owned by it."""

    template: dict[str, Any] = Field(
        description="A JobSpec (template.spec.containers required; restartPolicy Never or "
        "OnFailure, default Never). {{previewService}}, {{revision}} and {{color}} are "
        "rendered in the containers' env values and args.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )

    @field_validator("template")
    @classmethod
    def _template(cls, v: dict[str, Any]) -> dict[str, Any]:
        return check_job_spec(v)


class HooksSpec(_Model):
    """Jobs that gate the release: preSwitch before traffic moves, postPromotion after."""

    pre_switch: list[HookSpec] = Field(
        default_factory=list, max_length=MAX_HOOKS,
        description="Run in order after the health checks pass, before traffic moves; a Job "
        "that fails (or exceeds its activeDeadlineSeconds) rejects the candidate.",
    )
    post_promotion: list[HookSpec] = Field(
        default_factory=list, max_length=MAX_HOOKS,
        description="Run in order after the promotion; a failure marks Degraded (condition and "
        "Warning Event) and never moves traffic.",
    )
    ttl_seconds: int = Field(
        3600, ge=0, le=MAX_TTL_SECONDS,
        description="Seconds a finished hook Job is kept before it is deleted.",
    )


# -- status -------------------------------------------------------------------------------
class _StatusModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class HookRun(_StatusModel):
    """One hook Job of the revision: Running, Succeeded or Failed."""

    name: str = Field(description="The Job (<name>-<revision>-<hook>-<i>).")
    hook: str = Field(description="preSwitch or postPromotion.")
    result: str = Field(description="Running, Succeeded or Failed.")
    message: str = Field("", description="The Job's last condition message.")
    finished_at: str | None = Field(None, description="When the Job ended.")


class HooksStatus(_StatusModel):
    """The hook Jobs of one revision (the candidate's, then the promoted one's)."""

    revision: str = Field(description="The revision the Jobs belong to.")
    post_promotion: bool = Field(
        False, description="The postPromotion hooks are due (the revision was promoted by a "
        "rollout; not by an undo or a revert).",
    )
    runs: list[HookRun] = Field(default_factory=list, description="Jobs started, in order.")
