"""The plugin's own small synchronous Kubernetes client (the ``kubernetes`` package).

It is deliberately not the operator's client (``adapters.kube``): the plugin is a short-lived
command with kubectl's habits. `connect` reads the kubeconfig the way kubectl does
(``--kubeconfig``, else ``$KUBECONFIG``, else ``~/.kube/config``; ``--context``, else the
current context; the context's namespace, else ``default``). Every call returns plain JSON
dicts; every failure is translated at this boundary into the operator's error tree:

    errors.ConfigError     no usable kubeconfig or no such context
    errors.NotFound        404
    errors.ApiUnavailable  the API server cannot be reached (refused, DNS, TLS, timeout) or 5xx
    errors.ApiError        any other answer (403 Forbidden, 401, 422, ...)
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

import urllib3
import yaml
from kubernetes import client as _client
from kubernetes import config as _config
from kubernetes.config.config_exception import ConfigException

from finnexus_operator import constants, errors

__all__ = ["USER_AGENT", "Connection", "PluginClient", "connect", "kubeconfig_path"]

USER_AGENT = "kubectl-finnexus"
REQUEST_TIMEOUT = 10.0  # seconds per API call (connect + read)
Obj = dict[str, Any]
# the kubernetes package is untyped: use it through Any-typed names
k8s: Any = _client
k8s_config: Any = _config


def kubeconfig_path(flag: str | None, env: Mapping[str, str] | None = None) -> str:
    """Which kubeconfig file(s) kubectl would read: the flag, $KUBECONFIG, ~/.kube/config."""
    env = os.environ if env is None else env
    return flag or env.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


@dataclasses.dataclass(frozen=True)
class Connection:
    """A kubeconfig context resolved: where it points and its default namespace."""

    path: str
    context: str
    namespace: str
    server: str


def _resolve(path: str, context: str | None) -> tuple[str, str]:
    """The context to use and its namespace (kubectl's defaulting)."""
    first = path.split(os.pathsep)[0]
    if not any(os.path.exists(p) for p in path.split(os.pathsep) if p):
        raise errors.ConfigError(f"no kubeconfig found at {first} "
                                 "(set --kubeconfig or $KUBECONFIG)")
    try:
        contexts, current = k8s_config.list_kube_config_contexts(config_file=path)
    except (ConfigException, OSError, ValueError, yaml.YAMLError) as exc:
        raise errors.ConfigError(f"kubeconfig {first}: {_first_line(exc)}") from exc
    by_name = {c["name"]: c for c in contexts or []}
    if context is None:
        if not current:
            raise errors.ConfigError(f"kubeconfig {first} has no current-context "
                                     "(use --context)")
        chosen = current
    elif context in by_name:
        chosen = by_name[context]
    else:
        raise errors.ConfigError(f'context "{context}" not found in {first} '
                                 f"(known: {', '.join(sorted(by_name)) or 'none'})")
    namespace = (chosen.get("context") or {}).get("namespace") or "default"
    return str(chosen["name"]), str(namespace)


def connect(kubeconfig: str | None = None, context: str | None = None) -> PluginClient:
    """A client for the context kubectl would use (see the module docstring)."""
    path = kubeconfig_path(kubeconfig)
    name, namespace = _resolve(path, context)
    configuration = k8s.Configuration()
    try:
        k8s_config.load_kube_config(config_file=path, context=name,
                                    client_configuration=configuration, persist_config=False)
    except (ConfigException, OSError, ValueError, yaml.YAMLError) as exc:
        raise errors.ConfigError(f"kubeconfig context {name}: {_first_line(exc)}") from exc
    configuration.retries = False  # one clean error, not three urllib3 warnings
    api = k8s.ApiClient(configuration)
    api.user_agent = USER_AGENT
    return PluginClient(api, Connection(path, name, namespace, configuration.host))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _path(api_version: str, plural: str, namespace: str | None, name: str | None = None) -> str:
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return (base + (f"/namespaces/{namespace}" if namespace else "") + f"/{plural}"
            + (f"/{name}" if name else ""))


class PluginClient:
    """GET, LIST, merge-PATCH and WATCH over raw API paths, as JSON dicts; failures as
    `errors` classes. (Raw paths, not the typed ``CoreV1Api`` & co.: importing those costs
    seconds of start-up, the longest part of a short command.)"""

    def __init__(self, api: Any, connection: Connection) -> None:
        self.api, self.connection = api, connection

    def close(self) -> None:
        self.api.close()

    # -- the resource --
    def _cr(self, namespace: str | None, name: str | None = None) -> str:
        return _path(constants.API_VERSION, constants.PLURAL, namespace, name)

    def get_resource(self, namespace: str, name: str) -> Obj:
        return self.request("GET", self._cr(namespace, name),
                            what=f"finnexusdeployment {namespace}/{name}")

    def list_resources(self, namespace: str | None) -> list[Obj]:
        return list(self.request("GET", self._cr(namespace)).get("items") or [])

    def patch_resource(self, namespace: str, name: str, body: Obj) -> Obj:
        """Merge-patch (RFC 7386) the resource."""
        return self.request("PATCH", self._cr(namespace, name), body=body,
                            content_type="application/merge-patch+json",
                            what=f"finnexusdeployment {namespace}/{name}")

    def watch_resource(self, namespace: str, name: str, resource_version: str,
                       timeout: float) -> Iterator[tuple[str, Obj]]:
        """(type, object) of each change to the resource after ``resource_version``, for at
        most ``timeout`` seconds (the stream then ends; the caller re-reads and watches on).
        An ERROR event (410 Gone: the version is too old) raises `errors.ApiError`."""
        what = f"watch finnexusdeployment {namespace}/{name}"
        seconds = max(1, int(timeout))
        query = [("watch", "true"), ("fieldSelector", f"metadata.name={name}"),
                 ("resourceVersion", resource_version), ("timeoutSeconds", str(seconds)),
                 ("allowWatchBookmarks", "false")]
        response = self._send("GET", self._cr(namespace), query, None, "application/json",
                              (REQUEST_TIMEOUT, seconds + REQUEST_TIMEOUT), what)
        raw = response.response
        try:
            buffer = b""
            for chunk in _translated(what, raw.stream(4096, decode_content=True)):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        raise errors.ApiError(f"{what}: {obj.get('message', 'error')}",
                                              status=obj.get("code"))
                    if (obj.get("metadata") or {}).get("name") == name:
                        yield str(event.get("type")), obj
        finally:
            raw.release_conn()

    # -- what it owns and says --
    def events(self, namespace: str, name: str) -> list[Obj]:
        """The core/v1 Events about the resource (any order)."""
        found = self.request("GET", _path("v1", "events", namespace),
                             [("fieldSelector", f"involvedObject.name={name}")])
        return [e for e in found.get("items") or []
                if (e.get("involvedObject") or {}).get("name") == name
                and (e.get("involvedObject") or {}).get("kind") in (None, constants.KIND)]

    def deployment(self, namespace: str, name: str) -> Obj | None:
        return self._optional(_path("apps/v1", "deployments", namespace, name))

    def ingress(self, namespace: str, name: str) -> Obj | None:
        return self._optional(_path("networking.k8s.io/v1", "ingresses", namespace, name))

    def pods(self, namespace: str, selector: str) -> list[Obj]:
        found = self.request("GET", _path("v1", "pods", namespace),
                             [("labelSelector", selector)])
        return list(found.get("items") or [])

    def deployments_everywhere(self, selector: str) -> list[Obj]:
        found = self.request("GET", _path("apps/v1", "deployments", None),
                             [("labelSelector", selector)])
        return list(found.get("items") or [])

    # -- plumbing --
    def _optional(self, path: str) -> Obj | None:
        try:
            return self.request("GET", path)
        except errors.NotFound:
            return None

    def request(self, method: str, path: str, query: list[tuple[str, str]] | None = None, *,
                body: Any = None, content_type: str = "application/json",
                what: str = "") -> Obj:
        """One API call; the decoded JSON answer."""
        what = what or path
        response = self._send(method, path, query or [], body, content_type, REQUEST_TIMEOUT,
                              what)
        try:
            raw = response.read()
        except BaseException as exc:
            raise _translate(what, self.connection.server, exc) from exc
        if not 200 <= response.status < 300:
            raise _translate(what, self.connection.server, k8s.ApiException(
                status=response.status, reason=response.reason,
                http_resp=response.response))
        try:
            data: Obj = json.loads(raw) if raw else {}
        except ValueError as exc:
            raise errors.ApiUnavailable(f"{what}: the answer is not JSON") from exc
        return data

    def _send(self, method: str, path: str, query: list[tuple[str, str]], body: Any,
              content_type: str, timeout: Any, what: str) -> Any:
        try:
            _, url, headers, data, _ = self.api.param_serialize(
                method=method, resource_path=path, query_params=query,
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                body=body, auth_settings=["BearerToken"])
            response = self.api.call_api(method, url, header_params=headers, body=data,
                                         _request_timeout=timeout)
        except BaseException as exc:
            raise _translate(what, self.connection.server, exc) from exc
        if not 200 <= response.status < 300 and method == "GET" and "watch" in dict(query):
            raise _translate(what, self.connection.server, k8s.ApiException(
                status=response.status, reason=response.reason, http_resp=response.response))
        return response


def _translated(what: str, stream: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from stream
    except GeneratorExit:
        raise
    except Exception as exc:
        raise _translate(what, "", exc) from exc


def _translate(what: str, server: str, exc: BaseException) -> BaseException:
    """The operator's error class for a foreign exception (others pass through unchanged)."""
    if isinstance(exc, k8s.ApiException):
        status = int(exc.status or 0)
        message = _status_message(exc) or str(exc.reason or "")
        if status == 404:
            return errors.NotFound(f"{what} not found", status=404, reason="NotFound")
        if status == 403:
            return errors.ApiError(f"forbidden: {message}", status=403, reason="Forbidden")
        if status == 401:
            return errors.ApiError(f"unauthorized: {message}", status=401,
                                   reason="Unauthorized")
        if status == 0 or status >= 500:
            return errors.ApiUnavailable(f"API server error on {what}: HTTP {status} {message}",
                                         status=status)
        return errors.ApiError(f"{what}: HTTP {status}: {message}", status=status)
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        where = f" at {server}" if server else ""
        return errors.ApiUnavailable(f"cannot reach the Kubernetes API server{where} "
                                     f"({_reason(exc)})")
    return exc


def _status_message(exc: Any) -> str:
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return ""
    return str(body.get("message") or "") if isinstance(body, dict) else ""


def _reason(exc: BaseException) -> str:
    """The innermost cause, in a few words (not urllib3's whole retry chain)."""
    inner: BaseException = exc
    while True:
        nxt = getattr(inner, "reason", None)
        if not isinstance(nxt, BaseException) or nxt is inner:
            break
        inner = nxt
    text = _first_line(inner)
    for marker in ("Connection refused", "timed out", "Name or service not known",
                   "No route to host", "certificate verify failed"):
        if marker.lower() in text.lower():
            return marker.lower() if marker != "Connection refused" else "connection refused"
    return text[:160]
