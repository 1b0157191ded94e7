"""Reading a PodTemplateSpec as stored in a resource (untyped JSON): the container ports it
declares. Malformed parts are skipped, never raised on: validation reports them."""

from __future__ import annotations

from typing import Any

__all__ = ["container_port_names", "container_port_numbers"]


def _container_ports(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ContainerPort object of a PodTemplateSpec; anything malformed is skipped."""
    spec = template.get("spec")
    containers = spec.get("containers") if isinstance(spec, dict) else None
    ports: list[dict[str, Any]] = []
    for c in containers if isinstance(containers, list) else []:
        declared = c.get("ports") if isinstance(c, dict) else None
        ports += [p for p in declared if isinstance(p, dict)] if isinstance(declared, list) else []
    return ports


def container_port_names(template: dict[str, Any]) -> set[str]:
    """Names of the container ports a PodTemplateSpec declares."""
    return {p["name"] for p in _container_ports(template) if isinstance(p.get("name"), str)}


def container_port_numbers(template: dict[str, Any]) -> set[int]:
    """Numbers (containerPort) of the container ports a PodTemplateSpec declares."""
    return {p["containerPort"] for p in _container_ports(template)
            if isinstance(p.get("containerPort"), int)
            and not isinstance(p.get("containerPort"), bool)}
