"""The emulated Databricks account API, driven only through the real databricks-sdk `AccountClient`.

The Azure side is an in-memory `PrivateLinkBroker` of this test (a real implementation of the protocol
with the owner's approve/reject/remove actions), so each test can play the resource owner.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from aiohttp import web
from databricks.sdk import AccountClient
from databricks.sdk.errors import (
    BadRequest,
    InvalidParameterValue,
    NotFound,
    PermissionDenied,
    ResourceDoesNotExist,
    Unauthenticated,
)
from databricks.sdk.service.provisioning import Workspace
from databricks.sdk.service.settings import (
    CreateNetworkConnectivityConfiguration,
    CreatePrivateEndpointRule,
    UpdatePrivateEndpointRule,
)
from databricks.sdk.service.settings import (
    NccPrivateEndpointRulePrivateLinkConnectionState as RuleState,
)

from transit_sandbox.databricks import (
    DATABRICKS_SUBSCRIPTION_ID,
    STATE_KEY,
    DatabricksState,
    create_databricks_app,
)
from transit_sandbox.links import LinkError

TOKEN = "dapi-sandbox-token"
ACCOUNT_ID = "11111111-2222-3333-4444-555555555555"
WORKSPACE_ID = 1234567890123456
RG = "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/transit"
PLS_ID = f"{RG}/providers/Microsoft.Network/privateLinkServices/transit-pls"
APPGW_ID = f"{RG}/providers/Microsoft.Network/applicationGateways/transit-agw"
STORAGE_ID = f"{RG}/providers/Microsoft.Storage/storageAccounts/transitsa"
CONFLUENT = "n-abc123.eastus.azure.confluent.cloud"


# --- a real in-memory broker and a clock the test moves ------------------------------------------------
@dataclass
class Connection:
    target_id: str
    group_id: str | None
    endpoint_id: str
    request_message: str
    status: str = "Pending"


class InMemoryBroker:
    """Targets are Private Link Services (no group id) or App Gateways (group id = a frontend name)."""

    def __init__(self) -> None:
        self.frontends: dict[str, set[str] | None] = {}
        self.connections: dict[tuple[str, str], Connection] = {}

    def add_private_link_service(self, target_id: str) -> None:
        self.frontends[target_id.lower()] = None

    def add_application_gateway(self, target_id: str, frontends: set[str]) -> None:
        self.frontends[target_id.lower()] = frontends

    def connect(self, target_id: str, group_id: str | None, endpoint_id: str, request_message: str) -> str:
        key = target_id.lower()
        if key not in self.frontends:
            raise LinkError("PrivateLinkServiceNotFound", f"Resource {target_id} was not found.")
        frontends = self.frontends[key]
        if (frontends is None and group_id) or (frontends is not None and group_id not in frontends):
            raise LinkError("InvalidPrivateLinkServiceConnectionGroupId", f"Group id {group_id} is invalid.")
        name = f"{endpoint_id.rsplit('/', 1)[1]}.{uuid.uuid4()}"
        self.connections[(key, name)] = Connection(target_id, group_id, endpoint_id, request_message)
        return name

    def status(self, target_id: str, connection_name: str) -> str | None:
        connection = self.connections.get((target_id.lower(), connection_name))
        return connection.status if connection else None

    def disconnect(self, target_id: str, connection_name: str) -> None:
        self.connections.pop((target_id.lower(), connection_name), None)

    # The resource owner's side.
    def connection_for(self, endpoint_name: str) -> Connection:
        [connection] = [c for c in self.connections.values() if c.endpoint_id.endswith("/" + endpoint_name)]
        return connection

    def set_status(self, endpoint_name: str, status: str | None) -> None:
        for key, connection in list(self.connections.items()):
            if connection.endpoint_id.endswith("/" + endpoint_name):
                if status is None:
                    del self.connections[key]
                else:
                    connection.status = status


class Clock:
    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- serving the app on 127.0.0.1 in a thread (the SDK is synchronous) ------------------------------------
class Served:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.url = ""
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        ready.set()
        self.loop.run_forever()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def broker() -> InMemoryBroker:
    broker = InMemoryBroker()
    broker.add_private_link_service(PLS_ID)
    broker.add_application_gateway(APPGW_ID, {"private-frontend"})
    broker.add_private_link_service(STORAGE_ID)
    return broker


@pytest.fixture
def state(clock: Clock) -> DatabricksState:
    state = DatabricksState(
        ACCOUNT_ID, clock=clock, deactivated_retention=60, pending_expiry=600, page_size=2
    )
    state.add_workspace(WORKSPACE_ID, "eastus", "analytics")
    state.add_workspace(WORKSPACE_ID + 1, "westeurope", "reporting")
    return state


@pytest.fixture
def server(broker: InMemoryBroker, state: DatabricksState) -> Iterator[Served]:
    served = Served(create_databricks_app(broker, token=TOKEN, state=state))
    yield served
    served.close()


@pytest.fixture
def account(server: Served, monkeypatch: pytest.MonkeyPatch) -> AccountClient:
    for var in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_ACCOUNT_ID", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    return AccountClient(host=server.url, account_id=ACCOUNT_ID, token=TOKEN)


def new_ncc(account: AccountClient, name: str = "transit-eastus", region: str = "eastus") -> str:
    ncc = account.network_connectivity.create_network_connectivity_configuration(
        CreateNetworkConnectivityConfiguration(name=name, region=region)
    )
    assert ncc.network_connectivity_config_id
    return ncc.network_connectivity_config_id


def pls_rule(domain_names: list[str] | None = None, **extra: object) -> CreatePrivateEndpointRule:
    names = domain_names if domain_names is not None else [f"*.{CONFLUENT}", f"*.az1.{CONFLUENT}"]
    return CreatePrivateEndpointRule(resource_id=PLS_ID, domain_names=names, **extra)  # type: ignore[arg-type]


# --- discovery and auth ---------------------------------------------------------------------------------
def test_discovery_document_is_public_and_lets_a_client_omit_the_account_id(server: Served) -> None:
    document = requests.get(f"{server.url}/.well-known/databricks-config", timeout=5).json()
    assert document == {
        "oidc_endpoint": f"{server.url}/oidc/accounts/{{account_id}}",
        "account_id": ACCOUNT_ID,
        "cloud": "azure",
    }
    account = AccountClient(host=server.url, token=TOKEN)
    assert account.config.account_id == ACCOUNT_ID
    assert list(account.network_connectivity.list_network_connectivity_configurations()) == []


@pytest.mark.parametrize(
    ("token", "account_id", "error", "status"),
    [
        pytest.param("wrong", ACCOUNT_ID, Unauthenticated, 401, id="bad-token"),
        pytest.param(
            TOKEN, "99999999-0000-0000-0000-000000000000", PermissionDenied, 403, id="other-account"
        ),
    ],
)
def test_requests_need_the_token_and_our_account(
    server: Served, state: DatabricksState, token: str, account_id: str, error: type[Exception], status: int
) -> None:
    account = AccountClient(host=server.url, account_id=account_id, token=token)
    with pytest.raises(error):
        list(account.network_connectivity.list_network_connectivity_configurations())
    assert (state.requests()[-1].status == error is Unauthenticated and 401) or 403


OTHER_ACCOUNT_ID = "22222222-3333-4444-5555-666666666666"


def test_added_accounts_share_the_token_and_see_only_their_own_objects(
    server: Served, state: DatabricksState, account: AccountClient
) -> None:
    state.add_account(OTHER_ACCOUNT_ID)
    state.add_workspace(WORKSPACE_ID + 7, "eastus", "other", account_id=OTHER_ACCOUNT_ID)
    other = AccountClient(host=server.url, account_id=OTHER_ACCOUNT_ID.upper(), token=TOKEN)
    mine = new_ncc(account, "ncc-mine")
    theirs = new_ncc(other, "ncc-theirs")

    listed = other.network_connectivity.list_network_connectivity_configurations()
    assert [n.network_connectivity_config_id for n in listed] == [theirs]
    with pytest.raises(ResourceDoesNotExist):
        other.network_connectivity.get_network_connectivity_configuration(mine)
    assert [w.workspace_id for w in other.workspaces.list()] == [WORKSPACE_ID + 7]
    with pytest.raises(ResourceDoesNotExist):
        other.workspaces.get(WORKSPACE_ID)
    with pytest.raises(ResourceDoesNotExist):  # an NCC of another account cannot be bound
        other.workspaces.update(WORKSPACE_ID + 7, Workspace(network_connectivity_config_id=mine),
                                update_mask="network_connectivity_config_id")
    assert state.to_dict()["accounts"] == [ACCOUNT_ID, OTHER_ACCOUNT_ID]
    assert DatabricksState.from_dict(state.to_dict()).has_account(OTHER_ACCOUNT_ID)


def test_request_log_records_method_path_and_status(account: AccountClient, state: DatabricksState) -> None:
    state.clear_request_log()
    ncc_id = new_ncc(account)
    with pytest.raises(ResourceDoesNotExist):
        account.network_connectivity.get_network_connectivity_configuration("missing")
    nccs = f"/api/2.0/accounts/{ACCOUNT_ID}/network-connectivity-configs"
    assert [(r.method, r.path, r.status) for r in state.requests()] == [
        ("POST", nccs, 200),
        ("GET", f"{nccs}/missing", 404),
    ]
    assert state.nccs.keys() == {ncc_id}


# --- NCCs -----------------------------------------------------------------------------------------------
def test_ncc_create_get_list_and_delete(account: AccountClient) -> None:
    api = account.network_connectivity
    ids = [new_ncc(account, f"ncc-{n}") for n in range(5)]  # page_size=2: three pages
    ncc = api.get_network_connectivity_configuration(ids[0])
    assert (ncc.name, ncc.region, ncc.account_id) == ("ncc-0", "eastus", ACCOUNT_ID)
    assert ncc.egress_config.default_rules.azure_service_endpoint_rule.target_region == "eastus"
    assert [n.network_connectivity_config_id for n in api.list_network_connectivity_configurations()] == ids
    api.delete_network_connectivity_configuration(ids[0])
    with pytest.raises(ResourceDoesNotExist):
        api.get_network_connectivity_configuration(ids[0])


@pytest.mark.parametrize(
    ("name", "region", "message"),
    [
        pytest.param("ab", "eastus", "between 3 and 30", id="name-too-short"),
        pytest.param("x" * 31, "eastus", "between 3 and 30", id="name-too-long"),
        pytest.param("has space", "eastus", "alphanumeric", id="name-with-space"),
        pytest.param("transit", "East US", "region", id="display-name-region"),
        pytest.param("transit", "mars-1", "region", id="unknown-region"),
    ],
)
def test_ncc_create_validates_name_and_region(
    account: AccountClient, name: str, region: str, message: str
) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        new_ncc(account, name, region)


# --- private endpoint rules -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("owner_status", "expected"),
    [
        pytest.param("Approved", RuleState.ESTABLISHED, id="approved"),
        pytest.param("Rejected", RuleState.REJECTED, id="rejected"),
        pytest.param("Disconnected", RuleState.DISCONNECTED, id="disconnected"),
        pytest.param(None, RuleState.DISCONNECTED, id="connection-removed"),
    ],
)
def test_rule_state_follows_the_connection_on_the_target(
    account: AccountClient, broker: InMemoryBroker, owner_status: str | None, expected: RuleState
) -> None:
    api = account.network_connectivity
    ncc_id = new_ncc(account)
    rule = api.create_private_endpoint_rule(ncc_id, pls_rule())
    assert rule.connection_state == RuleState.PENDING
    assert rule.endpoint_name and rule.endpoint_name.startswith("databricks-")
    connection = broker.connection_for(rule.endpoint_name)
    assert connection.target_id == PLS_ID and connection.group_id is None
    assert connection.endpoint_id.startswith(f"/subscriptions/{DATABRICKS_SUBSCRIPTION_ID}/resourceGroups/")
    broker.set_status(rule.endpoint_name, owner_status)
    observed = api.get_private_endpoint_rule(ncc_id, rule.rule_id)
    assert observed.connection_state == expected
    assert [r.connection_state for r in api.list_private_endpoint_rules(ncc_id)] == [expected]
    ncc = api.get_network_connectivity_configuration(ncc_id)
    assert [r.rule_id for r in ncc.egress_config.target_rules.azure_private_endpoint_rules] == [rule.rule_id]


def test_rule_to_an_application_gateway_names_its_frontend(
    account: AccountClient, broker: InMemoryBroker
) -> None:
    ncc_id = new_ncc(account)
    rule = account.network_connectivity.create_private_endpoint_rule(
        ncc_id,
        CreatePrivateEndpointRule(
            resource_id=APPGW_ID, group_id="private-frontend", domain_names=[CONFLUENT]
        ),
    )
    assert rule.connection_state == RuleState.PENDING
    assert broker.connection_for(rule.endpoint_name).group_id == "private-frontend"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        pytest.param(pls_rule([f"kafka.{tld}"]), f".{tld}", id=f"reserved-tld-{tld}")
        for tld in ("internal", "local", "localhost", "test", "example", "invalid", "onion", "arpa")
    ]
    + [
        pytest.param(pls_rule(["bad_name.example.com"]), "valid DNS|fully qualified", id="underscore"),
        pytest.param(pls_rule(["single-label"]), "fully qualified", id="single-label"),
        pytest.param(pls_rule(["a.*.example.com"]), "fully qualified", id="inner-wildcard"),
        pytest.param(pls_rule(["-lead.example.com"]), "fully qualified", id="leading-hyphen"),
        pytest.param(pls_rule([]), "domain_names must be specified", id="no-domain-names"),
        pytest.param(pls_rule(group_id="blob"), "group_id cannot be specified", id="pls-with-group-id"),
        pytest.param(
            CreatePrivateEndpointRule(resource_id="transit-pls", domain_names=[CONFLUENT]),
            "not a valid Azure resource ID",
            id="not-an-arm-id",
        ),
        pytest.param(
            CreatePrivateEndpointRule(resource_id=STORAGE_ID, domain_names=[CONFLUENT]),
            "group_id must be specified",
            id="storage-without-group-id",
        ),
        pytest.param(
            CreatePrivateEndpointRule(resource_id=STORAGE_ID, group_id="blob", domain_names=[CONFLUENT]),
            "customer-managed",
            id="storage-with-domain-names",
        ),
    ],
)
def test_rule_create_is_validated(
    account: AccountClient, broker: InMemoryBroker, rule: CreatePrivateEndpointRule, message: str
) -> None:
    ncc_id = new_ncc(account)
    with pytest.raises(InvalidParameterValue, match=message):
        account.network_connectivity.create_private_endpoint_rule(ncc_id, rule)
    assert broker.connections == {}


def test_rule_to_a_target_that_refuses_is_create_failed(account: AccountClient) -> None:
    ncc_id = new_ncc(account)
    missing = f"{RG}/providers/Microsoft.Network/privateLinkServices/gone"
    rule = account.network_connectivity.create_private_endpoint_rule(
        ncc_id, CreatePrivateEndpointRule(resource_id=missing, domain_names=[CONFLUENT])
    )
    assert rule.connection_state == RuleState.CREATE_FAILED
    assert "PrivateLinkServiceNotFound" in (rule.error_message or "")


def test_unapproved_rule_expires_and_loses_its_endpoint(
    account: AccountClient, broker: InMemoryBroker, clock: Clock
) -> None:
    ncc_id = new_ncc(account)
    rule = account.network_connectivity.create_private_endpoint_rule(ncc_id, pls_rule())
    clock.advance(599)
    assert account.network_connectivity.get_private_endpoint_rule(ncc_id, rule.rule_id).connection_state == (
        RuleState.PENDING
    )
    clock.advance(1)
    assert account.network_connectivity.get_private_endpoint_rule(ncc_id, rule.rule_id).connection_state == (
        RuleState.EXPIRED
    )
    assert broker.connections == {}


def test_deleting_a_pending_rule_removes_it_at_once(account: AccountClient, broker: InMemoryBroker) -> None:
    ncc_id = new_ncc(account)
    rule = account.network_connectivity.create_private_endpoint_rule(ncc_id, pls_rule())
    deleted = account.network_connectivity.delete_private_endpoint_rule(ncc_id, rule.rule_id)
    assert deleted.rule_id == rule.rule_id
    assert broker.connections == {}
    with pytest.raises(ResourceDoesNotExist):
        account.network_connectivity.get_private_endpoint_rule(ncc_id, rule.rule_id)


def test_deleting_an_established_rule_deactivates_it_until_the_retention_passes(
    account: AccountClient, broker: InMemoryBroker, clock: Clock
) -> None:
    api = account.network_connectivity
    ncc_id = new_ncc(account)
    rule = api.create_private_endpoint_rule(ncc_id, pls_rule())
    broker.set_status(rule.endpoint_name, "Approved")
    deleted = api.delete_private_endpoint_rule(ncc_id, rule.rule_id)
    assert (deleted.deactivated, deleted.connection_state) == (True, RuleState.ESTABLISHED)
    assert deleted.deactivated_at == int(clock.now * 1000)
    clock.advance(59)
    assert api.get_private_endpoint_rule(ncc_id, rule.rule_id).deactivated is True
    assert broker.connections  # Databricks keeps the endpoint while deactivated
    clock.advance(1)
    with pytest.raises(ResourceDoesNotExist):
        api.get_private_endpoint_rule(ncc_id, rule.rule_id)
    assert broker.connections == {}


def test_domain_names_are_replaced_by_update(account: AccountClient) -> None:
    api = account.network_connectivity
    ncc_id = new_ncc(account)
    rule = api.create_private_endpoint_rule(ncc_id, pls_rule())
    names = [f"lkc-1.{CONFLUENT}", f"*.{CONFLUENT}", f"*.az1.{CONFLUENT}", f"*.az2.{CONFLUENT}"]
    updated = api.update_private_endpoint_rule(
        ncc_id, rule.rule_id, UpdatePrivateEndpointRule(domain_names=names), update_mask="domain_names"
    )
    assert updated.domain_names == names
    assert api.get_private_endpoint_rule(ncc_id, rule.rule_id).domain_names == names
    with pytest.raises(InvalidParameterValue, match=r"\.internal"):
        api.update_private_endpoint_rule(
            ncc_id,
            rule.rule_id,
            UpdatePrivateEndpointRule(domain_names=["x.internal"]),
            update_mask="domain_names",
        )
    with pytest.raises(InvalidParameterValue, match="Cannot update"):
        api.update_private_endpoint_rule(
            ncc_id, rule.rule_id, UpdatePrivateEndpointRule(enabled=False), update_mask="enabled"
        )


def test_rules_per_ncc_are_limited(account: AccountClient, state: DatabricksState) -> None:
    state.max_rules_per_ncc = 1
    ncc_id = new_ncc(account)
    account.network_connectivity.create_private_endpoint_rule(ncc_id, pls_rule())
    with pytest.raises(BadRequest, match="At most 1"):
        account.network_connectivity.create_private_endpoint_rule(ncc_id, pls_rule())


# --- workspaces -----------------------------------------------------------------------------------------
def test_workspace_binds_to_an_ncc_of_its_region(account: AccountClient) -> None:
    ncc_id = new_ncc(account)
    assert [w.workspace_id for w in account.workspaces.list()] == [WORKSPACE_ID, WORKSPACE_ID + 1]
    workspace = account.workspaces.update(
        WORKSPACE_ID,
        Workspace(network_connectivity_config_id=ncc_id),
        update_mask="network_connectivity_config_id",
    ).result()
    assert workspace.network_connectivity_config_id == ncc_id
    observed = account.workspaces.get(WORKSPACE_ID)
    assert (observed.network_connectivity_config_id, observed.location) == (ncc_id, "eastus")
    assert observed.workspace_status.value == "RUNNING"
    with pytest.raises(InvalidParameterValue, match="attached"):
        account.network_connectivity.delete_network_connectivity_configuration(ncc_id)


@pytest.mark.parametrize(
    ("workspace_id", "ncc_region", "error", "message"),
    [
        pytest.param(WORKSPACE_ID + 1, "eastus", InvalidParameterValue, "same region", id="region-mismatch"),
        pytest.param(WORKSPACE_ID, None, NotFound, "does not exist", id="unknown-ncc"),
        pytest.param(42, "eastus", NotFound, "Workspace 42", id="unknown-workspace"),
    ],
)
def test_workspace_binding_is_validated(
    account: AccountClient, workspace_id: int, ncc_region: str | None, error: type[Exception], message: str
) -> None:
    ncc_id = new_ncc(account, region=ncc_region) if ncc_region else "no-such-ncc"
    with pytest.raises(error, match=message):
        account.workspaces.update(
            workspace_id,
            Workspace(network_connectivity_config_id=ncc_id),
            update_mask="network_connectivity_config_id",
        )


# --- admin, persistence, mounting -----------------------------------------------------------------------
def test_injected_fault_answers_in_the_api_error_shape(
    account: AccountClient, state: DatabricksState
) -> None:
    state.inject_fault("POST", "network-connectivity-configs$", 400, "INVALID_STATE", "NCC service paused")
    with pytest.raises(BadRequest, match="NCC service paused"):
        new_ncc(account)
    assert new_ncc(account)


def test_state_round_trips_through_json(
    account: AccountClient, broker: InMemoryBroker, state: DatabricksState
) -> None:
    ncc_id = new_ncc(account)
    rule = account.network_connectivity.create_private_endpoint_rule(ncc_id, pls_rule())
    broker.set_status(rule.endpoint_name, "Approved")
    restored = DatabricksState.from_dict(json.loads(json.dumps(state.to_dict())))
    served = Served(create_databricks_app(broker, token=TOKEN, state=restored))
    try:
        again = AccountClient(host=served.url, account_id=ACCOUNT_ID, token=TOKEN)
        assert again.network_connectivity.get_private_endpoint_rule(
            ncc_id, rule.rule_id
        ).connection_state == (RuleState.ESTABLISHED)
        assert again.workspaces.get(WORKSPACE_ID).workspace_name == "analytics"
    finally:
        served.close()


def test_app_serves_under_a_path_prefix(broker: InMemoryBroker) -> None:
    root = web.Application()
    inner = create_databricks_app(broker, token=TOKEN, account_id=ACCOUNT_ID)
    root.add_subapp("/databricks", inner)
    served = Served(root)
    try:
        account = AccountClient(host=f"{served.url}/databricks", token=TOKEN)
        assert account.config.account_id == ACCOUNT_ID
        new_ncc(account)
        assert inner[STATE_KEY].requests()[-1].path == (
            f"/databricks/api/2.0/accounts/{ACCOUNT_ID}/network-connectivity-configs"
        )
    finally:
        served.close()
