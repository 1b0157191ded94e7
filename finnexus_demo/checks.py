"""The story itself: apply each release in turn, check what happened, report and summarise.

`Story.run` applies v1..v4 to the emulated API, waits (through the `Monitor`) for the operator
to decide each one, and records a `CheckResult` per expected result: v1 Stable, v2 rolled back on
its error rate, v3 held for a manual promotion, promoted with ``kubectl finnexus promote`` (after
``kubectl finnexus get``), gated by ``kubectl finnexus status --watch`` (exit 0) and the old
colour scaled to zero after the delay, v4 rejected by its health checks with traffic never
moving, and production traffic always on a full colour.
`Story.summary` prints ``status.history`` and the requests each release served;
`Story.report` prints the expected outcomes and says whether all of them were observed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime

from finnexus_demo.monitor import Monitor, RouteWatch, Timeline, ingress_color
from finnexus_demo.plugin import Plugin, Running
from finnexus_demo.releases import NAME, NAMESPACE, RELEASES, DemoSettings, Obj, Release
from finnexus_demo.traffic import Traffic
from finnexus_kit.apiserver import ApiServer, path_for
from finnexus_kit.apps import behaviour_of
from finnexus_kit.prometheus import PrometheusServer
from finnexus_operator import constants

__all__ = ["EXPECTED_OUTCOMES", "CheckResult", "Story"]

EXPECTED_OUTCOMES = 10  # the expect() calls of Story.run


@dataclasses.dataclass
class CheckResult:
    """One expected outcome and whether it was observed."""

    release: str
    what: str
    ok: bool = False
    detail: str = ""


class Story:
    """The four releases, the checks and the summary."""

    def __init__(
        self,
        settings: DemoSettings,
        api: ApiServer,
        monitor: Monitor,
        traffic: Traffic,
        ingress: RouteWatch,
        service: RouteWatch,
        prometheus: PrometheusServer,
        clock: Timeline,
        plugin: Plugin,
    ) -> None:
        self.s, self.api, self.m, self.traffic = settings, api, monitor, traffic
        self.ingress, self.service = ingress, service
        self.prometheus, self.clock, self.plugin = prometheus, clock, plugin
        self.outcomes: list[CheckResult] = []
        self.cr_path = path_for(constants.API_VERSION, constants.PLURAL, NAMESPACE, NAME)

    def expect(self, label: str, what: str, ok: bool, detail: str = "") -> bool:
        self.outcomes.append(CheckResult(label, what, ok, detail))
        mark = "ok " if ok else "MISSING"
        self.clock.say("check", f"[{mark}] {label}: {what}" + (f" ({detail})" if detail else ""))
        return ok

    def apply(self, release: Release) -> None:
        self.clock.banner(
            f"{release.label}: image demo/{NAME}:{release.label}, "
            f"{behaviour_of(release.template()).describe()}; revision "
            f"{release.revision}; expected: {release.expectation}"
        )
        if self.api.get(self.cr_path) is None:
            body = {
                "apiVersion": constants.API_VERSION,
                "kind": constants.KIND,
                "metadata": {"name": NAME, "namespace": NAMESPACE},
                "spec": self.s.spec(release),
            }
            self.api.create(path_for(constants.API_VERSION, constants.PLURAL, NAMESPACE), body)
            self.clock.say(
                "apply", f"created FinNexusDeployment {NAMESPACE}/{NAME} with {release.label}"
            )
        else:
            self.api.patch(self.cr_path, {"spec": {"template": release.template(),
                                                   "promotion": self.s.promotion(release)}})
            self.clock.say("apply", f"spec.template changed to {release.label}"
                           + (", promotion.auto: false" if release.manual else ""))

    def quiet(self, color: str) -> None:
        """Wait until the colour's previous app has no samples in the rate window any more, so
        a new revision on that colour is measured on its own requests only."""
        query = f'sum(increase(http_requests_total{{service="{NAME}-{color}"}}[6s]))'
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            result = self.prometheus.query_vector(query)
            if result is not None and (not result or float(result[0]["value"][1]) == 0):
                return
            self.m.idle(0.5)

    def run(self) -> None:
        v1, v2, v3, v4 = RELEASES
        timeout = self.s.step_timeout

        # v1: the first revision has nothing to roll back to: deployed, checked, switched.
        self.apply(v1)
        cr = self.m.wait(
            f"{v1.label} to become Stable",
            lambda cr: (
                (cr.get("status") or {}).get("phase") == "Stable"
                and (cr.get("status") or {}).get("stableRevision") == v1.revision
            ),
            timeout,
        )
        blue = cr["status"]["activeColor"]
        self.m.idle(0.5)
        self.expect(
            v1.label,
            "Stable, traffic on it",
            self.ingress.colors_since(0) == {blue},
            f"Ingress -> {blue}",
        )
        self.m.idle(self.s.pause)

        # v2: 5 % errors -> the analysis fails -> rolled back automatically.
        self.prometheus.wait_ready()
        self.clock.say("demo", "Prometheus is scraping (its first samples are in)")
        self.quiet(_other(blue))
        self.apply(v2)
        cr = self.m.wait(f"{v2.label} to be decided", _settled(v2.revision), timeout)
        entry = _history(cr, v2.revision) or {}
        status = cr["status"]
        rolled_back = (
            entry.get("result") == "RolledBack"
            and status.get("phase") == "RolledBack"
            and "error-rate" in entry.get("reason", "")
            and "error-rate" in status.get("message", "")
        )
        counts = self.traffic.counts().get(v2.revision)
        seen = f"{counts.errors} errors in {counts.total} requests" if counts else "no requests"
        self.expect(
            v2.label,
            "RolledBack automatically, the reason names error-rate",
            rolled_back,
            f"{entry.get('result')}: {entry.get('reason')}; it served {seen}",
        )
        self.m.idle(0.5)
        self.expect(
            v2.label,
            "traffic back on the stable colour",
            ingress_color(self._ingress()) == blue and self.m.replicas.get(_other(blue)) == 0,
            f"Ingress -> {ingress_color(self._ingress())}",
        )
        self.m.idle(self.s.pause)

        # v3: good, promotion.auto false -> waits for `kubectl finnexus promote`, then the
        # bake; `kubectl finnexus status --watch` is the CI gate; the old colour goes to 0.
        self.quiet(_other(blue))
        self.apply(v3)
        cr = self.m.wait(f"{v3.label} to await its promotion", _awaiting(v3.revision), timeout)
        promoted, gate = manual_promotion(self.plugin, timeout)
        self.expect(v3.label, "waited in AwaitingPromotion; `kubectl finnexus promote` accepted",
                    promoted == 0, f"exit {promoted}")
        cr = self.m.wait(f"{v3.label} to be decided", _settled(v3.revision), timeout)
        self.expect(v3.label, "`kubectl finnexus status --watch` exited 0 on Stable",
                    gate.finish(timeout) == 0, gate.lines[-1] if gate.lines else "")
        entry = _history(cr, v3.revision) or {}
        green = entry.get("color") or _other(blue)
        old_replicas = self.m.replicas.get(blue, 0)
        self.expect(
            v3.label,
            "Promoted after its bake",
            entry.get("result") == "Promoted"
            and cr["status"].get("activeColor") == green
            and ingress_color(self._ingress()) == green,
            f"{entry.get('result')}: {entry.get('reason')}",
        )
        self.m.wait(
            f"{blue} to be scaled to 0",
            lambda _: self.m.replicas.get(blue) == 0,
            self.s.scale_down_delay + 15,
        )
        finished = _parse(entry.get("finishedAt"))
        delay = time.time() - finished if finished else -1.0
        self.expect(
            v3.label,
            f"old colour {blue} scaled to 0 after the delay",
            old_replicas > 0 and delay >= self.s.scale_down_delay - 0.05,
            f"{delay:.1f}s after the promotion, scaleDownDelaySeconds {self.s.scale_down_delay}",
        )
        self.m.idle(self.s.pause)

        # v4: /health fails -> rejected before the switch; the Ingress never moves.
        self.quiet(blue)
        since = self.clock.now()
        self.apply(v4)
        cr = self.m.wait(f"{v4.label} to be decided", _settled(v4.revision), timeout)
        entry = _history(cr, v4.revision) or {}
        self.expect(
            v4.label,
            "rejected by its health checks",
            entry.get("result") == "RolledBack"
            and "health" in entry.get("reason", "")
            and cr["status"].get("rejectedRevision") == v4.revision,
            f"{entry.get('result')}: {entry.get('reason')}",
        )
        self.m.wait(
            f"{v4.label}'s colour to be scaled to 0",
            lambda _: self.m.replicas.get(blue) == 0,
            timeout,
        )
        self.m.idle(0.5)
        ingress_seen = self.ingress.colors_since(since)
        service_seen = self.service.colors_since(since)
        served = self.traffic.counts().get(v4.revision)
        self.expect(
            v4.label,
            "traffic never moved to it",
            ingress_seen == {green} and service_seen == {green} and not served,
            f"Ingress watch saw {sorted(map(str, ingress_seen))}, active Service "
            f"{sorted(map(str, service_seen))}, requests served by {v4.label}: "
            f"{served.total if served else 0}",
        )
        thin = self.m.thin_traffic
        self.expect(
            "all",
            f"production traffic always on a colour with all {self.s.replicas} replicas",
            not thin,
            f"{len(thin)} times, first at {thin[0]}" if thin else "",
        )

    def _ingress(self) -> Obj | None:
        return self.api.get(path_for("networking.k8s.io/v1", "ingresses", NAMESPACE, NAME))

    def summary(self) -> None:
        history = self.m.status.get("history") or []
        rows = [("release", "revision", "colour", "result", "reason")]
        rows += [
            (
                self.m.labels.get(h.get("revision", ""), "?"),
                h.get("revision", ""),
                h.get("color", ""),
                h.get("result", ""),
                h.get("reason", ""),
            )
            for h in history
        ]
        widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
        self.clock.plain("\nSummary (status.history):")
        for row in rows:
            cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)]
            self.clock.plain("  " + "  ".join([*cells, str(row[4])]))
        counts = self.traffic.counts()
        self.clock.plain("\nRequests served through the Ingress, per release:")
        for release in RELEASES:
            n = counts.get(release.revision)
            text = (
                f"{n.total} requests, {n.errors} answered 5xx, {n.failed} unanswered"
                if n
                else "none"
            )
            self.clock.plain(f"  {release.label}: {text}")

    def report(self, failure: str | None) -> bool:
        """Print the expected outcomes; True when every one was observed and none is missing."""
        missing = [o for o in self.outcomes if not o.ok]
        self.clock.plain("\nExpected outcomes:")
        for o in self.outcomes:
            self.clock.plain(
                f"  [{'ok' if o.ok else 'MISSING'}] {o.release}: {o.what}"
                + (f" -- {o.detail}" if o.detail else "")
            )
        if failure:
            self.clock.plain(f"  [MISSING] the story stopped early: {failure}")
        expected = EXPECTED_OUTCOMES
        if not failure and len(self.outcomes) != expected:
            self.clock.plain(f"  [MISSING] {expected - len(self.outcomes)} checks did not run")
        return not missing and not failure and len(self.outcomes) == expected


def _history(cr: Obj, revision: str) -> Obj | None:
    entries = [
        h for h in (cr.get("status") or {}).get("history") or [] if h.get("revision") == revision
    ]
    return entries[-1] if entries else None


def _awaiting(revision: str) -> Callable[[Obj], bool]:
    def check(cr: Obj) -> bool:
        status = cr.get("status") or {}
        return (status.get("phase") == "AwaitingPromotion"
                and status.get("candidateRevision") == revision)

    return check


def manual_promotion(plugin: Plugin, timeout: float) -> tuple[int, Running]:
    """Look (``get``), promote by hand, and start the CI gate (``status --watch``): the
    promote's exit code and the running gate (finished once the release is decided)."""
    plugin.run("get", NAME, timeout=timeout)
    code = plugin.run("promote", NAME, timeout=timeout)
    return code, plugin.start("status", NAME, "--watch", "--timeout", f"{int(timeout)}s")


def _settled(revision: str) -> Callable[[Obj], bool]:
    def check(cr: Obj) -> bool:
        status = cr.get("status") or {}
        return (
            _history(cr, revision) is not None
            and not status.get("candidateColor")
            and status.get("phase") in ("Stable", "RolledBack", "Failed")
        )

    return check


def _other(color: str) -> str:
    return constants.GREEN if color == constants.BLUE else constants.BLUE


def _parse(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC).timestamp()
    except ValueError:
        return None
