"""The demo/test HTTP app: one process (or in-process server) per colour, with real metrics.

``GET /health`` answers 200 ``ok`` or 503; every other path answers 200, or 500 with
probability ``error_ratio``, after sleeping ``latency`` seconds (±20 % with ``jitter``) and
records ``http_requests_total{service,status}`` and
``http_request_duration_seconds{service}`` in its own prometheus-client registry, served on
``GET /metrics``. ``GET /control`` shows and ``POST /control`` changes the behaviour live
(``{"error_ratio": 0.05, "latency": 0.3, "healthy": false, "jitter": true}``, any subset);
``GET /version`` answers the version string.

Run it with ``python -m finnexus_kit.app --port P --service NAME --version V``, or
in-process with :func:`start_app` (tests, the demo).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

__all__ = [
    "BUCKETS",
    "AppHandle",
    "AppSettings",
    "main",
    "make_app",
    "start_app",
]

BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0,
)  # fmt: skip
MAX_LATENCY = 60.0
JITTER = 0.2
_CONTROLLABLE = ("error_ratio", "latency", "healthy", "jitter")


@dataclass
class AppSettings:
    """What the app is and how it behaves; ``set`` changes it live."""

    service: str = "demo"
    version: str = "v1"
    error_ratio: float = 0.0
    latency: float = 0.0
    healthy: bool = True
    jitter: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        self.set()

    def set(self, **changes: Any) -> None:
        """Validate and apply ``error_ratio``/``latency``/``healthy``/``jitter`` changes."""
        unknown = set(changes) - set(_CONTROLLABLE)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        merged = {name: changes.get(name, getattr(self, name)) for name in _CONTROLLABLE}
        ratio, latency = merged["error_ratio"], merged["latency"]
        for name in ("healthy", "jitter"):
            if not isinstance(merged[name], bool):
                raise ValueError(f"{name} must be true or false")
        for name, value in (("error_ratio", ratio), ("latency", latency)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number")
        if not 0.0 <= ratio <= 1.0:
            raise ValueError("error_ratio must be within [0, 1]")
        if not 0.0 <= latency <= MAX_LATENCY:
            raise ValueError(f"latency must be within [0, {MAX_LATENCY:g}] seconds")
        self.error_ratio, self.latency = float(ratio), float(latency)
        self.healthy, self.jitter = merged["healthy"], merged["jitter"]

    def control_view(self) -> dict[str, Any]:
        """The live settings as ``GET /control`` shows them."""
        return {k: v for k, v in asdict(self).items() if k != "seed"}


@dataclass
class _State:
    settings: AppSettings
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.rng.seed(self.settings.seed)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests served, by status code.",
            ["service", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time spent serving an HTTP request.",
            ["service"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        service = self.settings.service
        for status in ("200", "500"):  # so an error ratio is 0, not an empty vector
            self.requests.labels(service=service, status=status)
        self.duration.labels(service=service)


_STATE = web.AppKey("state", _State)


async def _health(request: web.Request) -> web.Response:
    if request.app[_STATE].settings.healthy:
        return web.Response(text="ok")
    return web.Response(status=503, text="unhealthy")


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[_STATE].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _version(request: web.Request) -> web.Response:
    return web.Response(text=request.app[_STATE].settings.version)


async def _get_control(request: web.Request) -> web.Response:
    return web.json_response(request.app[_STATE].settings.control_view())


async def _post_control(request: web.Request) -> web.Response:
    settings = request.app[_STATE].settings
    try:
        changes = await request.json()
        if not isinstance(changes, dict):
            raise ValueError("the body must be a JSON object")
        settings.set(**changes)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(settings.control_view())


async def _serve(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    settings = state.settings
    started = time.perf_counter()
    delay = settings.latency
    if settings.jitter and delay > 0:
        delay *= state.rng.uniform(1.0 - JITTER, 1.0 + JITTER)
    if delay > 0:
        await asyncio.sleep(delay)
    status = 500 if state.rng.random() < settings.error_ratio else 200
    state.requests.labels(service=settings.service, status=str(status)).inc()
    state.duration.labels(service=settings.service).observe(time.perf_counter() - started)
    text = f"{settings.service} {settings.version}\n" if status == 200 else "injected error\n"
    return web.Response(status=status, text=text, headers={"X-Version": settings.version})


def make_app(settings: AppSettings) -> web.Application:
    """The aiohttp application; ``settings`` is live (``/control`` changes it in place)."""
    app = web.Application()
    app[_STATE] = _State(settings)
    app.router.add_get("/health", _health)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/version", _version)
    app.router.add_get("/control", _get_control)
    app.router.add_post("/control", _post_control)
    app.router.add_route("*", "/{tail:.*}", _serve)
    return app


class AppHandle:
    """A running in-process app: its ``url``, live ``settings``, ``set(...)`` and ``close()``."""

    def __init__(self, runner: web.AppRunner, settings: AppSettings, host: str, port: int):
        self._runner = runner
        self.settings = settings
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """``http://host:port`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def target(self) -> str:
        """``host:port``, as a Prometheus scrape target."""
        return f"{self.host}:{self.port}"

    def set(self, **changes: Any) -> None:
        """Change ``error_ratio``/``latency``/``healthy``/``jitter`` live."""
        self.settings.set(**changes)

    async def close(self) -> None:
        """Stop serving and release the port."""
        await self._runner.cleanup()

    async def __aenter__(self) -> AppHandle:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def start_app(
    host: str = "127.0.0.1", port: int = 0, settings: AppSettings | None = None, **options: Any
) -> AppHandle:
    """Serve an app in the running event loop (``port=0`` picks a free port).

    ``options`` are :class:`AppSettings` fields, used when ``settings`` is not given.
    """
    settings = settings if settings is not None else AppSettings(**options)
    runner = web.AppRunner(make_app(settings), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1] if port == 0 else port
    return AppHandle(runner, settings, host, int(bound))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m finnexus_kit.app", description="Serve one demo app."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--service", required=True, help="value of the `service` metric label")
    parser.add_argument("--version", default="v1", help="version string answered on /version")
    parser.add_argument("--error-ratio", type=float, default=0.0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--jitter", action="store_true", help="vary the latency by ±20%%")
    parser.add_argument("--unhealthy", action="store_true", help="/health answers 503")
    parser.add_argument("--seed", type=int, default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point: serve one app until SIGINT/SIGTERM."""
    parser = _parser()
    args = parser.parse_args(argv)
    names = {f.name for f in fields(AppSettings)}
    try:
        settings = AppSettings(
            **{k: v for k, v in vars(args).items() if k in names}, healthy=not args.unhealthy
        )
    except ValueError as exc:
        parser.error(str(exc))
    web.run_app(make_app(settings), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
