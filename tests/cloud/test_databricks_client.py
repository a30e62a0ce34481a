"""`cloud.databricks.DatabricksAccount` through the real `AccountClient` against the emulated account API.

Each behaviour is counted in the emulator's request log: a second ensure is reads only, lookups after a
"restart" (a fresh client, no remembered ids) find the objects instead of duplicating them.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator

import pytest
from aiohttp import web
from databricks.sdk.errors import InvalidParameterValue

from transit_operator.cloud.databricks import DatabricksAccount, build_account_client
from transit_operator.cloud.errors import FatalError
from transit_sandbox.databricks import DatabricksState, create_databricks_app
from transit_sandbox.links import LinkError

TOKEN = "dapi-test"
ACCOUNT_ID = "11111111-2222-3333-4444-555555555555"
WORKSPACE = 1234567890123456
OTHER_REGION_WORKSPACE = WORKSPACE + 1
PLS_ID = (
    "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/transit"
    "/providers/Microsoft.Network/privateLinkServices/pls-transit"
)
DOMAIN = "n-abc123.eastus.azure.confluent.cloud"
NAMES = [f"*.{DOMAIN}", f"*.az1.{DOMAIN}"]


class Broker:
    """Private Link Services that accept every connection; the test plays the owner."""

    def __init__(self) -> None:
        self.connections: dict[str, str] = {}

    def connect(self, target_id: str, group_id: str | None, endpoint_id: str, request_message: str) -> str:
        if target_id.lower() != PLS_ID.lower():
            raise LinkError("PrivateLinkServiceNotFound", f"{target_id} not found")
        name = f"{endpoint_id.rsplit('/', 1)[1]}.{uuid.uuid4()}"
        self.connections[name] = "Pending"
        return name

    def status(self, target_id: str, connection_name: str) -> str | None:
        return self.connections.get(connection_name)

    def disconnect(self, target_id: str, connection_name: str) -> None:
        self.connections.pop(connection_name, None)

    def approve_all(self) -> None:
        for name in self.connections:
            self.connections[name] = "Approved"


class Served:
    def __init__(self, app: web.Application) -> None:
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(app)
        ready = threading.Event()
        self.url = ""

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.runner.setup())
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def broker() -> Broker:
    return Broker()


@pytest.fixture
def state() -> DatabricksState:
    state = DatabricksState(ACCOUNT_ID)
    state.add_workspace(WORKSPACE, "eastus", "analytics")
    state.add_workspace(OTHER_REGION_WORKSPACE, "westeurope", "reporting")
    return state


@pytest.fixture
def server(broker: Broker, state: DatabricksState) -> Iterator[Served]:
    served = Served(create_databricks_app(broker, token=TOKEN, state=state))
    yield served
    served.close()


@pytest.fixture
def account(server: Served, monkeypatch: pytest.MonkeyPatch) -> DatabricksAccount:
    for var in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_ACCOUNT_ID", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    return DatabricksAccount(build_account_client(server.url, ACCOUNT_ID, {"token": TOKEN}))


def writes(state: DatabricksState) -> list[tuple[str, str]]:
    return [(r.method, r.path.rsplit("/", 2)[-2]) for r in state.requests() if r.method != "GET"]


def test_ensure_ncc_creates_once_and_finds_it_by_name_after_a_restart(
    account: DatabricksAccount, server: Served, state: DatabricksState
) -> None:
    ncc, write = account.ensure_ncc(name="transit-eastus", region="eastus")
    assert write == "created"
    state.clear_request_log()
    restarted = DatabricksAccount(build_account_client(server.url, ACCOUNT_ID, {"token": TOKEN}))
    again, write = restarted.ensure_ncc(name="transit-eastus", region="eastus", known_id=None)
    assert (again, write) == (ncc, "none")
    assert writes(state) == []
    assert len(state.nccs) == 1


def test_ensure_ncc_with_a_known_id_is_one_get(account: DatabricksAccount, state: DatabricksState) -> None:
    ncc, _ = account.ensure_ncc(name="transit-eastus", region="eastus")
    state.clear_request_log()
    assert account.ensure_ncc(name="transit-eastus", region="eastus", known_id=ncc.id) == (ncc, "none")
    assert [r.method for r in state.requests()] == ["GET"]


def test_ensure_rule_is_idempotent_and_updates_only_changed_domain_names(
    account: DatabricksAccount, state: DatabricksState
) -> None:
    ncc, _ = account.ensure_ncc(name="transit-eastus", region="eastus")
    rule, write = account.ensure_rule(ncc.id, resource_id=PLS_ID, domain_names=NAMES)
    assert write == "created"
    assert rule.connection_state == "PENDING" and rule.endpoint_name

    state.clear_request_log()
    same, write = account.ensure_rule(ncc.id, resource_id=PLS_ID.upper(), domain_names=list(reversed(NAMES)))
    assert (same.rule_id, write) == (rule.rule_id, "none")
    assert writes(state) == []

    updated, write = account.ensure_rule(ncc.id, resource_id=PLS_ID, domain_names=[*NAMES, f"*.az2.{DOMAIN}"])
    assert (updated.rule_id, write) == (rule.rule_id, "updated")
    assert sorted(updated.domain_names) == sorted([*NAMES, f"*.az2.{DOMAIN}"])
    assert writes(state) == [("PATCH", "private-endpoint-rules")]
    assert len(state.rules) == 1


def test_a_deactivated_rule_is_not_reused(account: DatabricksAccount, broker: Broker) -> None:
    ncc, _ = account.ensure_ncc(name="transit-eastus", region="eastus")
    rule, _ = account.ensure_rule(ncc.id, resource_id=PLS_ID, domain_names=NAMES)
    broker.approve_all()
    deleted = account.delete_rule(ncc.id, rule.rule_id)
    assert deleted is not None and deleted.deactivated  # ESTABLISHED rules are kept for a day
    fresh, write = account.ensure_rule(ncc.id, resource_id=PLS_ID, domain_names=NAMES)
    assert write == "created" and fresh.rule_id != rule.rule_id


def test_bind_workspace_writes_only_when_not_bound(
    account: DatabricksAccount, state: DatabricksState
) -> None:
    ncc, _ = account.ensure_ncc(name="transit-eastus", region="eastus")
    workspace = account.observe_workspace(WORKSPACE)
    assert (workspace.region, workspace.ncc_id) == ("eastus", None)
    assert account.bind_workspace(workspace, ncc.id) is True
    bound = account.observe_workspace(WORKSPACE)
    assert bound.ncc_id == ncc.id
    state.clear_request_log()
    assert account.bind_workspace(bound, ncc.id) is False
    assert state.requests() == []


def test_binding_across_regions_is_refused_by_databricks(account: DatabricksAccount) -> None:
    ncc, _ = account.ensure_ncc(name="transit-eastus", region="eastus")
    with pytest.raises(FatalError, match="same region") as info:
        account.bind_workspace(account.observe_workspace(OTHER_REGION_WORKSPACE), ncc.id)
    assert info.value.classified.code == "INVALID_PARAMETER_VALUE"
    assert isinstance(info.value.__cause__, InvalidParameterValue)


def test_deletes_of_missing_objects_succeed(account: DatabricksAccount) -> None:
    ncc, _ = account.ensure_ncc(name="transit-eastus", region="eastus")
    assert account.delete_rule(ncc.id, str(uuid.uuid4())) is None
    assert account.delete_ncc(ncc.id) is True
    assert account.delete_ncc(ncc.id) is False
    assert account.observe_ncc(ncc_id=ncc.id) is None


@pytest.mark.parametrize(
    ("credentials", "message"),
    [
        pytest.param({}, r"has keys \[\]", id="empty"),
        pytest.param(
            {"azure_client_id": "x", "azure_tenant_id": "y"}, "azure_client_secret", id="partial-azure"
        ),
        pytest.param({"client_secret": "s3cr3t"}, r"\['client_secret'\]", id="names-keys-not-values"),
    ],
)
def test_incomplete_credentials_name_the_keys_never_the_values(
    credentials: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as info:
        build_account_client("https://127.0.0.1:1", ACCOUNT_ID, credentials)
    assert "s3cr3t" not in str(info.value)
