"""The Databricks account side of a transit, through `databricks-sdk`'s `AccountClient` only.

Three account objects make Databricks Serverless reach the transit
(https://learn.microsoft.com/azure/databricks/security/network/serverless-network-security/):

    network connectivity configuration (NCC)   regional; created by name or adopted by id
      └─ private endpoint rule                   one per target resource (our PLS / App Gateway); Databricks
                                                 creates an Azure private endpoint in its own subscription,
                                                 named `endpoint_name`, whose connection we approve
    workspace ──bound to──▶ NCC                  only an NCC of the workspace's own region

`DatabricksAccount` is the client contract, Crossplane style: `observe_*` never writes; `ensure_*` reads,
compares and writes only a difference (so a steady-state pass is reads only); `delete_*` of something
gone is success. Every lookup is by content, not by remembered ids alone, so a restart that lost the
status finds the same objects instead of creating duplicates: the NCC by name and region, the rule by
its target `resource_id` (deactivated rules - deleted ones kept for a day - are ignored).

Every SDK error (`databricks.sdk.errors.DatabricksError` with `error_code`, or a `requests` error) leaves
`DatabricksAccount` as a `cloud.errors.CloudError`, classified there. Ids read from status or from the
API go into URL paths only when they are plain ids (the SDK formats paths with f-strings, unquoted).
Credentials go into the client only: they are checked (`credentials_from_secret`: one line of printable
ASCII, the error names the Secret and the key, never the value), registered with `cloud.redact`, and are
never part of a returned fact, a message or a log line here.

Method names and fields: `databricks/sdk/service/settings.py` (`NetworkConnectivityAPI`,
`NccPrivateEndpointRule`) and `provisioning.py` (`WorkspacesAPI.update(workspace_id, Workspace,
update_mask=)`) of the installed SDK.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import requests
from databricks.sdk import AccountClient
from databricks.sdk import config as sdk_config
from databricks.sdk.config import Config
from databricks.sdk.errors import NotFound
from databricks.sdk.service.provisioning import Workspace
from databricks.sdk.service.settings import (
    CreateNetworkConnectivityConfiguration,
    CreatePrivateEndpointRule,
    NccPrivateEndpointRule,
    NetworkConnectivityConfiguration,
    UpdatePrivateEndpointRule,
)

from transit_operator.cloud.errors import InvalidCredentials, RefusedWrite, sdk_errors
from transit_operator.cloud.redact import register_secret

__all__ = [
    "CREDENTIAL_KEYS",
    "SECRET_KEYS",
    "DatabricksAccount",
    "NccFacts",
    "RuleFacts",
    "WorkspaceFacts",
    "Write",
    "build_account_client",
    "check_tls_trust",
    "credentials_from_secret",
]

log = logging.getLogger(__name__)

# The Secret keys `build_account_client` understands, per auth type (DatabricksSpec.credentialsSecretRef).
CREDENTIAL_KEYS: dict[str, tuple[str, ...]] = {
    "pat": ("token",),
    "azure-client-secret": ("azure_client_id", "azure_client_secret", "azure_tenant_id"),
    "oauth-m2m": ("client_id", "client_secret"),
}

# The keys whose values are secrets (the others are ids): registered with `cloud.redact` when read.
SECRET_KEYS = frozenset({"token", "azure_client_secret", "client_secret"})
# A credential value is one token of printable ASCII: no whitespace (a trailing newline from `echo` into a
# file is the usual accident), no control characters. `requests` refuses such header values and quotes
# them in its error message, which is how a credential would otherwise reach a condition.
_CREDENTIAL_VALUE = re.compile(r"^[\x21-\x7e]+$")
# No credential is longer (Entra ID client secrets are 40 characters, Databricks tokens about 40; an HTTP
# server refuses header lines of 8 KiB and more).
_MAX_CREDENTIAL = 4096
# Ids that go into URL paths (NCC and rule ids are UUIDs; the SDK does not quote path parameters).
_PATH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")

# The SDK retries 429/503 itself for up to `retry_timeout_seconds` (300 s by default, _base_client.py):
# a reconcile worker must not sit that long; the reconciler requeues instead.
RETRY_TIMEOUT_SECONDS = 30
HTTP_TIMEOUT_SECONDS = 30

Write = Literal["none", "created", "updated", "adopted"]


def build_account_client(
    host: str,
    account_id: str,
    credentials: Mapping[str, str] | None,
    *,
    ca_bundle: str | None = None,
) -> AccountClient:
    """An `AccountClient` for `host`/`account_id`.

    `credentials` is the referenced Secret's data (decoded): `token`, or `azure_client_id` +
    `azure_client_secret` + `azure_tenant_id`, or `client_id` + `client_secret`. None: the SDK's default
    chain from the environment (DATABRICKS_*, ARM_*, workload identity federation via `file-oidc`).
    Raises ValueError naming the missing keys (never their values).

    `ca_bundle`: a PEM to trust (`--ca-bundle`). databricks-sdk has no CA setting of its own, and the process
    environment is left alone: the bundle is pinned on this client's `requests` session and on the session
    of the SDK's host-metadata probe in `Config()` (`_pin_trust`). Trust is checked once here
    (`check_tls_trust`), and SSL errors are never retried by this client: the SDK retries them as
    connection errors until its retry timeout, and its host-metadata probe swallows them, so an untrusted
    certificate would otherwise hold a worker for minutes.
    """
    check_tls_trust(host, ca_bundle)
    kwargs: dict[str, Any] = {
        "host": host,
        "account_id": account_id,
        "retry_timeout_seconds": RETRY_TIMEOUT_SECONDS,
        "http_timeout_seconds": HTTP_TIMEOUT_SECONDS,
    }
    if credentials is not None:
        for auth_type, keys in CREDENTIAL_KEYS.items():
            if all(credentials.get(k) for k in keys):
                kwargs["auth_type"] = auth_type
                kwargs.update({k: credentials[k] for k in keys})
                break
        else:
            present = sorted(k for k, v in credentials.items() if v)
            expected = " or ".join("+".join(keys) for keys in CREDENTIAL_KEYS.values())
            raise InvalidCredentials(f"the credentials Secret has keys {present}; expected {expected}")
    token = _PROBE_CA.set(ca_bundle)
    try:
        config = Config(**kwargs)
    finally:
        _PROBE_CA.reset(token)
    client = AccountClient(config=config)
    # Private attributes of the SDK's `_BaseClient`, guarded: an SDK change degrades to the SDK's own trust
    # (the system store or $REQUESTS_CA_BUNDLE) and retries (SSL errors then wait out RETRY_TIMEOUT_SECONDS).
    base = getattr(client.api_client, "_api_client", None)
    session = getattr(base, "_session", None)
    if ca_bundle and isinstance(session, requests.Session):
        _pin_trust(session, ca_bundle)
    sdk_is_retryable = getattr(base, "_is_retryable", None)
    if sdk_is_retryable is not None:
        def is_retryable(err: BaseException) -> str | None:
            if isinstance(err, requests.exceptions.SSLError):
                return None  # an untrusted or wrong certificate does not heal by waiting
            result: str | None = sdk_is_retryable(err)
            return result

        base._is_retryable = is_retryable  # type: ignore[union-attr]
    return client


def credentials_from_secret(secret: Mapping[str, str | bytes], source: str) -> dict[str, str]:
    """The credential keys of a Secret's data (`CREDENTIAL_KEYS`), as text, each value checked.

    Secret values are registered with `cloud.redact` before anything else. `InvalidCredentials` names
    `source` (e.g. `Secret ns/name`) and the key, never the value. Other keys are ignored."""
    known = sorted({key for keys in CREDENTIAL_KEYS.values() for key in keys})
    out: dict[str, str] = {}
    for key in known:
        if key not in secret:
            continue
        raw = secret[key]
        if key in SECRET_KEYS:
            register_secret(raw)
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidCredentials(f"key `{key}` of {source} is not UTF-8 text") from None
        if not raw:
            continue  # an empty key counts as absent (build_account_client names what is missing)
        if len(raw) > _MAX_CREDENTIAL:
            raise InvalidCredentials(f"key `{key}` of {source} is longer than {_MAX_CREDENTIAL} characters")
        if not _CREDENTIAL_VALUE.fullmatch(raw):
            what = "whitespace (a trailing newline?)" if any(c.isspace() for c in raw) else (
                "a control or non-ASCII character")
            raise InvalidCredentials(
                f"key `{key}` of {source} holds {what}; a credential is one line of printable ASCII")
        out[key] = raw
    return out


def _path_id(value: str, what: str) -> str:
    """`value` when it is safe in a URL path (the SDK interpolates it unquoted); RefusedWrite otherwise."""
    if not _PATH_ID.fullmatch(value or ""):
        raise RefusedWrite(f"{what} {value[:80]!r} is not a Databricks id; refusing to use it in a request")
    return value


_F = TypeVar("_F", bound=Callable[..., Any])


def _cloud_errors(method: _F) -> _F:
    """The method's SDK errors leave as `cloud.errors.CloudError` (see the module docstring)."""

    @functools.wraps(method)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with sdk_errors():
            return method(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _pin_trust(session: requests.Session, ca_bundle: str) -> None:
    """`session` trusts `ca_bundle` whatever the environment says. `session.verify` alone is not enough:
    `requests` lets `$REQUESTS_CA_BUNDLE`/`$CURL_CA_BUNDLE` override it (psf/requests#3829), so the bundle
    is also handed in per request, where the environment is not consulted. Proxies from the environment
    still apply."""
    session.verify = ca_bundle
    merge = session.merge_environment_settings

    def merge_environment_settings(url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        return merge(url, proxies, stream, ca_bundle if verify is None or verify is True else verify, cert)

    session.merge_environment_settings = merge_environment_settings  # type: ignore[method-assign]


# The CA bundle for the SDK's host-metadata probe, which `Config()` runs on a `_BaseClient` of its own (from
# `databricks.sdk.config`'s namespace) that no caller can reach: set by `build_account_client` around
# `Config()` only, per thread (a context variable), so concurrent clients with other bundles do not mix.
_PROBE_CA: ContextVar[str | None] = ContextVar("transit_databricks_probe_ca", default=None)


def _install_probe_trust() -> None:
    """Wrap `databricks.sdk.config._BaseClient` once so the probe's session gets `_PROBE_CA` pinned. Guarded:
    an SDK without that name keeps its own probe (then an untrusted probe waits out its retry timeout and
    the SDK falls back to the explicit configuration, as it does for any probe failure)."""
    sdk_base = getattr(sdk_config, "_BaseClient", None)
    if sdk_base is None or getattr(sdk_base, "_transit_probe_trust", False):
        return

    class _ProbeClient(sdk_base):  # type: ignore[misc,valid-type]
        _transit_probe_trust = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            ca_bundle = _PROBE_CA.get()
            session = getattr(self, "_session", None)
            if ca_bundle and isinstance(session, requests.Session):
                _pin_trust(session, ca_bundle)

    setattr(sdk_config, "_BaseClient", _ProbeClient)  # noqa: B010 (a module global of the SDK)


_install_probe_trust()


def check_tls_trust(host: str, ca_bundle: str | None) -> None:
    """One GET of `https://host/.well-known/databricks-config` (public) with the trust the client will use,
    no retries. Raises `requests.exceptions.SSLError` naming the host and the trust store when the
    certificate is not trusted; any other outcome is left to the SDK (it retries unreachable hosts)."""
    if not host.lower().startswith("https://"):
        return
    try:
        requests.get(f"{host.rstrip('/')}/.well-known/databricks-config", verify=ca_bundle or True,
                     timeout=HTTP_TIMEOUT_SECONDS).close()
    except requests.exceptions.SSLError as exc:
        trust = f"the CA bundle {ca_bundle} (--ca-bundle)" if ca_bundle else "the system trust store"
        raise requests.exceptions.SSLError(f"TLS: the certificate of {host} is not trusted by {trust}: {exc}") from exc
    except requests.RequestException:
        pass


@dataclass(frozen=True)
class NccFacts:
    id: str
    name: str
    region: str


@dataclass(frozen=True)
class RuleFacts:
    rule_id: str
    ncc_id: str
    resource_id: str
    group_id: str | None
    domain_names: tuple[str, ...]
    endpoint_name: str | None  # the Azure private endpoint Databricks created: our PLS connection's consumer
    connection_state: str | None  # PENDING, ESTABLISHED, REJECTED, DISCONNECTED, EXPIRED, CREATING, ...
    deactivated: bool
    error_message: str | None


@dataclass(frozen=True)
class WorkspaceFacts:
    workspace_id: int
    region: str | None
    ncc_id: str | None
    status: str | None


def _ncc_facts(ncc: NetworkConnectivityConfiguration) -> NccFacts:
    return NccFacts(id=ncc.network_connectivity_config_id or "", name=ncc.name or "", region=ncc.region or "")


def _rule_facts(rule: NccPrivateEndpointRule) -> RuleFacts:
    state = rule.connection_state.value if rule.connection_state is not None else None
    return RuleFacts(
        rule_id=rule.rule_id or "",
        ncc_id=rule.network_connectivity_config_id or "",
        resource_id=rule.resource_id or "",
        group_id=rule.group_id or None,
        domain_names=tuple(rule.domain_names or ()),
        endpoint_name=rule.endpoint_name or None,
        connection_state=state,
        deactivated=bool(rule.deactivated),
        error_message=rule.error_message or None,
    )


def _same_names(a: Iterable[str], b: Iterable[str]) -> bool:
    return sorted({n.lower() for n in a}) == sorted({n.lower() for n in b})


class DatabricksAccount:
    """Observe/ensure/delete of NCCs, private endpoint rules and workspace bindings in one account."""

    def __init__(self, client: AccountClient) -> None:
        self._client = client

    # --- NCC -------------------------------------------------------------------------------------------
    @_cloud_errors
    def observe_ncc(
        self, *, ncc_id: str | None = None, name: str | None = None, region: str | None = None
    ) -> NccFacts | None:
        """The NCC with this id (one GET), else the one with this name (and region, if given) from the
        list; None if there is none. A 404 on the id is "not there", other errors propagate."""
        api = self._client.network_connectivity
        if ncc_id:
            _path_id(ncc_id, "NCC id")
            try:
                return _ncc_facts(api.get_network_connectivity_configuration(ncc_id))
            except NotFound:
                if name is None:
                    return None
        if name is None:
            return None
        for ncc in api.list_network_connectivity_configurations():
            if ncc.name == name and (region is None or ncc.region == region):
                return _ncc_facts(ncc)
        return None

    @_cloud_errors
    def ensure_ncc(self, *, name: str, region: str, known_id: str | None = None) -> tuple[NccFacts, Write]:
        """Find the NCC named `name` in `region` (by `known_id` first) or create it."""
        found = self.observe_ncc(ncc_id=known_id, name=name, region=region)
        if found is not None and found.name == name and found.region == region:
            return found, "none"
        if found is not None:
            # `known_id` pointed at an NCC with another name/region (spec changed): look up by name.
            found = self.observe_ncc(name=name, region=region)
            if found is not None:
                return found, "none"
        created = self._client.network_connectivity.create_network_connectivity_configuration(
            CreateNetworkConnectivityConfiguration(name=name, region=region)
        )
        log.info("created NCC %s (%s) in %s", name, created.network_connectivity_config_id, region)
        return _ncc_facts(created), "created"

    @_cloud_errors
    def delete_ncc(self, ncc_id: str) -> bool:
        """Delete the NCC; False if it was already gone."""
        try:
            self._client.network_connectivity.delete_network_connectivity_configuration(_path_id(ncc_id, "NCC id"))
        except NotFound:
            return False
        return True

    # --- private endpoint rule ----------------------------------------------------------------------------
    @_cloud_errors
    def list_rules(self, ncc_id: str) -> list[RuleFacts]:
        rules = self._client.network_connectivity.list_private_endpoint_rules(_path_id(ncc_id, "NCC id"))
        return [_rule_facts(r) for r in rules]

    @_cloud_errors
    def observe_rule(self, ncc_id: str, resource_id: str) -> RuleFacts | None:
        """The NCC's live (not deactivated) rule to `resource_id` (ARM ids compare case-insensitively)."""
        return _live_rule_for(self.list_rules(ncc_id), resource_id)

    @_cloud_errors
    def ensure_rule(
        self,
        ncc_id: str,
        *,
        resource_id: str,
        domain_names: Sequence[str],
        group_id: str | None = None,
    ) -> tuple[RuleFacts, Write]:
        """The NCC's rule to `resource_id` with exactly `domain_names`: found (list, one GET) and left alone
        when equal, its domain names replaced (`update_mask=domain_names`) when not, created when absent.

        A rule in a final state (DISCONNECTED, EXPIRED, CREATE_FAILED) is returned as is: it cannot
        recover, and whether to delete and recreate it is the reconciler's decision (`delete_rule`, then
        this again).
        """
        found = self.observe_rule(ncc_id, resource_id)
        if found is None:
            rule = self._client.network_connectivity.create_private_endpoint_rule(
                _path_id(ncc_id, "NCC id"),
                CreatePrivateEndpointRule(
                    resource_id=resource_id, domain_names=list(domain_names) or None, group_id=group_id
                ),
            )
            log.info("created private endpoint rule %s on NCC %s", rule.rule_id, ncc_id)
            return _rule_facts(rule), "created"
        if domain_names and not _same_names(found.domain_names, domain_names):
            rule = self._client.network_connectivity.update_private_endpoint_rule(
                _path_id(ncc_id, "NCC id"),
                _path_id(found.rule_id, "rule id"),
                UpdatePrivateEndpointRule(domain_names=list(domain_names)),
                update_mask="domain_names",
            )
            log.info("updated domain names of private endpoint rule %s", found.rule_id)
            return _rule_facts(rule), "updated"
        return found, "none"

    @_cloud_errors
    def delete_rule(self, ncc_id: str, rule_id: str) -> RuleFacts | None:
        """Delete (PENDING/EXPIRED: at once) or deactivate (others: Databricks deletes it a day later) the
        rule. Returns what Databricks answered, None if the rule or its NCC was already gone."""
        try:
            return _rule_facts(
                self._client.network_connectivity.delete_private_endpoint_rule(
                    _path_id(ncc_id, "NCC id"), _path_id(rule_id, "rule id"))
            )
        except NotFound:
            return None

    # --- workspaces ------------------------------------------------------------------------------------
    @_cloud_errors
    def observe_workspace(self, workspace_id: int) -> WorkspaceFacts:
        ws = self._client.workspaces.get(workspace_id)
        return WorkspaceFacts(
            workspace_id=workspace_id,
            region=ws.location,
            ncc_id=ws.network_connectivity_config_id or None,
            status=ws.workspace_status.value if ws.workspace_status is not None else None,
        )

    @_cloud_errors
    def bind_workspace(self, workspace: WorkspaceFacts, ncc_id: str) -> bool:
        """Attach `ncc_id` to the workspace unless it already is (True when a PATCH was sent). Does not
        wait for the workspace to be RUNNING again (`update` returns a waiter we drop)."""
        if workspace.ncc_id == ncc_id:
            return False
        self._client.workspaces.update(
            workspace.workspace_id,
            Workspace(network_connectivity_config_id=ncc_id),
            update_mask="network_connectivity_config_id",
        )
        log.info("bound workspace %s to NCC %s", workspace.workspace_id, ncc_id)
        return True


def _live_rule_for(rules: Iterable[RuleFacts], resource_id: str) -> RuleFacts | None:
    """The newest live rule to `resource_id`; a deactivated one (deleted, kept for a day) does not count."""
    target = resource_id.lower()
    matching = [r for r in rules if r.resource_id.lower() == target and not r.deactivated]
    return matching[-1] if matching else None
