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
- `per_call_policies`: an optional hook sees every logical call (method, URL) for metrics; and
  `WriteGuardPolicy` refuses any write (PUT, PATCH, POST, DELETE) whose URL the HTTP stack would
  normalise to another path (`/subnets/..` is the VNet's URL to `requests`), and any write to another
  resource than the one the caller declared with `writing_to(resource_id)` (`cloud.arm` declares every
  write it makes).
- Credentials: every ARM access token the credential hands out, the static sandbox token and the
  Databricks credentials read from Secrets are registered with `cloud.redact`, so no text the operator
  shows can carry them. The Databricks credentials go only to a Databricks account host
  (`DATABRICKS_ACCOUNT_HOSTS`) or one the operator admin allowed (`--allow-databricks-host`), never to a
  host a CR names alone.
- One `requests` session for every management client of the context, keeping up to `ARM_CONNECTIONS`
  connections per host: every thread that may call at once (kopf's workers, the timer's threads, the
  run-command fan-out) keeps its connection to ARM. With requests' default of 10, the 11th caller's
  connection was discarded after each call ("Connection pool is full") and the next call paid a new TLS
  handshake.
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
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from urllib3.util import parse_url

from transit_operator.cloud.errors import HostNotAllowed, RefusedWrite, sdk_errors
from transit_operator.cloud.redact import RedactingCredential, register_secret
from transit_operator.plan.ids import same_id

PUBLIC_ARM_URL = "https://management.azure.com"
ARM_TOKEN_ENV = "TRANSIT_ARM_TOKEN"  # the environment half of `run --arm-token`
ARM_SCOPE = "https://management.azure.com/.default"
ARM_CONNECTIONS = 32  # kept per host; more than the threads that call at once (module docstring)

# The Databricks account consoles of the Azure clouds databricks-sdk knows (databricks/sdk/environments.py:
# DNS zones `.azuredatabricks.net` public, `.databricks.azure.us` US Government, `.databricks.azure.cn`
# China; the account console is `accounts.` in each). Credentials are sent to these, or to a host the
# operator admin allowed with `--allow-databricks-host`; never to a host a CR names alone (a link-local
# metadata address, localhost, anyone's server).
DATABRICKS_ACCOUNT_HOSTS = frozenset(
    {"accounts.azuredatabricks.net", "accounts.databricks.azure.us", "accounts.databricks.azure.cn"}
)

CallHook = Callable[[str, str], None]
"""Called with (HTTP method, URL) for every logical cloud call (before azure-core's retries)."""
ResponseHook = Callable[[str, str, int], None]
"""Called with (HTTP method, URL, status code) for every ARM HTTP response, each retry included."""


class StaticTokenCredential:
    """A bearer token that never changes (the sandbox's). Implements azure-core's `TokenCredential`."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)

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


# The resource the current thread means to write to (`writing_to`); read by `WriteGuardPolicy`.
_WRITE_TARGET: ContextVar[str | None] = ContextVar("transit_write_target", default=None)
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


@contextmanager
def writing_to(resource_id: str) -> Iterator[None]:
    """Declare the one resource the writes inside the block are for (`WriteGuardPolicy` checks it)."""
    token = _WRITE_TARGET.set(resource_id)
    try:
        yield
    finally:
        _WRITE_TARGET.reset(token)


class WriteGuardPolicy(SansIOHTTPPolicy[Any, Any]):
    """Refuses a write that would reach another resource than the one meant, before it is sent.

    The path the HTTP stack sends is the *normalised* one (`requests` uses urllib3's `parse_url`, which
    removes `.` and `..` segments, RFC 3986 section 5.2.4), so a name `..` turns a subnet's URL into its
    VNet's. Refused: any write whose normalised path differs from the path as built, and - when the caller
    declared its target with `writing_to` - any write to another path than that resource id."""

    def on_request(self, request: PipelineRequest[Any]) -> None:
        method = request.http_request.method.upper()
        if method in _READS:
            return
        url = request.http_request.url
        built = urlsplit(url).path
        sent = parse_url(url).path or ""
        if built != sent:
            raise RefusedWrite(f"{method} {built}: the HTTP stack would send it to {sent}; refusing the write")
        target = _WRITE_TARGET.get()
        if target is not None and not same_id(unquote(sent), target):
            raise RefusedWrite(f"{method} {sent} is not a write to {target}; refusing it")


def databricks_host(url: str, allowed: Collection[str] = ()) -> str:
    """`https://host[:port]` of a Databricks account URL, when credentials may be sent there.

    Raises `HostNotAllowed` (naming `spec.databricks.accountHost`) unless the host is a Databricks account
    host (`DATABRICKS_ACCOUNT_HOSTS`, port 443) or in `allowed` (`host` or `host:port`, from the operator's
    `--allow-databricks-host`). IP literals, loopback and link-local addresses are in neither by default."""
    field = "spec.databricks.accountHost"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise HostNotAllowed(f"{url!r} is not a URL: {exc}", field=field) from None
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host or parts.username or parts.password or parts.query or parts.fragment \
            or parts.path not in ("", "/"):
        raise HostNotAllowed(f"{url!r} is not https://HOST[:PORT]", field=field)
    named = f"{host}:{port}" if port is not None else host
    allowed_names = {normalise_allowed_host(a) for a in allowed}
    if (host in DATABRICKS_ACCOUNT_HOSTS and port in (None, 443)) or named in allowed_names:
        return f"https://{named}"
    known = ", ".join(sorted(DATABRICKS_ACCOUNT_HOSTS))
    raise HostNotAllowed(
        f"{named!r} is not a Databricks account host ({known}); the operator sends credentials to another "
        "host only when started with --allow-databricks-host " + named,
        field=field,
    )


def normalise_allowed_host(value: str) -> str:
    """`host` or `host:port`, lower-cased, from a `--allow-databricks-host` value (a URL is accepted too)."""
    text = value.strip().lower()
    if "://" in text:
        parts = urlsplit(text)
        return f"{parts.hostname}:{parts.port}" if parts.port is not None else str(parts.hostname)
    return text.rstrip("/")


class ResponseStatusPolicy(SansIOHTTPPolicy[Any, Any]):
    """Hands every HTTP response's status to `hook`. A per-retry policy: a 429 that azure-core's retry
    policy retries is seen, which is what a throttling alert needs."""

    def __init__(self, hook: ResponseHook) -> None:
        self._hook = hook

    def on_response(self, request: PipelineRequest[Any], response: Any) -> None:
        self._hook(request.http_request.method.upper(), request.http_request.url, response.http_response.status_code)


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
    # Hosts (`host` or `host:port`) besides DATABRICKS_ACCOUNT_HOSTS that credentials may be sent to.
    allowed_databricks_hosts: tuple[str, ...] = ()
    call_hook: CallHook | None = None
    response_hook: ResponseHook | None = None
    # Reads a Kubernetes Secret's data (decoded) by (namespace, name); None or KeyError when it does not
    # exist. The runtime sets it (kubernetes client); tests pass a dict lookup. Values go to SDK clients only.
    read_secret: Callable[[str, str], Mapping[str, str | bytes] | None] | None = None
    calls: Counter[str] = field(default_factory=Counter)  # logical calls by HTTP method, for tests/metrics
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    _session: Any = field(default=None, repr=False)  # requests.Session, built with the first client
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        # Every credential value this context holds or will be handed is kept out of texts (cloud.redact).
        register_secret(self.databricks_token)
        if isinstance(self.credential, StaticTokenCredential):
            register_secret(self.credential.token)
        elif not isinstance(self.credential, RedactingCredential):
            self.credential = RedactingCredential(self.credential)  # type: ignore[assignment]

    # --- construction -------------------------------------------------------------------------------

    @classmethod
    def from_options(cls, args: Any, environ: Mapping[str, str] | None = None) -> CloudContext:
        """From `transit-operator run` flags (`--arm-endpoint`, `--arm-token`, `--ca-bundle`,
        `--databricks-host`, `--allow-databricks-host`, `--time-scale`).

        With `--arm-endpoint` and a static token (`--arm-token`, default `$TRANSIT_ARM_TOKEN`), the token
        is used as is (the sandbox cloud); otherwise azure-identity's `DefaultAzureCredential` (workload
        identity in AKS). `--time-scale` scales the SDK's LRO polling interval with every other delay.
        """
        env = os.environ if environ is None else environ
        arm_url = getattr(args, "arm_endpoint", None) or PUBLIC_ARM_URL
        token = getattr(args, "arm_token", None) or env.get(ARM_TOKEN_ENV)
        credential: TokenCredential
        if token and getattr(args, "arm_endpoint", None):
            credential = StaticTokenCredential(token)
        else:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        scale = float(getattr(args, "time_scale", None) or 1.0)
        return cls(
            credential=credential,
            arm_url=arm_url.rstrip("/"),
            ca_bundle=getattr(args, "ca_bundle", None),
            polling_interval=5.0 * scale,
            databricks_host=getattr(args, "databricks_host", None),
            databricks_token=token if getattr(args, "databricks_host", None) else None,
            allowed_databricks_hosts=tuple(getattr(args, "allow_databricks_host", None) or ()),
        )

    @classmethod
    def for_sandbox(
        cls, arm_url: str, ca_bundle: str, token: str, databricks_url: str | None = None, **kwargs: Any
    ) -> CloudContext:
        """Talk to the sandbox cloud: static token, its CA, short polling interval; the sandbox's Databricks
        URL is an allowed account host (as `--allow-databricks-host` would make it)."""
        kwargs.setdefault("polling_interval", 1.0)
        if databricks_url:
            kwargs["allowed_databricks_hosts"] = (
                *kwargs.get("allowed_databricks_hosts", ()), normalise_allowed_host(databricks_url))
        return cls(
            credential=StaticTokenCredential(token),
            arm_url=arm_url.rstrip("/"),
            ca_bundle=ca_bundle,
            databricks_host=databricks_url,
            databricks_token=token,
            **kwargs,
        )

    # --- Azure management clients -------------------------------------------------------------------

    def _transport(self) -> Any:
        """An azure-core transport on the context's one session (called under `_lock`, by `_cached`)."""
        import requests
        from azure.core.pipeline.transport import RequestsTransport
        from urllib3.util.retry import Retry

        if self._session is None:
            session = requests.Session()
            # as azure-core's own adapter: no retries or redirects below its retry policy
            adapter = requests.adapters.HTTPAdapter(
                pool_maxsize=ARM_CONNECTIONS, max_retries=Retry(total=False, redirect=False, raise_on_status=False))
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            self._session = session
        return RequestsTransport(session=self._session, session_owner=False,
                                 connection_verify=self.ca_bundle or True)

    def _client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "transport": self._transport(),
            "base_url": self.arm_url,
            "polling_interval": self.polling_interval,
            "retry_total": self.retry_total,
            "retry_backoff_max": 30,
            "per_call_policies": [CallCountingPolicy(self.calls, self.call_hook), WriteGuardPolicy()],
        }
        if self.response_hook is not None:
            kwargs["per_retry_policies"] = [ResponseStatusPolicy(self.response_hook)]
        if self.arm_url.rstrip("/") != PUBLIC_ARM_URL:
            kwargs["credential_scopes"] = [ARM_SCOPE]
        return kwargs

    def _cached(self, service: str, subscription_id: str, build: Callable[[], Any]) -> Any:
        key = (service, subscription_id.lower())
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = build()
            return client

    @staticmethod
    def preload() -> None:
        """Import the management SDKs now (seconds of CPU), so that the first pass after a start does not
        pay for them while the objects wait; the clients themselves are still built on first use."""
        import azure.mgmt.compute
        import azure.mgmt.network
        import azure.mgmt.privatedns  # noqa: F401

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

    def databricks(
        self,
        host: str,
        account_id: str,
        secret: Mapping[str, str | bytes] | None,
        *,
        source: str = "the credentials Secret",
    ) -> Any:
        """`databricks.sdk.AccountClient` for an account (cached per host, account and credentials).

        `host` must be a Databricks account host or one the operator allows (`databricks_host()`:
        `HostNotAllowed` otherwise, before anything is sent anywhere). `--databricks-host` then overrides
        it. `secret` is a Secret's data (decoded, or bytes), named `source` in errors: checked by
        `cloud.databricks.credentials_from_secret` (`InvalidCredentials` names the key, never the value)
        and registered with `cloud.redact`. None: the sandbox token when one is configured, else the
        operator's own identity (databricks-sdk's default chain). The CA bundle: see the module docstring.
        """
        from transit_operator.cloud.databricks import build_account_client, credentials_from_secret

        checked = databricks_host(host, self.allowed_databricks_hosts)
        host = (self.databricks_host or checked).rstrip("/")
        credentials: dict[str, str] | None = None
        if secret is not None:
            credentials = credentials_from_secret(secret, source)
        elif self.databricks_token:
            credentials = {"token": self.databricks_token}
        cache_key = repr((host, account_id, sorted((credentials or {}).items())))
        with sdk_errors():  # the TLS trust check talks to the host
            return self._cached(
                "databricks",
                cache_key,
                lambda: build_account_client(host, account_id, credentials, ca_bundle=self.ca_bundle),
            )
