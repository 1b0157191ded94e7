"""Where the API server is and how to authenticate to it: in-cluster or a kubeconfig.

In a pod the service account's token file is used and re-read when it changes (bound
service-account tokens are rotated by the kubelet); the check is a ``stat`` at most every
``TOKEN_CHECK_SECONDS``, off the event loop. Outside a pod the kubeconfig is read once at
start by the ``kubernetes`` package's loader (token, client certificate and key, CA, basic
auth); its result is kept as a plain :class:`ClientConfig`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import kubernetes

from finnexus_operator import __version__

__all__ = ["SERVICE_ACCOUNT", "TOKEN_CHECK_SECONDS", "ClientConfig", "load_api_client",
           "load_config"]

SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_CHECK_SECONDS = 10.0
_USER_AGENT = f"finnexus-operator/{__version__}"


@dataclass
class ClientConfig:
    """The API server's URL and the credentials for it."""

    server: str
    token: str | None = field(default=None, repr=False)  # a secret: never logged
    token_file: str | None = None  # re-read when it changes
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None
    verify: bool = True
    user_agent: str = _USER_AGENT
    _file_token: str | None = field(default=None, repr=False)
    _file_mtime: float | None = None
    _checked: float = -1e9

    @classmethod
    def from_kubernetes(cls, configuration: Any, user_agent: str | None = None
                        ) -> ClientConfig:
        """From a loaded ``kubernetes.client.Configuration``."""
        header = (configuration.get_api_key_with_prefix("BearerToken")
                  or configuration.get_api_key_with_prefix("authorization"))
        token = header.split(" ", 1)[1] if header and " " in header else (header or None)
        return cls(server=str(configuration.host).rstrip("/"), token=token,
                   username=configuration.username or None,
                   password=configuration.password or None,
                   cert_file=configuration.cert_file or None,
                   key_file=configuration.key_file or None,
                   ca_file=configuration.ssl_ca_cert or None,
                   verify=bool(configuration.verify_ssl),
                   user_agent=user_agent or _USER_AGENT)

    def ssl_context(self) -> ssl.SSLContext | bool:
        """The TLS context (reads the CA and key files: call it off the event loop)."""
        if not self.server.startswith("https://"):
            return True  # plain HTTP: aiohttp's default, unused
        if not self.verify:
            return False
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def _read_token_file(self) -> None:
        assert self.token_file is not None
        mtime = os.stat(self.token_file).st_mtime
        if mtime != self._file_mtime:
            with open(self.token_file, encoding="utf-8") as f:
                self._file_token = f.read().strip()
            self._file_mtime = mtime

    async def authorization(self) -> str | None:
        """The Authorization header value (the token file re-read when it changed)."""
        if self.token_file:
            now = time.monotonic()
            if now - self._checked >= TOKEN_CHECK_SECONDS or self._file_token is None:
                self._checked = now
                await asyncio.to_thread(self._read_token_file)
            return f"Bearer {self._file_token}" if self._file_token else None
        if self.token:
            return f"Bearer {self.token}"
        if self.username and self.password is not None:
            raw = f"{self.username}:{self.password}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        return None


def load_config(kubeconfig: str | None = None, user_agent: str = _USER_AGENT) -> ClientConfig:
    """In-cluster config when running in a pod, else ``$KUBECONFIG`` / ``~/.kube/config``."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    if kubeconfig is None and host:
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        host = f"[{host}]" if ":" in host else host
        return ClientConfig(server=f"https://{host}:{port}",
                            token_file=f"{SERVICE_ACCOUNT}/token",
                            ca_file=f"{SERVICE_ACCOUNT}/ca.crt", user_agent=user_agent)
    return ClientConfig.from_kubernetes(load_api_client(kubeconfig).configuration, user_agent)


def load_api_client(kubeconfig: str | None = None, user_agent: str = _USER_AGENT) -> Any:
    """A ``kubernetes`` ApiClient for the same configuration (its loaders, at start only)."""
    configuration = kubernetes.client.Configuration()
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        kubernetes.config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration)
    else:
        path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path, client_configuration=configuration)
    client = kubernetes.client.ApiClient(configuration)
    client.user_agent = user_agent
    return client
