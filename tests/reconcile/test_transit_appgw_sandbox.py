"""ServerlessTransit `option: applicationGateway` (reconcile.transit -> reconcile.transit.appgw) through the real SDK clients (azure-mgmt-network, databricks-sdk) against the
sandbox cloud: Ready, no write in steady state, one gateway update per endpoint IP change, Azure's App
Gateway rules surfacing as clear conditions, deletion with both policies. Writes are counted in the
emulators' request logs."""

from __future__ import annotations

import copy
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from azure.mgmt.network import NetworkManagementClient

from transit_operator.api.status import dump_status
from transit_operator.cloud.context import CloudContext, StaticTokenCredential
from transit_operator.plan import transit as transit_plans
from transit_operator.plan.naming import PRIVATE_FRONTEND_NAME, PUBLIC_FRONTEND_NAME
from transit_operator.plan.ownership import MANAGED_BY_TAG, Owner
from transit_operator.plan.transit.appgw import GatewayIds
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile import transit
from transit_operator.reconcile.outcome import Outcome
from transit_sandbox import conformance
from transit_sandbox.server import SandboxCloud

APPGW_TYPE = "Microsoft.Network/applicationGateways"
LOCATION = "westeurope"
DOMAIN = "n-abc123.westeurope.azure.confluent.cloud"
WORKSPACE_ID = 5550001
IPS = {"az1": "10.0.1.4", "az2": "10.0.1.5", "az3": "10.0.1.6"}


@pytest.fixture(scope="module")
def cloud() -> Iterator[SandboxCloud]:
    with SandboxCloud(check_conformance=True) as sandbox:
        sandbox.admin.set_lro_seconds(None, 0.05)
        sandbox.databricks.add_workspace(WORKSPACE_ID, LOCATION, "ws-appgw")
        yield sandbox
        violations = sandbox.admin.take_violations()  # every ARM exchange, judged against the specs
        assert violations == [], conformance.report(violations)


@pytest.fixture
def ctx(cloud: SandboxCloud) -> CloudContext:
    return CloudContext.for_sandbox(cloud.arm_url, cloud.ca_bundle, cloud.token, cloud.databricks_url)


@pytest.fixture
def network(cloud: SandboxCloud) -> NetworkManagementClient:
    return NetworkManagementClient(
        StaticTokenCredential(cloud.token),
        cloud.subscription_id,
        base_url=cloud.arm_url,
        connection_verify=cloud.ca_bundle,
        polling_interval=0.05,
    )


class World:
    """One test's resource group with a VNet (gateway subnet, private link subnet, endpoint subnet), a
    ConfluentPrivateLink body whose status carries Approved endpoint IPs, and the transit body."""

    def __init__(self, cloud: SandboxCloud, network: NetworkManagementClient, name: str) -> None:
        self.cloud = cloud
        self.network = network
        self.sub = cloud.subscription_id
        self.rg = f"rg-{name}"[:90]
        vnet = f"/subscriptions/{self.sub}/resourceGroups/{self.rg}/providers/Microsoft.Network/virtualNetworks/vnet"
        self.subnet = {n: f"{vnet}/subnets/{n}" for n in ("pe", "appgw", "appgwpl")}
        network.virtual_networks.begin_create_or_update(
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
                    ],
                },
            },
        ).result()
        self.cpl = self._cpl(IPS)
        self.body: dict[str, Any] = {
            "apiVersion": "transit.privatelink.io/v1alpha1",
            "kind": "ServerlessTransit",
            "metadata": {"name": "kafka", "namespace": name[:60].strip("-"), "uid": str(uuid.uuid4()), "generation": 1},
            "spec": {
                "option": "applicationGateway",
                "confluentPrivateLinkRef": {"name": "confluent"},
                "azure": {"subscriptionId": self.sub, "resourceGroup": self.rg, "location": LOCATION},
                "network": {
                    "frontendSubnetId": self.subnet["appgw"],
                    "privateLinkSubnetId": self.subnet["appgwpl"],
                },
                "applicationGateway": {"privateFrontendIp": "10.0.4.10"},
                "databricks": {
                    "accountId": cloud.databricks.account_id,
                    "ncc": {"name": f"ncc-{uuid.uuid4().hex[:12]}"},
                    "workspaceIds": [WORKSPACE_ID],
                },
            },
        }
        meta = self.body["metadata"]
        self.owner = Owner("ServerlessTransit", meta["namespace"], meta["name"], meta["uid"])
        self.events: list[Any] = []  # every pass's events, in order

    def _cpl(self, ips: dict[str, str]) -> dict[str, Any]:
        return {
            "apiVersion": "transit.privatelink.io/v1alpha1",
            "kind": "ConfluentPrivateLink",
            "metadata": {"name": "confluent", "namespace": "x"},
            "spec": {
                "azure": {"subscriptionId": self.sub, "resourceGroup": self.rg, "location": LOCATION},
                "confluent": {
                    "networkId": "n-abc123",
                    "dnsDomain": DOMAIN,
                    "bootstrapServer": f"lkc-xyz.{DOMAIN}:9092",
                    "zones": [
                        {
                            "name": zone,
                            "privateLinkServiceAlias": f"s-{zone}.0f6a1c5e-1a2b-4c3d-8e9f-00112233445{i}."
                            "westeurope.azure.privatelinkservice",
                        }
                        for i, zone in enumerate(sorted(IPS))
                    ],
                },
                "privateEndpoints": {"subnetId": self.subnet["pe"]},
            },
            "status": {
                "conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled", "message": ""}],
                "zones": [
                    {"name": zone, "connectionState": "Approved", "privateIp": ip}
                    for zone, ip in sorted(ips.items())
                ],
            },
        }

    def set_endpoint_ips(self, ips: dict[str, str]) -> None:
        self.cpl = self._cpl(ips)

    @property
    def gateway_id(self) -> str:
        from transit_operator.api.v1alpha1 import ServerlessTransit

        return GatewayIds.of(ServerlessTransit.model_validate(self.body).spec, self.owner).gateway

    def resource(self, resource_id: str) -> dict[str, Any] | None:
        return self.cloud.admin.resource(resource_id)


@pytest.fixture
def world(cloud: SandboxCloud, network: NetworkManagementClient, request: pytest.FixtureRequest) -> World:
    name = request.node.name.lower().replace("[", "-").replace("]", "").replace("_", "-")
    return World(cloud, network, name)


def reconcile_once(world: World, ctx: CloudContext) -> Outcome:
    outcome = transit.reconcile(copy.deepcopy(world.body), copy.deepcopy(world.cpl), ctx)
    world.body["status"] = written(outcome)
    world.events.extend(outcome.events)
    return outcome


def drive(world: World, ctx: CloudContext, *, passes: int = 60) -> Outcome:
    """Reconcile until Ready or Stalled (the runtime would wait `requeue_after`; the sandbox is fast)."""
    outcome = reconcile_once(world, ctx)
    for _ in range(passes):
        if cond.is_true(outcome.status.conditions, cond.READY) or cond.is_true(outcome.status.conditions, cond.STALLED):
            return outcome
        time.sleep(0.05)
        outcome = reconcile_once(world, ctx)
    raise AssertionError(f"neither Ready nor Stalled: {written(outcome)['conditions']}")


def written(outcome: Outcome) -> dict[str, Any]:
    """The status as the runtime writes it."""
    return dump_status(outcome.status)


def condition(outcome: Outcome, type_: str) -> dict[str, Any]:
    found = next((c for c in written(outcome)["conditions"] if c["type"] == type_), None)
    assert found is not None, type_
    return found


def arm_writes(cloud: SandboxCloud) -> list[tuple[str, str]]:
    return [(r.method, r.path.split("?")[0]) for r in cloud.admin.writes() if "/_sandbox/" not in r.path]


def databricks_writes(cloud: SandboxCloud) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in cloud.databricks.requests() if r.method != "GET"]


def gateway_writes(cloud: SandboxCloud, world: World) -> Counter[str]:
    """Writes of the gateway resource itself, by method (PUT: a configuration update; PATCH: tags only)."""
    return Counter(r.method for r in cloud.admin.writes() if r.path.lower() == world.gateway_id.lower())


def drain_events(outcome: Outcome) -> list[str]:
    return [e.message for e in outcome.events if e.reason == "GatewayUpdateDrainsConnections"]


def clear_logs(cloud: SandboxCloud) -> None:
    cloud.admin.clear_requests()
    cloud.databricks.clear_request_log()


# --- tests ------------------------------------------------------------------------------------------------


def test_reaches_ready_with_the_rule_established_on_the_private_frontend(
    world: World, ctx: CloudContext, cloud: SandboxCloud
) -> None:
    clear_logs(cloud)
    outcome = drive(world, ctx)

    assert gateway_writes(cloud, world) == {"PUT": 1}  # cold start: the gateway is created once
    assert written(outcome)["applicationGateway"] == {
        "updateInFlight": False, "configurationUpdates": 0, "lastUpdateChanges": []
    }

    assert condition(outcome, cond.READY)["status"] == "True", written(outcome)["conditions"]
    assert condition(outcome, cond.NCC_RULE_ESTABLISHED)["status"] == "True"
    status = written(outcome)
    assert status["privateLinkResourceId"] == world.gateway_id
    assert status["privateLinkGroupId"] == PRIVATE_FRONTEND_NAME
    assert status["backendIps"] == [IPS["az1"], IPS["az2"], IPS["az3"]]
    assert status["ncc"]["connectionState"] == "ESTABLISHED"
    assert status["ncc"]["workspaceIds"] == [WORKSPACE_ID]
    (rule,) = [r for r in cloud.databricks.rules.values() if r["rule_id"] == status["ncc"]["ruleId"]]
    assert rule["group_id"] == PRIVATE_FRONTEND_NAME
    assert rule["resource_id"].lower() == world.gateway_id.lower()
    # Exactly one connection on the gateway, the rule's, Approved.
    (connection,) = cloud.admin.connections(target_id=world.gateway_id)
    assert connection["status"] == "Approved"
    # The gateway subnet carries our NSG; the gateway is the planned one.
    subnet = world.network.subnets.get(world.rg, "vnet", "appgw")
    assert subnet.network_security_group.id.lower() == gateway_nsg_id_of(world).lower()
    gateway = world.resource(world.gateway_id)
    assert gateway is not None
    frontends = {f["name"]: f["properties"] for f in gateway["properties"]["frontendIPConfigurations"]}
    assert frontends[PRIVATE_FRONTEND_NAME]["privateIPAllocationMethod"] == "Static"
    assert [li["properties"]["protocol"] for li in gateway["properties"]["listeners"]] == ["Tcp"]


def test_private_link_on_the_public_frontend_when_asked(world: World, ctx: CloudContext, cloud: SandboxCloud) -> None:
    """`privateLinkFrontend: public`, for a region where TCP through private link on the private frontend does
    not work (unconfirmed either way): the private link configuration, the listener and the rule's group id
    move to the public frontend; the NSG still denies the Internet."""
    world.body["spec"]["applicationGateway"]["privateLinkFrontend"] = "public"

    outcome = drive(world, ctx)

    assert condition(outcome, cond.READY)["status"] == "True"
    assert written(outcome)["privateLinkGroupId"] == PUBLIC_FRONTEND_NAME
    (rule,) = [r for r in cloud.databricks.rules.values() if r["rule_id"] == written(outcome)["ncc"]["ruleId"]]
    assert rule["group_id"] == PUBLIC_FRONTEND_NAME
    gateway = world.resource(world.gateway_id) or {}
    linked = [f["name"] for f in gateway["properties"]["frontendIPConfigurations"]
              if f["properties"].get("privateLinkConfiguration")]
    assert linked == [PUBLIC_FRONTEND_NAME]
    (listener,) = gateway["properties"]["listeners"]
    assert listener["properties"]["frontendIPConfiguration"]["id"].endswith(f"/{PUBLIC_FRONTEND_NAME}")
    (connection,) = cloud.admin.connections(target_id=world.gateway_id)
    assert connection["status"] == "Approved"


def gateway_nsg_id_of(world: World) -> str:
    from transit_operator.api.v1alpha1 import ServerlessTransit

    return GatewayIds.of(ServerlessTransit.model_validate(world.body).spec, world.owner).nsg


def test_second_reconcile_makes_no_write(world: World, ctx: CloudContext, cloud: SandboxCloud) -> None:
    drive(world, ctx)
    clear_logs(cloud)

    outcome = reconcile_once(world, ctx)

    assert condition(outcome, cond.READY)["status"] == "True"
    assert arm_writes(cloud) == []
    assert gateway_writes(cloud, world) == {}  # no-op pass
    # what Azure filled in (sku.family) is not a difference
    assert (world.resource(world.gateway_id) or {})["properties"]["sku"]["family"] == "Generation_1"
    assert databricks_writes(cloud) == []
    assert outcome.requeue_after is None
    assert outcome.events == []
    # The read budget of a steady-state pass: public IP, NSG, subnet, gateway; NCC, rules, workspace.
    arm_reads = [r.path.split("?")[0].rsplit("/", 2)[-2] for r in cloud.admin.requests("GET")]
    assert sorted(arm_reads) == [
        "applicationGateways",
        "networkSecurityGroups",
        "publicIPAddresses",
        "subnets",
    ]
    assert len([r for r in cloud.databricks.requests() if r.method == "GET"]) <= 4


def test_endpoint_ip_change_is_exactly_one_gateway_update(
    world: World, ctx: CloudContext, cloud: SandboxCloud
) -> None:
    drive(world, ctx)
    clear_logs(cloud)
    world.set_endpoint_ips({**IPS, "az2": "10.0.1.9"})

    first = reconcile_once(world, ctx)  # the update starts: it will drain live connections, and says so
    in_flight = written(first)["applicationGateway"]
    outcome = drive(world, ctx)

    assert condition(outcome, cond.READY)["status"] == "True"
    assert arm_writes(cloud) == [("PUT", world.gateway_id)]
    assert gateway_writes(cloud, world) == {"PUT": 1}
    assert databricks_writes(cloud) == []
    assert written(outcome)["backendIps"] == ["10.0.1.4", "10.0.1.9", "10.0.1.6"]
    assert (in_flight["updateInFlight"], in_flight["configurationUpdates"]) == (True, 1)
    assert in_flight["lastUpdateChanges"] == ["properties.backendAddressPools[confluent].properties.backendAddresses"]
    (warning,) = drain_events(first)
    assert "backendAddressPools[confluent]" in warning and "30 s" in warning
    assert written(outcome)["applicationGateway"]["updateInFlight"] is False
    assert written(outcome)["applicationGateway"]["configurationUpdates"] == 1


def test_a_spec_change_touching_several_parts_with_an_ip_change_is_one_gateway_put(
    world: World, ctx: CloudContext, cloud: SandboxCloud
) -> None:
    drive(world, ctx)
    clear_logs(cloud)
    world.body["spec"]["ports"] = [9092, 9093]  # frontend port, listener, backend settings, routing rule
    world.body["spec"]["applicationGateway"]["maxCapacity"] = 4  # autoscale
    world.body["metadata"]["generation"] = 2
    world.set_endpoint_ips({**IPS, "az3": "10.0.1.8"})  # the backend pool, seen in the same pass

    world.events.clear()
    outcome = drive(world, ctx)

    assert condition(outcome, cond.READY)["status"] == "True"
    assert gateway_writes(cloud, world) == {"PUT": 1}
    changed = {path.split("[")[0].split(".")[1] for path in written(outcome)["applicationGateway"]["lastUpdateChanges"]}
    assert changed == {"autoscaleConfiguration", "frontendPorts", "listeners", "backendSettingsCollection",
                       "routingRules", "backendAddressPools"}
    assert len([e for e in world.events if e.reason == "GatewayUpdateDrainsConnections"]) == 1
    gateway = world.resource(world.gateway_id) or {}
    assert sorted(p["properties"]["port"] for p in gateway["properties"]["frontendPorts"]) == [9092, 9093]


def test_a_change_arriving_while_an_update_runs_waits_and_goes_in_the_next_put(
    world: World, ctx: CloudContext, cloud: SandboxCloud
) -> None:
    drive(world, ctx)
    cloud.admin.set_lro_seconds(APPGW_TYPE, 1.0)
    try:
        clear_logs(cloud)
        world.set_endpoint_ips({**IPS, "az1": "10.0.1.7"})
        reconcile_once(world, ctx)  # update 1 starts
        world.set_endpoint_ips({**IPS, "az1": "10.0.1.7", "az2": "10.0.1.10"})
        reconcile_once(world, ctx)  # the gateway is Updating: nothing is written
        assert gateway_writes(cloud, world) == {"PUT": 1}
    finally:
        cloud.admin.set_lro_seconds(APPGW_TYPE, 0.05)
    outcome = drive(world, ctx)

    assert gateway_writes(cloud, world) == {"PUT": 2}
    assert written(outcome)["backendIps"] == ["10.0.1.7", "10.0.1.10", "10.0.1.6"]


def test_our_tags_restored_on_an_untouched_gateway_are_a_tags_patch_not_a_put(
    world: World, ctx: CloudContext, cloud: SandboxCloud, network: NetworkManagementClient
) -> None:
    drive(world, ctx)
    network.application_gateways.update_tags(world.rg, world.gateway_id.rsplit("/", 1)[1], {"tags": {}})
    clear_logs(cloud)

    outcome = drive(world, ctx)

    assert condition(outcome, cond.READY)["status"] == "True"
    assert gateway_writes(cloud, world) == {"PATCH": 1}
    assert drain_events(outcome) == []
    assert (world.resource(world.gateway_id) or {})["tags"][MANAGED_BY_TAG] == "transit-operator"


def test_gateway_provisioning_does_not_block_a_pass(
    world: World, ctx: CloudContext, cloud: SandboxCloud
) -> None:
    cloud.admin.set_lro_seconds(APPGW_TYPE, 10.0)
    try:
        outcome = reconcile_once(world, ctx)
        while world.resource(world.gateway_id) is None:
            outcome = reconcile_once(world, ctx)
        outcome = reconcile_once(world, ctx)
        # Had a pass waited for the gateway's operation, the gateway would be provisioned by now.
        state = ((world.resource(world.gateway_id) or {}).get("properties") or {}).get("provisioningState")
        assert state != "Succeeded", "a pass waited for the gateway's long-running operation"
        ready = condition(outcome, cond.READY)
        assert (ready["status"], ready["reason"]) == ("False", "Provisioning")
        assert "application gateway" in ready["message"]
        assert outcome.requeue_after is not None and outcome.requeue_after > 0
        # While the gateway is Updating, a pass writes nothing.
        clear_logs(cloud)
        reconcile_once(world, ctx)
        assert arm_writes(cloud) == []
    finally:
        cloud.admin.set_lro_seconds(APPGW_TYPE, 0.05)
    deadline = time.monotonic() + 60
    while ((world.resource(world.gateway_id) or {}).get("properties") or {}).get("provisioningState") != "Succeeded":
        assert time.monotonic() < deadline, "the gateway's operation never finished"
        time.sleep(0.2)
    assert condition(drive(world, ctx), cond.READY)["status"] == "True"


def _dynamic_private_frontend(body: dict[str, Any]) -> None:
    for frontend in body["properties"]["frontendIPConfigurations"]:
        if frontend["name"] == PRIVATE_FRONTEND_NAME:
            frontend["properties"]["privateIPAllocationMethod"] = "Dynamic"
            frontend["properties"].pop("privateIPAddress")


def _v1_sku(body: dict[str, Any]) -> None:
    body["properties"]["sku"] = {"name": "Standard_Medium", "tier": "Standard", "capacity": 2}
    body["properties"].pop("autoscaleConfiguration")


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        pytest.param(
            _dynamic_private_frontend,
            "ApplicationGatewayPrivateIpMustBeStatic",
            id="dynamic-private-frontend",
        ),
        pytest.param(_v1_sku, "ApplicationGatewayFeatureRequiresV2Sku", id="v1-sku"),
    ],
)
def test_gateway_body_azure_refuses_is_reported_as_stalled_with_azures_code(
    world: World,
    ctx: CloudContext,
    cloud: SandboxCloud,
    monkeypatch: pytest.MonkeyPatch,
    mutate: Any,
    code: str,
) -> None:
    """The API model never produces these bodies; a builder bug that did would meet Azure's refusal, and the
    user would read Azure's code verbatim in Ready/Stalled."""
    real = transit_plans.PLANS["applicationGateway"]

    def broken_plan(*args: Any, **kwargs: Any) -> Any:
        plan = real(*args, **kwargs)
        gateway = plan.resources_of_type(APPGW_TYPE)[0]
        mutate(gateway.body)
        return plan

    monkeypatch.setitem(transit_plans.PLANS, "applicationGateway", broken_plan)
    outcome = drive(world, ctx)

    stalled = condition(outcome, cond.STALLED)
    assert (stalled["status"], stalled["reason"]) == ("True", "CloudError")
    assert code in stalled["message"] and "application gateway" in stalled["message"]
    assert world.resource(world.gateway_id) is None
    assert any(e.type == "Warning" and code in e.message for e in outcome.events)


@pytest.mark.parametrize(
    ("app_gw", "path"),
    [
        pytest.param({"sku": "Standard_Medium"}, "spec.applicationGateway.sku", id="v1-sku-in-spec"),
        pytest.param(
            {"privateFrontendIp": "8.8.8.8"}, "spec.applicationGateway.privateFrontendIp", id="public-ip"
        ),
    ],
)
def test_spec_azure_would_refuse_is_stalled_before_any_call(
    world: World, ctx: CloudContext, cloud: SandboxCloud, app_gw: dict[str, Any], path: str
) -> None:
    world.body["spec"]["applicationGateway"].update(app_gw)
    clear_logs(cloud)

    outcome = reconcile_once(world, ctx)

    stalled = condition(outcome, cond.STALLED)
    assert (stalled["status"], stalled["reason"]) == ("True", "InvalidSpec")
    assert stalled["message"].startswith(path)
    assert cloud.admin.requests() == []


def test_untagged_public_ip_of_the_same_name_is_adopted(
    world: World, ctx: CloudContext, network: NetworkManagementClient
) -> None:
    from transit_operator.api.v1alpha1 import ServerlessTransit

    pip_id = GatewayIds.of(ServerlessTransit.model_validate(world.body).spec, world.owner).public_ip
    network.public_ip_addresses.begin_create_or_update(
        world.rg,
        pip_id.rsplit("/", 1)[-1],
        {
            "location": LOCATION,
            "sku": {"name": "Standard"},
            "properties": {"publicIPAllocationMethod": "Static"},
        },
    ).result()

    first = reconcile_once(world, ctx)
    outcome = drive(world, ctx)

    assert [e.message for e in first.events if e.reason == "Adopted"] == [
        f"Adopted public IP {pip_id.rsplit('/', 1)[-1]}"
    ]
    assert condition(outcome, cond.READY)["status"] == "True"
    assert (world.resource(pip_id) or {}).get("tags", {}).get(MANAGED_BY_TAG) == "transit-operator"


def test_rejected_connection_is_stalled_with_the_reason(
    world: World, ctx: CloudContext, cloud: SandboxCloud
) -> None:
    drive(world, ctx)
    (connection,) = cloud.admin.connections(target_id=world.gateway_id)
    cloud.admin.set_connection_state(world.gateway_id, connection["name"], "Rejected", "not today")

    outcome = drive(world, ctx)

    stalled = condition(outcome, cond.STALLED)
    assert (stalled["status"], stalled["reason"]) == ("True", "ConnectionRejected")
    assert "reapproveRejected" in stalled["message"]
    assert condition(outcome, cond.NCC_RULE_ESTABLISHED)["status"] == "False"


def finalize_until_done(world: World, ctx: CloudContext, *, passes: int = 80) -> Outcome:
    for _ in range(passes):
        outcome = transit.finalize(copy.deepcopy(world.body), ctx)
        world.body["status"] = written(outcome)
        if outcome.done:
            return outcome
        time.sleep(0.05)
    raise AssertionError(f"finalize not done: {written(outcome)['conditions']}")


def test_delete_policy_removes_rule_gateway_nsg_and_public_ip(
    world: World, ctx: CloudContext, cloud: SandboxCloud
) -> None:
    from transit_operator.api.v1alpha1 import ServerlessTransit

    outcome = drive(world, ctx)
    rule_id = written(outcome)["ncc"]["ruleId"]
    spec = ServerlessTransit.model_validate(world.body).spec

    finalize_until_done(world, ctx)

    for resource_id in (world.gateway_id, GatewayIds.of(spec, world.owner).nsg, GatewayIds.of(spec, world.owner).public_ip):
        assert world.resource(resource_id) is None, resource_id
    subnet = world.network.subnets.get(world.rg, "vnet", "appgw")
    assert subnet.network_security_group is None
    rule = cloud.databricks.rules.get(rule_id)
    assert rule is None or rule["deactivated"]


def test_orphan_policy_leaves_everything_without_our_tags(
    world: World, ctx: CloudContext, cloud: SandboxCloud
) -> None:
    from transit_operator.api.v1alpha1 import ServerlessTransit

    world.body["spec"]["deletionPolicy"] = "Orphan"
    outcome = drive(world, ctx)
    rule_id = written(outcome)["ncc"]["ruleId"]
    spec = ServerlessTransit.model_validate(world.body).spec

    clear_logs(cloud)
    finalize_until_done(world, ctx)

    assert gateway_writes(cloud, world) == {"PATCH": 1}  # tags only: released without draining connections
    for resource_id in (world.gateway_id, GatewayIds.of(spec, world.owner).nsg, GatewayIds.of(spec, world.owner).public_ip):
        seen = world.resource(resource_id)
        assert seen is not None, resource_id
        assert MANAGED_BY_TAG not in {k.lower() for k in (seen.get("tags") or {})}, resource_id
    assert not cloud.databricks.rules[rule_id]["deactivated"]
    (connection,) = cloud.admin.connections(target_id=world.gateway_id)
    assert connection["status"] == "Approved"
