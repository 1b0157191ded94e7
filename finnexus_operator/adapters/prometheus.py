"""Prometheus as a metric provider: one instant query over the HTTP API, one number back.

``GET {url}/api/v1/query?query=...[&time=<unix seconds>]`` with aiohttp (``time``: evaluated
at that past instant, e.g. the stable Service before a switch). Every problem (transport,
HTTP, query, shape of the answer) becomes an ``Error`` or ``NoData`` :class:`QueryResult`;
nothing raises.
The answer is read as a stream and never beyond ``max_bytes`` (default 1 MiB), and an answer
with more than ``max_series`` series (default 100) is not decoded further: a broad query is an
``Error``, never a memory spike (DESIGN §2.1 rule 7).
Credentials (a bearer token, a token file re-read at each query so rotated tokens work, or
``user:password@`` in the URL) are never shown by :attr:`PrometheusProvider.url` or ``repr``.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import ssl
from datetime import datetime
from typing import Any

import aiohttp
from yarl import URL

from finnexus_operator import __version__
from finnexus_operator.core.measurement import QueryResult

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_SERIES", "NAN", "NO_SERIES", "PrometheusProvider",
           "display_url", "parse_query_response", "query_params", "too_large",
           "too_many_series"]

_SNIPPET = 200
_USER_AGENT = f"finnexus-operator/{__version__}"
NO_SERIES = "empty vector (no series matched)"
NAN = "NaN (e.g. 0/0: no traffic)"
DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_MAX_SERIES = 100
_CHUNK = 64 * 1024
# Each series of Prometheus's compact JSON starts with one of these; a label (name or value)
# never looks like them (a quote inside a string is escaped), so counting them never
# over-counts. JSON with other spacing or key order counts 0 here and is capped once decoded.
_SERIES_STARTS = (b'[{"metric":', b',{"metric":')


def _size(n: int) -> str:
    """A byte count as people read it: 1 MiB, 64 KiB, 1500 bytes."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"


def too_large(max_bytes: int, status: int = 200) -> str:
    """The detail of an answer over the byte cap (``status``: its HTTP status)."""
    if status != 200:
        return f"HTTP {status} from Prometheus (answer larger than {_size(max_bytes)}, not read)"
    return f"Prometheus answer larger than {_size(max_bytes)} (cap); narrow the query"


def too_many_series(count: int | None, max_series: int) -> str:
    """The detail of an answer over the series cap (``count`` None: only known to be over)."""
    shown = f"{count} series" if count is not None else f"more than {max_series} series"
    return (f"Prometheus answer has {shown} (cap {max_series}); the query must return one "
            "series: aggregate it, e.g. sum(...)")


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET else flat[:_SNIPPET] + "..."


def _read_token(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read().strip()


def _parse_sample(raw: Any) -> QueryResult:
    """One ``[timestamp, "value"]`` pair -> a result."""
    if not isinstance(raw, list) or len(raw) != 2 or not isinstance(raw[1], str):
        return QueryResult.error(f"malformed sample from Prometheus: {_snippet(repr(raw))}")
    text = raw[1]
    try:
        number = float(text)
    except ValueError:
        return QueryResult.error(f"unparsable sample value {text!r} from Prometheus")
    if math.isnan(number):
        return QueryResult.no_data(NAN)
    return QueryResult.value_of(number)


def _labels(series: Any) -> str:
    metric = series.get("metric") if isinstance(series, dict) else None
    if not isinstance(metric, dict):
        return "{}"
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items())) + "}"


def _parse_vector(result: Any, max_series: int | None) -> QueryResult:
    if not isinstance(result, list):
        return QueryResult.error("malformed vector from Prometheus")
    if not result:
        return QueryResult.no_data(NO_SERIES)
    if max_series is not None and len(result) > max_series:
        return QueryResult.error(too_many_series(len(result), max_series))
    if len(result) > 1:
        shown = ", ".join(_labels(s) for s in result[:3]) + (", ..." if len(result) > 3 else "")
        return QueryResult.error(
            f"query returned {len(result)} series; it must return one series: "
            f"aggregate it, e.g. sum(...) (got {shown})"
        )
    series = result[0]
    if not isinstance(series, dict):
        return QueryResult.error("malformed vector from Prometheus")
    if "value" not in series and "histogram" in series:
        return QueryResult.error(
            "query returned a native histogram sample; wrap it, e.g. histogram_quantile(...)"
        )
    return _parse_sample(series.get("value"))


def parse_query_response(body: Any, max_series: int | None = None) -> QueryResult:
    """Interpret a decoded ``/api/v1/query`` answer (HTTP 200 or an error document).

    A vector of more than ``max_series`` series (when given) is an ``Error`` naming the cap.
    """
    if not isinstance(body, dict):
        return QueryResult.error("malformed answer from Prometheus: not a JSON object")
    if body.get("status") != "success":
        kind = body.get("errorType") or "error"
        message = body.get("error") or _snippet(json.dumps(body))
        return QueryResult.error(f"{kind}: {message}")
    data = body.get("data")
    if not isinstance(data, dict):
        return QueryResult.error("malformed answer from Prometheus: no data")
    result_type = data.get("resultType")
    result = data.get("result")
    if result_type == "vector":
        return _parse_vector(result, max_series)
    if result_type == "scalar":
        return _parse_sample(result)
    if result_type == "matrix":
        return QueryResult.error(
            "query returned a range vector (matrix); use an instant query, "
            "e.g. rate(x[1m]) rather than x[1m]"
        )
    if result_type == "string":
        return QueryResult.error("query returned a string; it must return a number")
    return QueryResult.error(f"unknown resultType {result_type!r} from Prometheus")


def query_params(promql: str, at: datetime | None = None) -> dict[str, str]:
    """The ``/api/v1/query`` parameters: the query, and ``time`` (Unix seconds, to the
    millisecond) when it is evaluated at a past instant."""
    params = {"query": promql}
    if at is not None:
        params["time"] = f"{at.timestamp():.3f}"
    return params


def _base_url(parsed: URL) -> tuple[URL, str]:
    """The URL without credentials, query and fragment; and its path prefix ("" for "/")."""
    base = parsed.with_user(None).with_query(None).with_fragment(None)
    prefix = base.path.rstrip("/")
    return base.with_path(prefix), prefix


def display_url(url: str) -> str:
    """A Prometheus URL as :attr:`PrometheusProvider.url` shows it: no credentials, safe to log."""
    return str(_base_url(URL(url.strip()))[0])


def _describe_connect_error(exc: aiohttp.ClientConnectorError) -> str:
    where = f"{exc.host}:{exc.port}"
    os_error = exc.os_error
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return f"TLS error talking to Prometheus at {where}: {exc}"
    if isinstance(os_error, socket.gaierror):
        return f"DNS lookup failed for Prometheus host {exc.host}: {os_error.strerror or os_error}"
    reason = os.strerror(os_error.errno) if os_error.errno else str(os_error)
    return f"cannot connect to Prometheus at {where}: {reason.lower()}"


class PrometheusProvider:
    """Instant queries against one Prometheus (or a compatible API such as Thanos/Mimir)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        token_file: str | None = None,
        ca_file: str | None = None,
        verify_tls: bool = True,
        timeout: float = 5.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_series: int = DEFAULT_MAX_SERIES,
    ) -> None:
        parsed = URL(url.strip())
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("the Prometheus URL must be http(s)://host[:port][/prefix]")
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        if max_bytes < 1 or max_series < 1:
            raise ValueError("max_bytes and max_series must be >= 1")
        if token is not None and token_file is not None:
            raise ValueError("give either token or token_file, not both")
        self._basic = (
            aiohttp.BasicAuth(parsed.user or "", parsed.password or "")
            if parsed.user is not None
            else None
        )
        self._base, prefix = _base_url(parsed)
        self._endpoint = self._base.with_path(prefix + "/api/v1/query")
        self._token = token
        self._token_file = token_file
        self._ca_file = ca_file
        self._verify_tls = verify_tls
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._max_series = max_series
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        """The base URL, without credentials: safe to log."""
        return str(self._base)

    @property
    def timeout(self) -> float:
        """Seconds allowed for one query, connection included."""
        return self._timeout

    @property
    def max_bytes(self) -> int:
        """The most bytes of one answer ever read (decoded); more is an ``Error``."""
        return self._max_bytes

    @property
    def max_series(self) -> int:
        """The most series an answer may carry before it is an ``Error`` without decoding."""
        return self._max_series

    def __repr__(self) -> str:
        auth = "token-file" if self._token_file else "token" if self._token else None
        auth = auth or ("basic" if self._basic else "none")
        return (
            f"PrometheusProvider(url={self.url!r}, auth={auth}, "
            f"verify_tls={self._verify_tls}, timeout={self._timeout}"
            + (f", max_bytes={self._max_bytes}" if self._max_bytes != DEFAULT_MAX_BYTES else "")
            + (f", max_series={self._max_series}"
               if self._max_series != DEFAULT_MAX_SERIES else "")
            + ")"
        )

    def _ssl(self) -> ssl.SSLContext | bool:
        if not self._verify_tls:
            return False
        if self._ca_file:
            return ssl.create_default_context(cafile=self._ca_file)
        return True

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            connector = aiohttp.TCPConnector(ssl=self._ssl(), limit=8)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                headers={"Accept": "application/json", "User-Agent": _USER_AGENT},
            )
            self._session_loop = loop
        return self._session

    def _headers(self) -> dict[str, str]:
        token = _read_token(self._token_file) if self._token_file else self._token
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def query(self, promql: str, at: datetime | None = None) -> QueryResult:
        """Run one instant query, evaluated at ``at`` (None: now, as Prometheus sees it);
        every failure is an ``Error`` result, never an exception."""
        try:
            headers = self._headers()
        except OSError as exc:
            return QueryResult.error(f"cannot read token file {self._token_file}: {exc.strerror}")
        try:
            session = self._get_session()
            async with session.get(
                self._endpoint,
                params=query_params(promql, at),
                headers=headers,
                auth=None if headers else self._basic,
            ) as response:
                raw = await self._read_capped(response)
                if raw is None:
                    response.close()  # drop the connection rather than drain the rest
                    return QueryResult.error(too_large(self._max_bytes, response.status))
                if sum(raw.count(start) for start in _SERIES_STARTS) > self._max_series:
                    return QueryResult.error(too_many_series(None, self._max_series))
                text = raw.decode(response.charset or "utf-8", errors="replace")
                return self._interpret(response.status, response.content_type, text,
                                       self._max_series)
        except (TimeoutError, aiohttp.ServerTimeoutError):
            return QueryResult.error(f"timeout after {self._timeout}s")
        except aiohttp.ClientConnectorError as exc:
            return QueryResult.error(_describe_connect_error(exc))
        except aiohttp.ClientError as exc:
            return QueryResult.error(f"{type(exc).__name__} talking to Prometheus: {exc}")
        except OSError as exc:  # includes ssl.SSLError
            return QueryResult.error(f"{type(exc).__name__} talking to Prometheus: {exc}")

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes | None:
        """The (decompressed) body, or None as soon as it is known to exceed ``max_bytes``.

        A declared ``Content-Length`` over the cap is refused before reading anything; else the
        stream is read in chunks of at most 64 KiB and abandoned at the first byte past the
        cap: no more than ``max_bytes + 1`` bytes are ever held here (aiohttp's own read buffer
        is bounded by its flow control).
        """
        declared = response.content_length
        if (declared is not None and declared > self._max_bytes
                and not response.headers.get("Content-Encoding")):
            return None
        body = bytearray()
        while True:
            chunk = await response.content.read(min(_CHUNK, self._max_bytes + 1 - len(body)))
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > self._max_bytes:
                return None

    @staticmethod
    def _interpret(status: int, content_type: str, text: str,
                   max_series: int | None = None) -> QueryResult:
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = None
        is_error_doc = isinstance(body, dict) and body.get("status") == "error"
        if status >= 500:
            shown = parse_query_response(body).detail if is_error_doc else _snippet(text)
            return QueryResult.error(f"HTTP {status} from Prometheus: {shown}")
        if status != 200 and not is_error_doc:
            return QueryResult.error(f"HTTP {status} from Prometheus: {_snippet(text)}")
        if body is None:
            return QueryResult.error(
                f"non-JSON answer from Prometheus (HTTP {status}, {content_type}): {_snippet(text)}"
            )
        return parse_query_response(body, max_series)

    async def close(self) -> None:
        """Close the HTTP session; a later query opens a new one."""
        session, self._session, self._session_loop = self._session, None, None
        if session is not None and not session.closed:
            await session.close()

    async def __aenter__(self) -> PrometheusProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
