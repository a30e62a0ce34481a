"""A diagnosis of the data path names exactly the hop that is broken (issue 19), through the real SDK clients
against the embedded sandbox: a ConfluentPrivateLink and a ServerlessTransit of each option reconciled to
Ready, then one hop broken at a time - the private endpoint removed, a DNS record wrong, the NCC rule's
connection disconnected, a backend unreachable (Confluent's side stops answering), and for haproxy an
instance whose HAProxy is down - and `reconcile.transit.diagnose` run. The VMSS instances are
`ConfigExecutor`s, which answer the backend health script from the ARM state (tests/dataplane has the same
on real HAProxy). Every ARM exchange, the backend health LRO and the run commands included, is judged
against the REST specs (`conformance`)."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from transit_operator.api.status import dump_status
from transit_operator.api.v1alpha1 import DATA_PATH_HOPS, ServerlessTransit
from transit_operator.cloud.context import CloudContext
from transit_operator.cloud.network import gateway_backend_health
from transit_operator.plan.ownership import Owner
from transit_operator.plan.transit.appgw import GatewayIds
from transit_operator.plan.transit.haproxy import HAProxyIds
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile import confluent, transit
from transit_operator.reconcile.outcome import Outcome
from transit_sandbox import conformance
from transit_sandbox.executor import ConfigExecutor
from transit_sandbox.server import SandboxCloud

LOCATION = "westeurope"
DOMAIN = "n-diag01.westeurope.azure.confluent.cloud"
WORKSPACE_ID = 5550019
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGt0ZXN0a2V5Zm9ydHJhbnNpdG9wZXJhdG9ydGVzdHM= test"
OPTIONS = ["applicationGateway", "haproxy"]
ALIASES = {
    zone: f"s-diag-{i}.0f6a1c5e-1a2b-4c3d-8e9f-00112233446{i}.westeurope.azure.privatelinkservice"
    for i, zone in enumerate(("az1", "az2", "az3"), start=1)
}


@pytest.fixture(scope="module")
def cloud() -> Iterator[SandboxCloud]:
    with SandboxCloud(executor=ConfigExecutor(), check_conformance=True) as sandbox:
        sandbox.admin.set_lro_seconds(None, 0.05)
        sandbox.admin.set_confluent_approval_seconds(0.05)
        sandbox.databricks.add_workspace(WORKSPACE_ID, LOCATION, "ws-diag")
        yield sandbox
        violations = sandbox.admin.take_violations()
        assert violations == [], conformance.report(violations)


@pytest.fixture
def ctx(cloud: SandboxCloud) -> CloudContext:
    return CloudContext.for_sandbox(
        cloud.arm_url, cloud.ca_bundle, cloud.token, cloud.databricks_url, polling_interval=0.05
    )


class World:
    """A resource group with a VNet, a ConfluentPrivateLink (three zones, managed DNS) and an App Gateway
    transit, both reconciled until Ready."""

    def __init__(self, cloud: SandboxCloud, ctx: CloudContext, name: str, option: str) -> None:
        self.option = option
        self.cloud, self.ctx = cloud, ctx
        self.sub = cloud.subscription_id
        self.rg = f"rg-{name}"[:90]
        self.namespace = name[:60].strip("-")
        vnet = f"/subscriptions/{self.sub}/resourceGroups/{self.rg}/providers/Microsoft.Network/virtualNetworks/vnet"
        self.vnet_id = vnet
        ctx.network(self.sub).virtual_networks.begin_create_or_update(
            self.rg,
            "vnet",
            {
                "location": LOCATION,
                "properties": {
                    "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                    "subnets": [
                        {"name": "pe", "properties": {"addressPrefix": "10.0.1.0/24"}},
                        {"name": "appgw", "properties": {"addressPrefix": "10.0.4.0/24"}},
                        {"name": "appgwpl", "properties": {"addressPrefix": "10.0.5.0/24"}},
                        {"name": "transit", "properties": {"addressPrefix": "10.0.2.0/24"}},
                        {"name": "pls", "properties": {"addressPrefix": "10.0.3.0/24",
                                                       "privateLinkServiceNetworkPolicies": "Disabled"}},
                    ],
                },
            },
        ).result()
        self.cpl: dict[str, Any] = {
            "apiVersion": "transit.privatelink.io/v1alpha1",
            "kind": "ConfluentPrivateLink",
            "metadata": {"name": "confluent", "namespace": self.namespace, "uid": str(uuid.uuid4()), "generation": 1},
            "spec": {
                "azure": {"subscriptionId": self.sub, "resourceGroup": self.rg, "location": LOCATION},
                "confluent": {
                    "networkId": "n-diag01",
                    "dnsDomain": DOMAIN,
                    "bootstrapServer": f"lkc-diag.{DOMAIN}:9092",
                    "zones": [{"name": z, "privateLinkServiceAlias": a} for z, a in sorted(ALIASES.items())],
                },
                "privateEndpoints": {"subnetId": f"{vnet}/subnets/pe"},
                "dns": {"virtualNetworkIds": [vnet]},
            },
        }
        option_spec: dict[str, Any] = (
            {
                "network": {"frontendSubnetId": f"{vnet}/subnets/appgw", "privateLinkSubnetId": f"{vnet}/subnets/appgwpl"},
                "applicationGateway": {"privateFrontendIp": "10.0.4.10"},
            }
            if option == "applicationGateway"
            else {
                "network": {"frontendSubnetId": f"{vnet}/subnets/transit", "privateLinkSubnetId": f"{vnet}/subnets/pls"},
                "haproxy": {"instanceCount": 2, "zones": ["1", "2"], "sshPublicKey": SSH_KEY},
            }
        )
        self.body: dict[str, Any] = {
            "apiVersion": "transit.privatelink.io/v1alpha1",
            "kind": "ServerlessTransit",
            "metadata": {"name": "kafka", "namespace": self.namespace, "uid": str(uuid.uuid4()), "generation": 1},
            "spec": {
                "option": option,
                "confluentPrivateLinkRef": {"name": "confluent"},
                "azure": {"subscriptionId": self.sub, "resourceGroup": self.rg, "location": LOCATION},
                **option_spec,
                "databricks": {
                    "accountId": cloud.databricks.account_id,
                    "ncc": {"name": f"ncc-{uuid.uuid4().hex[:12]}"},
                    "workspaceIds": [WORKSPACE_ID],
                },
            },
        }
        meta = self.body["metadata"]
        self.owner = Owner("ServerlessTransit", meta["namespace"], meta["name"], meta["uid"])

    @property
    def gateway_id(self) -> str:
        return GatewayIds.of(ServerlessTransit.model_validate(self.body).spec, self.owner).gateway

    @property
    def target_id(self) -> str:
        """What the NCC rule connects to: the gateway, or the Private Link Service."""
        if self.option == "applicationGateway":
            return self.gateway_id
        return HAProxyIds.of(ServerlessTransit.model_validate(self.body).spec, self.owner).private_link_service

    @property
    def vmss_id(self) -> str:
        return HAProxyIds.of(ServerlessTransit.model_validate(self.body).spec, self.owner).vmss

    def converge(self) -> None:
        _until_ready(lambda: confluent.reconcile(copy.deepcopy(self.cpl), self.ctx), self.cpl)
        _until_ready(lambda: transit.reconcile(copy.deepcopy(self.body), copy.deepcopy(self.cpl), self.ctx), self.body)

    def diagnose(self, request: str = "1") -> Outcome:
        outcome = transit.diagnose(copy.deepcopy(self.body), copy.deepcopy(self.cpl), self.ctx, request=request)
        self.body["status"] = dump_status(outcome.status)
        return outcome

    def endpoint_ip(self, zone: str) -> str:
        (found,) = [z["privateIp"] for z in self.cpl["status"]["zones"] if z["name"] == zone]
        return str(found)

    def endpoint_id(self, zone: str) -> str:
        (found,) = [z["privateEndpointId"] for z in self.cpl["status"]["zones"] if z["name"] == zone]
        return str(found)


def _until_ready(reconcile: Callable[[], Outcome], body: dict[str, Any], passes: int = 80) -> None:
    for _ in range(passes):
        outcome = reconcile()
        body["status"] = dump_status(outcome.status)
        if cond.is_true(outcome.status.conditions, cond.READY):
            return
        assert not cond.is_true(outcome.status.conditions, cond.STALLED), body["status"]["conditions"]
        time.sleep(0.05)
    raise AssertionError(f"not Ready: {body['status']['conditions']}")


@pytest.fixture(params=OPTIONS)
def world(cloud: SandboxCloud, ctx: CloudContext, request: pytest.FixtureRequest) -> World:
    name = request.node.name.lower().replace("[", "-").replace("]", "").replace("_", "-")
    made = World(cloud, ctx, name, request.param)
    made.converge()
    return made


@pytest.fixture
def gateway_world(cloud: SandboxCloud, ctx: CloudContext, request: pytest.FixtureRequest) -> World:
    name = request.node.name.lower().replace("[", "-").replace("]", "").replace("_", "-")
    made = World(cloud, ctx, name, "applicationGateway")
    made.converge()
    return made


def verdicts(outcome: Outcome) -> dict[str, str]:
    diagnosis = dump_status(outcome.status)["diagnosis"]
    return {h["hop"]: h["verdict"] for h in diagnosis["hops"]}


def data_path_healthy(outcome: Outcome) -> dict[str, Any]:
    found = next(c for c in dump_status(outcome.status)["conditions"] if c["type"] == cond.DATA_PATH_HEALTHY)
    return dict(found)


def test_a_healthy_path_is_healthy_at_every_hop(world: World) -> None:
    outcome = world.diagnose("first")

    status = dump_status(outcome.status)
    diagnosis = status["diagnosis"]
    assert [h["hop"] for h in diagnosis["hops"]] == list(DATA_PATH_HOPS)
    assert verdicts(outcome) == {hop: "Healthy" for hop in DATA_PATH_HOPS}, diagnosis["hops"]
    assert diagnosis["request"] == "first" and diagnosis["trigger"] == "annotation"
    assert "firstBrokenHop" not in diagnosis
    healthy = data_path_healthy(outcome)
    assert (healthy["status"], healthy["reason"]) == ("True", "HopsHealthy")
    # Ready is the pass's business, untouched; the generation stays the last pass's.
    assert cond.is_true(outcome.status.conditions, cond.READY)
    assert status["observedGeneration"] == 1
    assert [(e.type, e.reason) for e in outcome.events] == [("Normal", "DataPathDiagnosed")]


def test_the_backend_health_api_answers_per_address(gateway_world: World, ctx: CloudContext,
                                                    cloud: SandboxCloud) -> None:
    world = gateway_world
    cloud.admin.clear_requests()
    servers = gateway_backend_health(ctx, world.gateway_id)

    assert sorted(s.address for s in servers) == sorted(world.endpoint_ip(z) for z in ALIASES)
    assert {s.health for s in servers} == {"Up"}
    assert {s.pool for s in servers} == {"confluent"}
    # A long-running POST, as the spec has it: 202 with Location (no Azure-AsyncOperation), then the result
    # from the Location URL; and a read: it leaves the gateway as it was (a PUT is not refused meanwhile).
    (post,) = cloud.admin.requests(method="POST", path_contains="/backendhealth")
    assert post.status == 202 and "Location" in post.headers and "Azure-AsyncOperation" not in post.headers
    (result,) = [r for r in cloud.admin.requests(method="GET", path_contains="/operationResults/") if r.status == 200]
    assert {s["health"] for p in result.response["backendAddressPools"]
            for h in p["backendHttpSettingsCollection"] for s in h["servers"]} == {"Up"}
    assert (cloud.admin.resource(world.gateway_id) or {})["properties"]["provisioningState"] == "Succeeded"


def _remove_endpoint(world: World) -> str:
    assert world.cloud.admin.delete_resource(world.endpoint_id("az2"))
    return "zone az2: private endpoint"


def _wrong_dns_record(world: World) -> str:
    world.ctx.privatedns(world.sub).record_sets.update(
        world.rg, DOMAIN, "A", "*.az2", {"properties": {"aRecords": [{"ipv4Address": "10.0.1.250"}]}}
    )
    return "A *.az2: 10.0.1.250 instead of " + world.endpoint_ip("az2")


def _disconnect_rule(world: World) -> str:
    (connection,) = world.cloud.admin.connections(target_id=world.target_id)
    world.cloud.admin.set_connection_state(world.target_id, connection["name"], "Disconnected", "cut")
    return "DISCONNECTED"


def _confluent_silent(world: World) -> str:
    world.cloud.admin.set_confluent_answering(ALIASES["az3"], False)
    if world.option == "haproxy":
        return f"az3 {world.endpoint_ip('az3')}:9092 DOWN"
    return f"{world.endpoint_ip('az3')}: Down"


def _instance_down(world: World) -> str:
    executor = world.cloud.arm.executor
    assert isinstance(executor, ConfigExecutor)
    executor.stop_haproxy(world.vmss_id, "1")
    return "instance 1: HAProxy does not answer"


BREAKS: dict[str, tuple[Callable[[World], str], str]] = {
    "endpoint-removed": (_remove_endpoint, "privateEndpoints"),
    "dns-record-wrong": (_wrong_dns_record, "dnsRecords"),
    "rule-disconnected": (_disconnect_rule, "nccRule"),
    "backend-unreachable": (_confluent_silent, "backends"),
    "instance-down": (_instance_down, "proxy"),
}


def _repair(world: World) -> None:
    world.cloud.admin.set_confluent_answering(ALIASES["az3"], True)
    executor = world.cloud.arm.executor
    if isinstance(executor, ConfigExecutor):
        executor.haproxy_down.clear()


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_the_diagnosis_names_exactly_the_broken_hop(world: World, case: str) -> None:
    if case == "instance-down" and world.option != "haproxy":
        pytest.skip("an Application Gateway has no instances of ours")
    assert set(verdicts(world.diagnose("before")).values()) == {"Healthy"}
    breaker, broken_hop = BREAKS[case]
    try:
        said = breaker(world)
        outcome = world.diagnose("after")
    finally:
        _repair(world)

    diagnosis = dump_status(outcome.status)["diagnosis"]
    assert diagnosis["firstBrokenHop"] == broken_hop, diagnosis["hops"]
    assert diagnosis["request"] == "after"
    found = verdicts(outcome)
    # Every hop in path order before the broken one is still Healthy.
    for hop in DATA_PATH_HOPS[: DATA_PATH_HOPS.index(broken_hop)]:
        assert found[hop] == "Healthy", (hop, diagnosis["hops"])
    (message,) = [h["message"] for h in diagnosis["hops"] if h["hop"] == broken_hop]
    assert said in message
    healthy = data_path_healthy(outcome)
    assert (healthy["status"], healthy["reason"]) == ("False", "HopBroken")
    assert healthy["message"].startswith(f"{broken_hop}: ")
    (event,) = outcome.events
    assert (event.type, event.reason) == ("Warning", "DataPathDiagnosed") and broken_hop in event.message


def test_the_condition_survives_a_reconcile_pass_and_ready_does_not_follow_it(gateway_world: World) -> None:
    world = gateway_world
    try:
        _confluent_silent(world)
        world.diagnose("x")
        outcome = transit.reconcile(copy.deepcopy(world.body), copy.deepcopy(world.cpl), world.ctx)
    finally:
        _repair(world)

    status = dump_status(outcome.status)
    assert cond.is_true(outcome.status.conditions, cond.READY)  # GitOps health does not flap
    assert data_path_healthy(outcome)["status"] == "False"
    assert status["diagnosis"]["firstBrokenHop"] == "backends"
