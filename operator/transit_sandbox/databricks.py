"""Emulated Databricks account API: network connectivity configurations (NCCs), their private endpoint
rules, and the workspaces they are bound to.

An NCC is an account-level, regional object. A private endpoint rule in it asks Databricks to create an
Azure private endpoint, in a subscription Databricks owns, to a customer's resource; the resource's owner
approves that connection in Azure and only then does the rule turn ESTABLISHED. A workspace uses an NCC
once it is bound to it, and only an NCC of the workspace's own region.
https://learn.microsoft.com/azure/databricks/security/network/serverless-network-security/

Here the Azure side is the `PrivateLinkBroker` (`links.py`) that the ARM emulator implements: a rule's
create calls `broker.connect`, its `connection_state` is derived from `broker.status` on every read, and
its deletion calls `broker.disconnect`. Nothing here knows the operator; it is driven through the real
`databricks-sdk` `AccountClient`, whose REST paths, JSON field names and `update_mask` handling
(`databricks/sdk/service/settings.py: NetworkConnectivityAPI`, `provisioning.py: WorkspacesAPI`) are
what this module serves.

Accounts: an account console serves many accounts. `DatabricksState` holds several (`add_account`; the
first, `account_id`, is the default for admin calls that name none); every NCC, rule and workspace belongs
to one and is only visible under `/api/2.0/accounts/{its account}/...`. A request naming an account the
state does not hold is `PERMISSION_DENIED`. One bearer token (the sandbox's) is accepted for every
account: the sandbox is one identity that is account admin everywhere it emulates (as an Entra service
principal added to several accounts is), so the operator's credentials need no per-account setup.

Time-based behaviour (a PENDING rule EXPIRES after 14 days, a deactivated rule is deleted one day later)
is applied lazily at the start of each request from `DatabricksState.clock`, which tests replace.
Facts not confirmed in a public source are marked UNCONFIRMED where they are decided.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .connection_faults import cut_answer
from .limits import load_json
from .links import LinkError, PrivateLinkBroker

# Databricks' own subscription where NCC private endpoints live. Made up, fixed: the customer never sees
# more than the endpoint's id on its Private Link Service connection.
DATABRICKS_SUBSCRIPTION_ID = "6b0ab0e7-5e3c-4d3a-9f4e-db0000000001"

DAY = 86400.0

# The name pattern is in the SDK model docstring (`NetworkConnectivityConfiguration.name`).
_NCC_NAME = re.compile(r"^[0-9a-zA-Z_-]{3,30}$")

# Azure public-cloud region names (`az account list-locations`). This checks the region is an Azure
# region name; whether Databricks serverless runs there is not checked.
_AZURE_REGION_NAMES = """
    australiacentral australiacentral2 australiaeast australiasoutheast austriaeast belgiumcentral
    brazilsouth brazilsoutheast canadacentral canadaeast centralindia centralus chilecentral eastasia
    eastus eastus2 francecentral francesouth germanynorth germanywestcentral indonesiacentral
    israelcentral italynorth japaneast japanwest koreacentral koreasouth malaysiawest mexicocentral
    newzealandnorth northcentralus northeurope norwayeast norwaywest polandcentral qatarcentral
    southafricanorth southafricawest southcentralus southeastasia southindia spaincentral swedencentral
    swedensouth switzerlandnorth switzerlandwest uaecentral uaenorth uksouth ukwest westcentralus
    westeurope westindia westus westus2 westus3
"""
AZURE_REGIONS = frozenset(_AZURE_REGION_NAMES.split())

# Special-use and private-use TLDs that cannot be resolved publicly: RFC 2606 (test, example, invalid,
# localhost), RFC 6761/6762 (local), RFC 7686 (onion), RFC 6761 (arpa reverse zones), ICANN 2024
# (internal). UNCONFIRMED which of these Databricks itself rejects in `domain_names`: no public
# Databricks document listing them was found; field reports name `.internal`/`.local`/`.test`
# (docs/platform-rules.md#ncc-rule, #unconfirmed).
RESERVED_TLDS = ("internal", "local", "localhost", "test", "example", "invalid", "onion", "arpa")

_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_ARM_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"(?P<namespace>[^/]+)/(?P<type>[^/]+)/(?P<name>[^/]+)$",
    re.IGNORECASE,
)

# Targets that are customer-managed private link services: the rule carries `domain_names` (Databricks
# answers DNS for them from serverless compute) and no `group_id`; only these rules can be updated
# (`update_private_endpoint_rule` docstring). Application Gateway is treated as customer-managed too, with
# `group_id` = the frontend IP configuration's name (docs/platform-rules.md#appgw-private-link) - UNCONFIRMED
# that Databricks accepts an App Gateway target with `domain_names` (docs/platform-rules.md#unconfirmed).
_PLS = "microsoft.network/privatelinkservices"
_APP_GATEWAY = "microsoft.network/applicationgateways"


class DatabricksError(Exception):
    """An error answer in the account API's shape: `{"error_code": ..., "message": ...}`."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message


def _invalid(message: str) -> DatabricksError:
    return DatabricksError(400, "INVALID_PARAMETER_VALUE", message)


def _not_found(message: str) -> DatabricksError:
    return DatabricksError(404, "RESOURCE_DOES_NOT_EXIST", message)


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: str
    status: int
    time: float = 0.0  # wall clock when it arrived
    duration: float = 0.0  # seconds until it was answered
    injected: bool = False  # answered by an injected fault (`inject_fault`)


@dataclass
class InjectedFault:
    """Answer the next `times` requests matching `method` and `path_pattern` (a regex searched in the
    path) with this error instead of serving them (or, with `reset`, serve them and cut the answer)."""

    method: str
    path_pattern: str
    status: int
    error_code: str
    message: str
    times: int = 1
    retry_after: float | None = None  # seconds, sent as `Retry-After`
    reset: bool = False  # serve the request, then cut the answer mid-body (`connection_faults`)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class DatabricksState:
    """Everything the emulated account holds, plus the in-process admin surface the sandbox uses.

    Serializable with `to_dict()` / `from_dict()` (records only; timings and the clock are settings).
    Thread-safe: the HTTP server and the admin caller may run on different threads.
    """

    def __init__(
        self,
        account_id: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        pending_expiry: float = 14 * DAY,
        deactivated_retention: float = DAY,
        creating_seconds: float = 0.0,
        workspace_update_seconds: float = 0.0,
        established_seconds: float = 0.0,
        max_rules_per_ncc: int = 100,
        page_size: int = 50,
    ) -> None:
        self.account_id = account_id or str(uuid.uuid4())
        self.accounts: list[str] = [self.account_id]  # the first is the default
        self.clock = clock
        # SDK docstring: "If the endpoint was created but not approved in 14 days, it will be EXPIRED."
        self.pending_expiry = pending_expiry
        # SDK docstring of delete_private_endpoint_rule: deactivated, "deleted after one day".
        self.deactivated_retention = deactivated_retention
        # CREATING -> PENDING once the endpoint exists; Azure takes about a minute. 0: PENDING at once.
        self.creating_seconds = creating_seconds
        # PENDING -> ESTABLISHED this long after the owner approved the connection in Azure (about a minute;
        # `transit_sandbox.timing`). 0: ESTABLISHED as soon as it is approved.
        self.established_seconds = established_seconds
        # How long a workspace reports PROVISIONING after an update (the SDK's Wait polls for RUNNING).
        # UNCONFIRMED whether binding an NCC makes a real workspace leave RUNNING at all.
        self.workspace_update_seconds = workspace_update_seconds
        # UNCONFIRMED: Databricks documents per-region quotas, the numbers were not found.
        self.max_rules_per_ncc = max_rules_per_ncc
        self.page_size = page_size
        self.nccs: dict[str, dict[str, Any]] = {}
        self.rules: dict[str, dict[str, Any]] = {}
        self.workspaces: dict[int, dict[str, Any]] = {}
        self.request_log: list[LoggedRequest] = []
        self.faults: list[InjectedFault] = []
        self.lock = threading.RLock()
        self.broker: PrivateLinkBroker | None = None  # set by `create_databricks_app` (out-of-band calls)

    # --- persistence -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "account_id": self.account_id,
                "accounts": list(self.accounts),
                "nccs": self.nccs,
                "rules": self.rules,
                "workspaces": {str(k): v for k, v in self.workspaces.items()},
            }

    @classmethod
    def from_dict(cls, data: dict[str, Any], **settings: Any) -> DatabricksState:
        state = cls(data["account_id"], **settings)
        for account_id in data.get("accounts", []):
            state.add_account(account_id)
        state.nccs = dict(data.get("nccs", {}))
        state.rules = dict(data.get("rules", {}))
        state.workspaces = {int(k): v for k, v in data.get("workspaces", {}).items()}
        return state

    # --- admin -------------------------------------------------------------------------------------------
    def add_account(self, account_id: str) -> None:
        """Serve this account too (idempotent). Account ids are compared case-insensitively, as UUIDs."""
        with self.lock:
            if self.has_account(account_id):
                return
            self.accounts.append(account_id)

    def has_account(self, account_id: str) -> bool:
        with self.lock:
            return account_id.lower() in (a.lower() for a in self.accounts)

    def _account(self, account_id: str | None) -> str:
        """The stored spelling of `account_id` (None: the default account); KeyError when not held."""
        if account_id is None:
            return self.account_id
        for known in self.accounts:
            if known.lower() == account_id.lower():
                return known
        raise KeyError(f"account {account_id} is not in this sandbox (add_account)")

    def add_workspace(
        self,
        workspace_id: int,
        region: str,
        name: str,
        *,
        subscription_id: str = "00000000-0000-0000-0000-000000000000",
        resource_group: str = "databricks-rg",
        account_id: str | None = None,
    ) -> dict[str, Any]:
        """Pre-create a RUNNING Azure workspace in `account_id` (default: the default account; the account
        API cannot create Azure workspaces)."""
        now = _ms(self.clock())
        record = {
            "workspace_id": workspace_id,
            "account_id": self._account(account_id),
            "workspace_name": name,
            "deployment_name": f"adb-{workspace_id}.{workspace_id % 20}",
            "location": region,
            "cloud": "azure",
            "pricing_tier": "PREMIUM",
            "azure_workspace_info": {"subscription_id": subscription_id, "resource_group": resource_group},
            "creation_time": now,
            "workspace_status": "RUNNING",
            "workspace_status_message": "Workspace is running.",
            "busy_until": 0,
        }
        with self.lock:
            self.workspaces[workspace_id] = record
        return dict(record)

    def set_workspace_region(self, workspace_id: int, region: str) -> None:
        with self.lock:
            self.workspaces[workspace_id]["location"] = region

    def set_workspace_status(self, workspace_id: int, status: str, message: str = "") -> None:
        with self.lock:
            self.workspaces[workspace_id].update(workspace_status=status, workspace_status_message=message)

    def inject_fault(
        self, method: str, path_pattern: str, status: int, error_code: str, message: str, times: int = 1, *,
        retry_after: float | None = None, reset: bool = False,
    ) -> InjectedFault:
        """Make matching requests fail, e.g. `inject_fault("POST", "private-endpoint-rules$", 429,
        "REQUEST_LIMIT_EXCEEDED", "slow down", retry_after=2)`."""
        fault = InjectedFault(method.upper(), path_pattern, status, error_code, message, times, retry_after, reset)
        with self.lock:
            self.faults.append(fault)
        return fault

    def requests(self) -> list[LoggedRequest]:
        with self.lock:
            return list(self.request_log)

    def clear_request_log(self) -> None:
        with self.lock:
            self.request_log.clear()

    # --- what the account API's writes do (its handlers and out-of-band callers share these) ------------
    def create_ncc(self, name: str, region: str, account: str) -> dict[str, Any]:
        now = _ms(self.clock())
        ncc: dict[str, Any] = {
            "network_connectivity_config_id": str(uuid.uuid4()),
            "account_id": account,
            "name": name,
            "region": region,
            "creation_time": now,
            "updated_time": now,
        }
        with self.lock:
            self.nccs[ncc["network_connectivity_config_id"]] = ncc
        return ncc

    def delete_rule(self, rule: dict[str, Any], broker: PrivateLinkBroker) -> dict[str, Any]:
        """`delete_private_endpoint_rule`: PENDING or EXPIRED endpoints are deleted at once, others are
        deactivated and deleted after one day (SDK docstring); a CREATE_FAILED rule has no endpoint.
        Returns the rule as answered."""
        with self.lock:
            now = self.clock()
            view = self.rule_view(rule, broker)
            if view["connection_state"] in ("PENDING", "EXPIRED", "CREATE_FAILED", "CREATING"):
                _disconnect(broker, rule)
                del self.rules[rule["rule_id"]]
                return view
            if not rule["deactivated"]:
                rule.update(deactivated=True, deactivated_at=_ms(now), updated_time=_ms(now))
            return self.rule_view(rule, broker)

    def set_domain_names(self, rule: dict[str, Any], names: Any) -> None:
        """`update_private_endpoint_rule` with `update_mask=domain_names`: a full-list replacement."""
        with self.lock:
            if rule["deactivated"]:
                raise _invalid(f"Private endpoint rule {rule['rule_id']} is deactivated")
            rule["domain_names"] = _check_domain_names(names)
            rule["updated_time"] = _ms(self.clock())

    def update_workspace(self, workspace: dict[str, Any], changes: dict[str, Any]) -> None:
        """`WorkspacesAPI.update` of its updatable fields; binding an NCC needs one of the workspace's own
        account and region (the NCC "must be in the same region as the workspace": create docstring)."""
        with self.lock:
            ncc_id = changes.get("network_connectivity_config_id")
            if ncc_id:
                ncc = self.nccs.get(ncc_id)
                if ncc is None or self._owner(ncc) != self._owner(workspace):
                    raise _not_found(f"Network connectivity configuration {ncc_id} does not exist")
                if ncc["region"] != workspace["location"]:
                    raise _invalid(
                        f"Network connectivity configuration {ncc_id} is in region {ncc['region']} but "
                        f"workspace {workspace['workspace_id']} is in region {workspace['location']}; "
                        "they must be in the same region"
                    )
            workspace.update(changes)
            workspace["busy_until"] = self.clock() + self.workspace_update_seconds

    def _owner(self, record: dict[str, Any]) -> str:
        return str(record.get("account_id") or self.account_id)  # records saved before accounts: default

    # --- out of band: someone else (an account admin, another pipeline) calling the account API -------
    def out_of_band_delete_rule(self, rule_id: str) -> None:
        """Someone deletes a private endpoint rule (`delete_rule`)."""
        assert self.broker is not None, "the account API is not served"
        with self.lock:
            self.delete_rule(self.rules[rule_id], self.broker)

    def out_of_band_set_domain_names(self, rule_id: str, names: list[str]) -> None:
        """Someone replaces a rule's domain names (`set_domain_names`)."""
        with self.lock:
            self.set_domain_names(self.rules[rule_id], names)

    def out_of_band_bind(self, workspace_id: int, ncc_id: str) -> None:
        """Someone binds a workspace to an NCC (`update_workspace`)."""
        with self.lock:
            self.update_workspace(self.workspaces[workspace_id], {"network_connectivity_config_id": ncc_id})

    def out_of_band_create_ncc(self, name: str, region: str, account_id: str | None = None) -> str:
        """Someone creates an NCC (`create_ncc`); returns its id."""
        _validate_ncc({"name": name, "region": region})
        return str(self.create_ncc(name, region, self._account(account_id))["network_connectivity_config_id"])

    # --- model -------------------------------------------------------------------------------------------
    def take_fault(self, method: str, path: str) -> InjectedFault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == method and re.search(fault.path_pattern, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def connection_state(self, rule: dict[str, Any], broker: PrivateLinkBroker, now: float) -> str:
        """The rule's state as Databricks reports it, read from the target's connection in Azure."""
        if rule["create_state"] == "CREATE_FAILED":
            return "CREATE_FAILED"
        if rule.get("expired"):
            return "EXPIRED"
        if now - rule["creation_time"] / 1000 < self.creating_seconds:
            return "CREATING"
        status = broker.status(rule["resource_id"], rule["connection_name"])
        if status == "Approved":
            if self.established_seconds > 0:
                since = broker.approved_since(rule["resource_id"], rule["connection_name"])
                if since is not None and since < self.established_seconds:
                    return "PENDING"
            return "ESTABLISHED"
        if status == "Rejected":
            return "REJECTED"
        if status == "Pending":
            return "PENDING"
        return "DISCONNECTED"

    def advance(self, broker: PrivateLinkBroker) -> None:
        """Apply what time did since the last request: expire unapproved rules, purge deactivated ones."""
        now = self.clock()
        with self.lock:
            for rule_id, rule in list(self.rules.items()):
                if rule["deactivated"] and now - rule["deactivated_at"] / 1000 >= self.deactivated_retention:
                    _disconnect(broker, rule)
                    del self.rules[rule_id]
                elif (
                    not rule.get("expired")
                    and now - rule["creation_time"] / 1000 >= self.pending_expiry
                    and self.connection_state(rule, broker, now) == "PENDING"
                ):
                    # EXPIRED is final: the endpoint is gone; delete the rule and create a new one.
                    # UNCONFIRMED that Databricks removes the Azure endpoint at expiry.
                    rule["expired"] = True
                    _disconnect(broker, rule)

    def rule_view(self, rule: dict[str, Any], broker: PrivateLinkBroker) -> dict[str, Any]:
        view = {k: v for k, v in rule.items() if k not in ("create_state", "expired", "connection_name")}
        view["connection_state"] = self.connection_state(rule, broker, self.clock())
        if not view.get("error_message"):
            view.pop("error_message", None)
        if not view["deactivated"]:
            view.pop("deactivated_at")
        for optional in ("group_id", "domain_names"):
            if view.get(optional) is None:
                view.pop(optional)
        return view

    def ncc_view(self, ncc: dict[str, Any], broker: PrivateLinkBroker) -> dict[str, Any]:
        rules = [
            self.rule_view(r, broker)
            for r in self.rules.values()
            if r["network_connectivity_config_id"] == ncc["network_connectivity_config_id"]
        ]
        region = ncc["region"]
        egress: dict[str, Any] = {
            "default_rules": {
                "azure_service_endpoint_rule": {
                    "subnets": [
                        f"/subscriptions/{DATABRICKS_SUBSCRIPTION_ID}/resourceGroups/databricks-ncc-{region}"
                        f"/providers/Microsoft.Network/virtualNetworks/kaas-{region}/subnets/worker-{n}"
                        for n in (1, 2)
                    ],
                    "target_region": region,
                    "target_services": ["AZURE_BLOB_STORAGE"],
                }
            }
        }
        if rules:
            egress["target_rules"] = {"azure_private_endpoint_rules": rules}
        return {**ncc, "egress_config": egress}


STATE_KEY = web.AppKey("databricks_state", DatabricksState)
INJECTED_KEY = web.RequestKey("injected_fault", bool)
BROKER_KEY = web.AppKey("databricks_broker", object)


def _disconnect(broker: PrivateLinkBroker, rule: dict[str, Any]) -> None:
    if rule.get("connection_name"):
        broker.disconnect(rule["resource_id"], rule["connection_name"])


# --- validation ----------------------------------------------------------------------------------------
def _check_domain_name(name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise _invalid(f"Invalid domain name {name!r}")
    host = name.lower()
    # A single leading "*." wildcard label; UNCONFIRMED that Databricks accepts wildcards (some guides
    # advise exact host names), but Confluent broker names need one.
    if host.startswith("*."):
        host = host[2:]
    labels = host.split(".")
    if len(host) > 253 or len(labels) < 2 or not all(_DNS_LABEL.match(label) for label in labels):
        raise _invalid(f"Invalid domain name {name!r}: must be a fully qualified DNS name")
    if labels[-1] in RESERVED_TLDS:
        raise _invalid(
            f"Invalid domain name {name!r}: the top-level domain '.{labels[-1]}' is reserved and "
            f"cannot be used (reserved: {', '.join('.' + t for t in RESERVED_TLDS)})"
        )


def _check_domain_names(names: Any) -> list[str]:
    if not isinstance(names, list) or not names:
        raise _invalid("domain_names must be specified for a private endpoint to a customer-managed resource")
    for name in names:
        _check_domain_name(name)
    return list(names)


def _target_kind(resource_id: Any) -> str:
    if not isinstance(resource_id, str) or not (match := _ARM_ID.match(resource_id)):
        raise _invalid(f"resource_id {resource_id!r} is not a valid Azure resource ID")
    return f"{match['namespace']}/{match['type']}".lower()


def _validate_rule(body: dict[str, Any]) -> tuple[str | None, list[str] | None]:
    kind = _target_kind(body.get("resource_id"))
    group_id = body.get("group_id") or None
    domain_names = body.get("domain_names")
    if kind == _PLS:
        # SDK docstrings: group_id "Not used by customer-managed private endpoint services", and for them
        # "domain_names must be specified"; the Terraform resource lists the two as conflicting.
        if group_id is not None:
            raise _invalid("group_id cannot be specified for a private endpoint to a private link service")
        return None, _check_domain_names(domain_names)
    if not group_id:
        raise _invalid(f"group_id must be specified for a private endpoint to a {kind} resource")
    if kind == _APP_GATEWAY:
        return group_id, _check_domain_names(domain_names) if domain_names else None
    if domain_names:
        raise _invalid("domain_names can only be specified for customer-managed private endpoint services")
    return group_id, None


def _validate_ncc(body: dict[str, Any]) -> tuple[str, str]:
    name, region = body.get("name"), body.get("region")
    if not isinstance(name, str) or not _NCC_NAME.match(name):
        raise _invalid(
            f"Invalid name {name!r}: the name can contain alphanumeric characters, hyphens and "
            "underscores, and its length must be between 3 and 30 characters"
        )
    if region not in AZURE_REGIONS:
        raise _invalid(f"Invalid region {region!r}: not a supported Azure region")
    return name, region


# --- HTTP ----------------------------------------------------------------------------------------------
def _error_response(err: DatabricksError, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error_code": err.error_code, "message": err.message}, status=err.status,
                             headers=headers)


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = load_json(await request.read())
    except ValueError as exc:
        raise DatabricksError(400, "MALFORMED_REQUEST", f"Malformed JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise DatabricksError(400, "MALFORMED_REQUEST", "The request body must be a JSON object")
    return body


def _page(items: list[dict[str, Any]], request: web.Request, size: int) -> dict[str, Any]:
    token = request.query.get("page_token")
    try:
        start = int(base64.urlsafe_b64decode(token).decode()) if token else 0
    except ValueError as exc:
        raise _invalid(f"Invalid page_token {token!r}") from exc
    result: dict[str, Any] = {"items": items[start : start + size]}
    if start + size < len(items):
        result["next_page_token"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return result


def create_databricks_app(
    broker: PrivateLinkBroker,
    *,
    token: str,
    account_id: str | None = None,
    state: DatabricksState | None = None,
) -> web.Application:
    """The account API as an aiohttp application; mount it at a host root or under a prefix."""
    if state is None:
        state = DatabricksState(account_id)
    elif account_id is not None and account_id != state.account_id:
        raise ValueError(f"account_id {account_id!r} differs from the state's {state.account_id!r}")

    @web.middleware
    async def log_requests(request: web.Request, handler: Any) -> web.StreamResponse:
        arrived, started = time.time(), time.monotonic()
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            # Unknown paths and methods answer in the API's error shape too.
            code = "ENDPOINT_NOT_FOUND" if exc.status == 404 else "BAD_REQUEST"
            response = web.json_response({"error_code": code, "message": exc.reason}, status=exc.status)
        with state.lock:
            state.request_log.append(
                LoggedRequest(request.method, request.path, request.query_string, response.status, arrived,
                              time.monotonic() - started, request.get(INJECTED_KEY, False))
            )
        return response

    @web.middleware
    async def serve(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            if not request.path.endswith("/.well-known/databricks-config"):
                # Every API call carries a bearer token; the discovery document is public.
                if request.headers.get("Authorization") != f"Bearer {token}":
                    raise DatabricksError(
                        401, "UNAUTHENTICATED", "Credential was not sent or was of an unsupported type"
                    )
                if (account := request.match_info.get("account_id")) and not state.has_account(account):
                    raise DatabricksError(403, "PERMISSION_DENIED", f"No access to account {account}")
            fault = state.take_fault(request.method, request.path)
            if fault is not None:
                request[INJECTED_KEY] = True
            if fault is not None and not fault.reset:
                headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
                return _error_response(DatabricksError(fault.status, fault.error_code, fault.message), headers)
            state.advance(broker)
            response = await handler(request)
            if fault is not None:
                return await cut_answer(request, response)
            return response
        except DatabricksError as err:
            return _error_response(err)

    app = web.Application(middlewares=[log_requests, serve])
    app[STATE_KEY] = state
    app[BROKER_KEY] = broker
    state.broker = broker

    def account_of(request: web.Request) -> str:
        """The account the path names, as stored (the middleware refused unknown ones)."""
        return state._account(request.match_info["account_id"])

    owner_of = state._owner

    def ncc_or_404(ncc_id: str, account: str) -> dict[str, Any]:
        ncc = state.nccs.get(ncc_id)
        if ncc is None or owner_of(ncc) != account:
            raise _not_found(f"Network connectivity configuration {ncc_id} does not exist")
        return ncc

    def rule_or_404(ncc_id: str, rule_id: str, account: str) -> dict[str, Any]:
        ncc_or_404(ncc_id, account)
        rule = state.rules.get(rule_id)
        if rule is None or rule["network_connectivity_config_id"] != ncc_id:
            raise _not_found(f"Private endpoint rule {rule_id} does not exist")
        return rule

    def workspace_or_404(raw_id: str, account: str) -> dict[str, Any]:
        try:
            workspace = state.workspaces.get(int(raw_id))
        except ValueError:
            workspace = None
        if workspace is None or owner_of(workspace) != account:
            raise _not_found(f"Workspace {raw_id} does not exist")
        return workspace

    def workspace_view(workspace: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in workspace.items() if k != "busy_until" and v is not None}
        if state.clock() < workspace["busy_until"]:
            view.update(
                workspace_status="PROVISIONING", workspace_status_message="Workspace is being updated."
            )
        return {**view, "account_id": owner_of(workspace)}

    # The SDK reads this before anything else (`Config._resolve_host_metadata`) and only falls back to
    # explicit settings if it fails. An account host answers with an OIDC root templated on the account
    # (shape from the SDKs' host-metadata tests); `account_id` lets an `AccountClient` omit it.
    async def well_known(request: web.Request) -> web.Response:
        root = (
            f"{request.scheme}://{request.host}{request.path.removesuffix('/.well-known/databricks-config')}"
        )
        return web.json_response(
            {
                "oidc_endpoint": f"{root}/oidc/accounts/{{account_id}}",
                "account_id": state.account_id,
                "cloud": "azure",
            }
        )

    async def create_ncc(request: web.Request) -> web.Response:
        name, region = _validate_ncc(await _json_body(request))
        with state.lock:
            ncc = state.create_ncc(name, region, account_of(request))
            return web.json_response(state.ncc_view(ncc, broker))

    async def list_nccs(request: web.Request) -> web.Response:
        with state.lock:
            account = account_of(request)
            page = _page([n for n in state.nccs.values() if owner_of(n) == account], request, state.page_size)
            page["items"] = [state.ncc_view(n, broker) for n in page["items"]]  # views of this page only
        return web.json_response(page)

    async def get_ncc(request: web.Request) -> web.Response:
        with state.lock:
            ncc = ncc_or_404(request.match_info["ncc_id"], account_of(request))
            return web.json_response(state.ncc_view(ncc, broker))

    async def delete_ncc(request: web.Request) -> web.Response:
        ncc_id = request.match_info["ncc_id"]
        with state.lock:
            ncc_or_404(ncc_id, account_of(request))
            # UNCONFIRMED: an NCC still bound to a workspace is assumed not deletable.
            bound = [
                w["workspace_id"]
                for w in state.workspaces.values()
                if w.get("network_connectivity_config_id") == ncc_id
            ]
            if bound:
                raise _invalid(
                    f"Network connectivity configuration {ncc_id} is attached to workspaces {bound}"
                )
            for rule_id, rule in list(state.rules.items()):
                if rule["network_connectivity_config_id"] == ncc_id:
                    _disconnect(broker, rule)
                    del state.rules[rule_id]
            del state.nccs[ncc_id]
        return web.json_response({})

    async def create_rule(request: web.Request) -> web.Response:
        ncc_id = request.match_info["ncc_id"]
        body = await _json_body(request)
        with state.lock:
            ncc = ncc_or_404(ncc_id, account_of(request))
            group_id, domain_names = _validate_rule(body)
            count = sum(1 for r in state.rules.values() if r["network_connectivity_config_id"] == ncc_id)
            if count >= state.max_rules_per_ncc:
                raise DatabricksError(
                    400, "QUOTA_EXCEEDED", f"At most {state.max_rules_per_ncc} private endpoint rules per NCC"
                )
            rule_id = str(uuid.uuid4())
            endpoint_name = f"databricks-{uuid.uuid4()}-pe-{uuid.uuid4().hex[:8]}"
            endpoint_id = (
                f"/subscriptions/{DATABRICKS_SUBSCRIPTION_ID}/resourceGroups/databricks-ncc-{ncc['region']}"
                f"/providers/Microsoft.Network/privateEndpoints/{endpoint_name}"
            )
            now = _ms(state.clock())
            rule: dict[str, Any] = {
                "rule_id": rule_id,
                "network_connectivity_config_id": ncc_id,
                "account_id": owner_of(ncc),
                "resource_id": body["resource_id"],
                "group_id": group_id,
                "domain_names": domain_names,
                "endpoint_name": endpoint_name,
                "creation_time": now,
                "updated_time": now,
                "deactivated": False,
                "deactivated_at": 0,
                "error_message": "",
                "create_state": "PENDING",
                "connection_name": None,
            }
            # Databricks provisions the endpoint asynchronously (create_private_endpoint_rule docstring)
            # and reports a failure as CREATE_FAILED with `error_message`, so a refused target is not a 400.
            try:
                rule["connection_name"] = broker.connect(
                    target_id=body["resource_id"],
                    group_id=group_id,
                    endpoint_id=endpoint_id,
                    request_message=f"Databricks serverless NCC {ncc_id} private endpoint rule {rule_id}",
                )
            except LinkError as exc:
                rule.update(create_state="CREATE_FAILED", error_message=f"{exc.code}: {exc.message}")
            state.rules[rule_id] = rule
            return web.json_response(state.rule_view(rule, broker))

    async def list_rules(request: web.Request) -> web.Response:
        ncc_id = request.match_info["ncc_id"]
        with state.lock:
            ncc_or_404(ncc_id, account_of(request))
            items = [
                state.rule_view(r, broker)
                for r in state.rules.values()
                if r["network_connectivity_config_id"] == ncc_id
            ]
        return web.json_response(_page(items, request, state.page_size))

    async def get_rule(request: web.Request) -> web.Response:
        with state.lock:
            rule = rule_or_404(request.match_info["ncc_id"], request.match_info["rule_id"], account_of(request))
            return web.json_response(state.rule_view(rule, broker))

    async def update_rule(request: web.Request) -> web.Response:
        body = await _json_body(request)
        mask = [f for f in request.query.get("update_mask", "").split(",") if f]
        with state.lock:
            rule = rule_or_404(request.match_info["ncc_id"], request.match_info["rule_id"], account_of(request))
            if not mask:
                raise _invalid("update_mask must be specified")
            if _target_kind(rule["resource_id"]) not in (_PLS, _APP_GATEWAY):
                raise _invalid("Only private endpoint rules to customer-managed resources can be updated")
            unknown = [f for f in mask if f != "domain_names"]
            if unknown:
                raise _invalid(f"Cannot update field(s) {', '.join(unknown)}; updatable: domain_names")
            state.set_domain_names(rule, body.get("domain_names"))
            return web.json_response(state.rule_view(rule, broker))

    async def delete_rule(request: web.Request) -> web.Response:
        with state.lock:
            rule = rule_or_404(request.match_info["ncc_id"], request.match_info["rule_id"], account_of(request))
            return web.json_response(state.delete_rule(rule, broker))

    async def list_workspaces(request: web.Request) -> web.Response:
        with state.lock:
            # WorkspacesAPI.list reads a bare JSON array.
            account = account_of(request)
            mine = [workspace_view(w) for w in state.workspaces.values() if owner_of(w) == account]
            return web.json_response(mine)

    async def get_workspace(request: web.Request) -> web.Response:
        with state.lock:
            workspace = workspace_or_404(request.match_info["workspace_id"], account_of(request))
            return web.json_response(workspace_view(workspace))

    async def update_workspace(request: web.Request) -> web.Response:
        body = await _json_body(request)
        mask = [f for f in request.query.get("update_mask", "").split(",") if f]
        updatable = ("network_connectivity_config_id", "custom_tags")
        with state.lock:
            workspace = workspace_or_404(request.match_info["workspace_id"], account_of(request))
            # With a mask only its fields change and a masked field absent from the body is cleared
            # (field-mask semantics, SDK docstring); "*" replaces every updatable field; without a mask
            # the fields present in the body change.
            if mask == ["*"]:
                fields = list(updatable)
            elif mask:
                fields = mask
            else:
                fields = [f for f in updatable if f in body]
            refused = [f for f in fields if f not in updatable]
            if refused:
                raise _invalid(f"Cannot update field(s) {', '.join(refused)} of an Azure workspace")
            state.update_workspace(workspace, {f: body.get(f) for f in fields})
            return web.json_response(workspace_view(workspace))

    accounts = "/api/2.0/accounts/{account_id}"
    nccs = accounts + "/network-connectivity-configs"
    rules = nccs + "/{ncc_id}/private-endpoint-rules"
    app.router.add_get("/.well-known/databricks-config", well_known)
    app.router.add_post(nccs, create_ncc)
    app.router.add_get(nccs, list_nccs)
    app.router.add_get(nccs + "/{ncc_id}", get_ncc)
    app.router.add_delete(nccs + "/{ncc_id}", delete_ncc)
    app.router.add_post(rules, create_rule)
    app.router.add_get(rules, list_rules)
    app.router.add_get(rules + "/{rule_id}", get_rule)
    app.router.add_patch(rules + "/{rule_id}", update_rule)
    app.router.add_delete(rules + "/{rule_id}", delete_rule)
    app.router.add_get(accounts + "/workspaces", list_workspaces)
    app.router.add_get(accounts + "/workspaces/{workspace_id}", get_workspace)
    app.router.add_patch(accounts + "/workspaces/{workspace_id}", update_workspace)
    return app


__all__ = [
    "AZURE_REGIONS",
    "BROKER_KEY",
    "DATABRICKS_SUBSCRIPTION_ID",
    "RESERVED_TLDS",
    "STATE_KEY",
    "DatabricksError",
    "DatabricksState",
    "InjectedFault",
    "LoggedRequest",
    "create_databricks_app",
]
