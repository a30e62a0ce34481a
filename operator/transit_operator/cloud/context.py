"""CloudContext: who the operator is in the cloud, where the cloud is, and the SDK clients built from that.

One context per process. It holds the Azure credential (azure-identity's `DefaultAzureCredential` in a
cluster: workload identity, managed identity or environment; a static bearer token for the sandbox), the
ARM base URL, the CA bundle, and caches one management client per (service, subscription). Databricks
`AccountClient`s are built per (host, account, credentials) from a Secret's data.

Client settings, and why:
- `retry_total=3`: azure-core retries 408/429/5xx with Retry-After and exponential backoff; a handler
  should not sit in retries for minutes, the reconcile loop requeues instead (cloud.errors).
- `polling_interval`: the SDK default is 30 s. Reconcilers start LROs with `polling=False` and come back
  later, so this only matters to callers that do poll.
- `per_call_policies`: an optional hook sees every logical call (method, URL) for metrics.
- `ca_bundle` (`--ca-bundle`): azure-core gets it per client (`connection_verify`). databricks-sdk has no
  per-client CA option: `cloud.databricks.build_account_client` pins it on the client's `requests`
  session (and its host-metadata probe's), never in the process environment, and fails fast on SSL errors.
  The bundle replaces the system store for `requests`: in a cluster, give a bundle that also holds the
  public roots when the endpoints are public.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy

PUBLIC_ARM_URL = "https://management.azure.com"
ARM_TOKEN_ENV = "TRANSIT_ARM_TOKEN"
ARM_SCOPE = "https://management.azure.com/.default"

CallHook = Callable[[str, str], None]
"""Called with (HTTP method, URL) for every logical cloud call (before azure-core's retries)."""


class StaticTokenCredential:
    """A bearer token that never changes (the sandbox's). Implements azure-core's `TokenCredential`."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)

    def close(self) -> None:
        pass


class CallCountingPolicy(SansIOHTTPPolicy[Any, Any]):
    """Counts calls by HTTP method (and hands them to `hook`); per call, so retries are not counted."""

    def __init__(self, counts: Counter[str], hook: CallHook | None = None) -> None:
        self._counts = counts
        self._hook = hook
        self._lock = threading.Lock()

    def on_request(self, request: PipelineRequest[Any]) -> None:
        method = request.http_request.method.upper()
        with self._lock:
            self._counts[method] += 1
        if self._hook is not None:
            self._hook(method, request.http_request.url)


@dataclass
class CloudContext:
    """Credentials, endpoints and SDK clients. Thread-safe: kopf runs sync handlers in a thread pool."""

    credential: TokenCredential
    arm_url: str = PUBLIC_ARM_URL
    ca_bundle: str | None = None
    polling_interval: float = 5.0
    retry_total: int = 3
    databricks_host: str | None = None  # overrides every CR's account host (sandbox)
    databricks_token: str | None = None  # used when a CR names no credentials Secret (sandbox)
    call_hook: CallHook | None = None
    # Reads a Kubernetes Secret's data (decoded) by (namespace, name); None or KeyError when it does not
    # exist. The runtime sets it (kubernetes client); tests pass a dict lookup. Values go to SDK clients only.
    read_secret: Callable[[str, str], Mapping[str, str | bytes] | None] | None = None
    calls: Counter[str] = field(default_factory=Counter)  # logical calls by HTTP method, for tests/metrics
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # --- construction -------------------------------------------------------------------------------

    @classmethod
    def from_options(cls, args: Any, environ: Mapping[str, str] | None = None) -> CloudContext:
        """From `transit-operator run` flags (`--arm-endpoint`, `--ca-bundle`, `--databricks-host`).

        With `--arm-endpoint` and `$TRANSIT_ARM_TOKEN` set, the token is used as is (the sandbox);
        otherwise azure-identity's `DefaultAzureCredential` (workload identity in AKS).
        """
        env = os.environ if environ is None else environ
        arm_url = getattr(args, "arm_endpoint", None) or PUBLIC_ARM_URL
        token = env.get(ARM_TOKEN_ENV)
        credential: TokenCredential
        if token and getattr(args, "arm_endpoint", None):
            credential = StaticTokenCredential(token)
        else:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        return cls(
            credential=credential,
            arm_url=arm_url.rstrip("/"),
            ca_bundle=getattr(args, "ca_bundle", None),
            databricks_host=getattr(args, "databricks_host", None),
            databricks_token=token if getattr(args, "databricks_host", None) else None,
        )

    @classmethod
    def for_sandbox(
        cls, arm_url: str, ca_bundle: str, token: str, databricks_url: str | None = None, **kwargs: Any
    ) -> CloudContext:
        """Talk to the sandbox cloud: static token, its CA, short polling interval."""
        kwargs.setdefault("polling_interval", 1.0)
        return cls(
            credential=StaticTokenCredential(token),
            arm_url=arm_url.rstrip("/"),
            ca_bundle=ca_bundle,
            databricks_host=databricks_url,
            databricks_token=token,
            **kwargs,
        )

    # --- Azure management clients -------------------------------------------------------------------

    def _client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "base_url": self.arm_url,
            "polling_interval": self.polling_interval,
            "retry_total": self.retry_total,
            "retry_backoff_max": 30,
            "per_call_policies": [CallCountingPolicy(self.calls, self.call_hook)],
        }
        if self.arm_url.rstrip("/") != PUBLIC_ARM_URL:
            kwargs["credential_scopes"] = [ARM_SCOPE]
        if self.ca_bundle:
            kwargs["connection_verify"] = self.ca_bundle
        return kwargs

    def _cached(self, service: str, subscription_id: str, build: Callable[[], Any]) -> Any:
        key = (service, subscription_id.lower())
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = build()
            return client

    def network(self, subscription_id: str) -> Any:
        """`azure.mgmt.network.NetworkManagementClient` for a subscription (cached)."""
        from azure.mgmt.network import NetworkManagementClient

        return self._cached(
            "network",
            subscription_id,
            lambda: NetworkManagementClient(self.credential, subscription_id, **self._client_kwargs()),
        )

    def privatedns(self, subscription_id: str) -> Any:
        """`azure.mgmt.privatedns.PrivateDnsManagementClient` for a subscription (cached)."""
        from azure.mgmt.privatedns import PrivateDnsManagementClient

        return self._cached(
            "privatedns",
            subscription_id,
            lambda: PrivateDnsManagementClient(self.credential, subscription_id, **self._client_kwargs()),
        )

    def compute(self, subscription_id: str) -> Any:
        """`azure.mgmt.compute.ComputeManagementClient` for a subscription (cached)."""
        from azure.mgmt.compute import ComputeManagementClient

        return self._cached(
            "compute",
            subscription_id,
            lambda: ComputeManagementClient(self.credential, subscription_id, **self._client_kwargs()),
        )

    def client(self, service: str, subscription_id: str) -> Any:
        """The client of one service: `network`, `privatedns` or `compute`."""
        builders: dict[str, Callable[[str], Any]] = {
            "network": self.network,
            "privatedns": self.privatedns,
            "compute": self.compute,
        }
        return builders[service](subscription_id)

    # --- Databricks ---------------------------------------------------------------------------------

    def databricks(self, host: str, account_id: str, secret: Mapping[str, str | bytes] | None) -> Any:
        """`databricks.sdk.AccountClient` for an account (cached per host, account and credentials).

        `secret` is a Secret's data (decoded, or bytes): see `cloud.databricks.build_account_client`. None:
        the sandbox token when one is configured, else the operator's own identity (databricks-sdk's
        default chain). `--databricks-host` overrides `host`. The CA bundle: see the module docstring.
        """
        from transit_operator.cloud.databricks import build_account_client

        host = (self.databricks_host or host).rstrip("/")
        credentials: dict[str, str] | None = None
        if secret is not None:
            credentials = {k: v.decode() if isinstance(v, bytes) else v for k, v in secret.items()}
        elif self.databricks_token:
            credentials = {"token": self.databricks_token}
        cache_key = repr((host, account_id, sorted((credentials or {}).items())))
        return self._cached(
            "databricks",
            cache_key,
            lambda: build_account_client(host, account_id, credentials, ca_bundle=self.ca_bundle),
        )
