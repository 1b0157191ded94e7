"""HTTP health checks of the candidate's pods: ``GET http://<podIP>:<port><path>``.

:meth:`HealthProber.run` executes one :class:`~finnexus_operator.core.probes.HealthProbe`
the core asked for and reports a :class:`~finnexus_operator.core.observed.HealthRound`.
The observation hands the prober only the pods that count (:func:`counted_pods`: owned by a
ReplicaSet owned by the colour's Deployment, DESIGN §2.1 rule 4), and of those only pods that
carry the candidate's name, colour and revision labels (:func:`pod_matches`) are probed, only
at their own IP (parsed as an IP address: never a host name), on a port the
pod itself declares. Every probe has a timeout; all probes of a round run concurrently, so a
hanging pod costs ``timeoutSeconds`` once and never blocks other objects.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from finnexus_operator import constants
from finnexus_operator.core.observed import HealthRound
from finnexus_operator.core.probes import HealthProbe

__all__ = ["HealthProber", "counted_pods", "is_ready", "pod_matches", "pod_port"]


def pod_matches(pod: Mapping[str, Any], name: str, color: str, revision: str | None) -> bool:
    """The pod carries the resource's name, colour and revision labels (the one pod predicate).

    A ``revision`` of None matches only pods without a revision label.
    """
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return (labels.get(constants.LABEL_NAME) == name and labels.get(constants.LABEL_COLOR) == color
            and labels.get(constants.LABEL_REVISION) == revision)


def _owned_by(obj: Mapping[str, Any], kind: str, uid: str | None) -> bool:
    """``obj`` carries an ownerReference of ``kind`` to ``uid``."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return bool(uid) and any(r.get("kind") == kind and r.get("uid") == uid for r in refs)


def counted_pods(deployment: Mapping[str, Any], replicasets: Sequence[Mapping[str, Any]],
                 pods: Sequence[Mapping[str, Any]], name: str, color: str
                 ) -> list[Mapping[str, Any]]:
    """The pods that count for one colour (DESIGN §2.1 rule 4), Ready or not.

    A pod counts only when it is owned (ownerReference uid) by a ReplicaSet that is owned by
    ``deployment``, and carries the resource's name, the colour and the revision label of the
    Deployment's template: a pod that merely copies the labels is ignored."""
    uid = (deployment.get("metadata") or {}).get("uid")
    template = (deployment.get("spec") or {}).get("template") or {}
    revision = ((template.get("metadata") or {}).get("labels") or {}).get(
        constants.LABEL_REVISION)
    owners = {(rs.get("metadata") or {}).get("uid") for rs in replicasets
              if _owned_by(rs, "Deployment", uid)}
    owners.discard(None)
    return [p for p in pods
            if any(_owned_by(p, "ReplicaSet", rs_uid) for rs_uid in owners)
            and pod_matches(p, name, color, revision)]


def is_ready(pod: Mapping[str, Any]) -> bool:
    """Running, Ready=True, not being deleted, and with a pod IP."""
    status = pod.get("status") or {}
    if (pod.get("metadata") or {}).get("deletionTimestamp") or status.get("phase") != "Running":
        return False
    if not status.get("podIP"):
        return False
    return any(cond.get("type") == "Ready" and cond.get("status") == "True"
               for cond in status.get("conditions") or [])


def pod_port(pod: Mapping[str, Any], port: int | str) -> int | None:
    """The number of ``port`` (a number, or a container port name the pod declares)."""
    if isinstance(port, int):
        return port
    for container in (pod.get("spec") or {}).get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("name") == port and isinstance(declared.get("containerPort"), int):
                return int(declared["containerPort"])
    return None


class HealthProber:
    """Probes pods over HTTP with one shared aiohttp session."""

    def __init__(self, max_concurrent: int = 64) -> None:
        self._session: aiohttp.ClientSession | None = None
        # one bound for the whole operator: N resources probing at once never open more
        # than this many connections (a round waits for a slot rather than failing)
        self._slots = asyncio.Semaphore(max_concurrent)
        self.max_concurrent = max_concurrent
        self.in_flight = self.peak = 0

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, force_close=True),
                trust_env=False,  # never route probes through an HTTP proxy
            )
        return self._session

    async def run(self, probe: HealthProbe, pods: Sequence[Mapping[str, Any]]) -> HealthRound:
        """One round: every Ready candidate pod must answer 2xx; fewer than expected fails."""
        mine = [p for p in pods
                if pod_matches(p, probe.name, probe.color, probe.revision) and is_ready(p)]
        if len(mine) < probe.expected:
            return HealthRound(False, len(mine),
                               f"{len(mine)}/{probe.expected} candidate pods Ready")
        results = await asyncio.gather(
            *(self._bounded(p, probe.port, probe.path, probe.timeout) for p in mine))
        failures = [r for r in results if r]
        if failures:
            return HealthRound(False, len(mine), f"{len(failures)}/{len(mine)} pods failed: "
                               f"{failures[0]}")
        return HealthRound(True, len(mine))

    async def _bounded(self, pod: Mapping[str, Any], port: int | str, path: str,
                       timeout: float) -> str:
        async with self._slots:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            try:
                return await self._probe(pod, port, path, timeout)
            finally:
                self.in_flight -= 1

    async def _probe(self, pod: Mapping[str, Any], port: int | str, path: str,
                     timeout: float) -> str:
        """Empty string on success, else the reason."""
        pod_name = (pod.get("metadata") or {}).get("name", "?")
        raw_ip = str((pod.get("status") or {}).get("podIP") or "")
        try:
            ip = ipaddress.ip_address(raw_ip)
        except ValueError:
            return f"pod {pod_name}: podIP {raw_ip!r} is not an IP address"
        number = pod_port(pod, port)
        if number is None or not 1 <= number <= 65535:
            return f"pod {pod_name}: declares no container port {port!r}"
        host = f"[{ip}]" if ip.version == 6 else str(ip)
        url = f"http://{host}:{number}{path}"
        try:
            async with self._client().get(
                url, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False,
            ) as response:
                if 200 <= response.status < 300:
                    return ""
                return f"pod {pod_name} {ip}:{number}{path}: HTTP {response.status}"
        except TimeoutError:
            return f"pod {pod_name} {ip}:{number}{path}: timeout after {timeout:g}s"
        except aiohttp.ClientError as exc:
            return f"pod {pod_name} {ip}:{number}{path}: {type(exc).__name__}: {exc}"
