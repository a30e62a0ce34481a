"""plan.transit.appgw: public IP, gateway NSG, the Application Gateway body and the NCC rule (option A)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from transit_operator.api.v1alpha1 import ConfluentPrivateLink, ServerlessTransit
from transit_operator.plan import CONFLUENT_PRIVATE_LINK, build_plan
from transit_operator.plan.command import run_plan
from transit_operator.plan.ids import (
    APPLICATION_GATEWAYS,
    NETWORK_SECURITY_GROUPS,
    PUBLIC_IP_ADDRESSES,
    parse_resource_id,
    same_id,
)
from transit_operator.plan.naming import PRIVATE_FRONTEND_NAME
from transit_operator.plan.transit.appgw import build_appgw_transit_plan

SUB = "00000000-0000-0000-0000-000000000001"
RG = "rg-transit"
VNET = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/virtualNetworks/vnet-transit"
GW_SUBNET = f"{VNET}/subnets/snet-appgw"
PL_SUBNET = f"{VNET}/subnets/snet-appgw-pl"
DOMAIN = "n-abc123.eastus2.azure.confluent.cloud"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "03-appgw-transit"
ALIAS = "s-{z}.{z}{z}{z}{z}{z}{z}{z}{z}-1111-1111-1111-111111111111.eastus2.azure.privatelinkservice"


def make_cpl(zones: dict[str, tuple[str | None, str | None]] | None = None) -> ConfluentPrivateLink:
    """A 3-zone ConfluentPrivateLink; `zones` maps zone -> (connection state, private IP) for its status."""
    doc: dict[str, Any] = {
        "apiVersion": "transit.privatelink.io/v1alpha1",
        "kind": "ConfluentPrivateLink",
        "metadata": {"name": "confluent-prod", "namespace": "kafka"},
        "spec": {
            "azure": {"subscriptionId": SUB, "resourceGroup": RG, "location": "eastus2"},
            "confluent": {
                "networkId": "n-abc123",
                "dnsDomain": DOMAIN,
                "bootstrapServer": f"lkc-xyz789.{DOMAIN}:9092",
                "zones": [
                    {"name": f"az{n}", "privateLinkServiceAlias": ALIAS.format(z=n)} for n in (1, 2, 3)
                ],
            },
            "privateEndpoints": {"subnetId": f"{VNET}/subnets/snet-confluent-pe"},
        },
    }
    if zones is not None:
        doc["status"] = {
            "zones": [
                {"name": name, "connectionState": state, "privateIp": ip}
                for name, (state, ip) in zones.items()
            ]
        }
    return ConfluentPrivateLink.model_validate(doc)


def make_sxt(**overrides: Any) -> ServerlessTransit:
    app_gw = {"privateFrontendIp": "10.20.2.10", **overrides.pop("applicationGateway", {})}
    spec = {
        "option": "applicationGateway",
        "confluentPrivateLinkRef": {"name": "confluent-prod"},
        "azure": {"subscriptionId": SUB, "resourceGroup": RG, "location": "eastus2"},
        "network": {"frontendSubnetId": GW_SUBNET, "privateLinkSubnetId": PL_SUBNET},
        "applicationGateway": app_gw,
        "databricks": {
            "accountId": "11111111-2222-3333-4444-555555555555",
            "ncc": {"name": "ncc-kafka"},
            "workspaceIds": [42],
        },
        **overrides,
    }
    return ServerlessTransit.model_validate(
        {
            "apiVersion": "transit.privatelink.io/v1alpha1",
            "kind": "ServerlessTransit",
            "metadata": {"name": "serverless-kafka", "namespace": "kafka"},
            "spec": spec,
        }
    )


APPROVED_3 = {
    "az1": ("Approved", "10.20.1.4"),
    "az2": ("Approved", "10.20.1.5"),
    "az3": ("Approved", "10.20.1.6"),
}


def gateway_props(sxt: ServerlessTransit, cpl: ConfluentPrivateLink | None) -> tuple[str, dict[str, Any]]:
    plan = build_appgw_transit_plan(sxt, cpl=cpl, uid="uid-1")
    (gateway,) = plan.resources_of_type(APPLICATION_GATEWAYS)
    return gateway.id, gateway.body["properties"]


def by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item["properties"] for item in items}


def test_plan_holds_public_ip_then_nsg_then_gateway_which_depends_on_both() -> None:
    plan = build_appgw_transit_plan(make_sxt(), cpl=make_cpl(APPROVED_3), uid="uid-1")
    assert [r.type for r in plan.azure] == [
        PUBLIC_IP_ADDRESSES,
        NETWORK_SECURITY_GROUPS,
        APPLICATION_GATEWAYS,
    ]
    public_ip, nsg, gateway = plan.azure
    assert gateway.dependsOn == [public_ip.id, nsg.id]
    assert all(r.apiVersion == "2026-03-01" for r in plan.azure)
    assert all(r.body["tags"]["transit-operator-uid"] == "uid-1" for r in plan.azure)
    assert all(r.body["location"] == "eastus2" for r in plan.azure)


def test_public_ip_is_standard_and_static() -> None:
    plan = build_appgw_transit_plan(make_sxt(), cpl=None, uid=None)
    (public_ip,) = plan.resources_of_type(PUBLIC_IP_ADDRESSES)
    assert public_ip.body["sku"] == {"name": "Standard", "tier": "Regional"}
    assert public_ip.body["properties"]["publicIPAllocationMethod"] == "Static"


def test_private_frontend_is_static_in_gateway_subnet_and_carries_the_private_link_configuration() -> None:
    gw_id, props = gateway_props(make_sxt(), make_cpl(APPROVED_3))
    frontends = by_name(props["frontendIPConfigurations"])
    private = frontends[PRIVATE_FRONTEND_NAME]
    assert private["privateIPAllocationMethod"] == "Static"
    assert private["privateIPAddress"] == "10.20.2.10"
    assert private["subnet"] == {"id": GW_SUBNET}
    assert private["privateLinkConfiguration"] == {"id": f"{gw_id}/privateLinkConfigurations/private-link"}
    (plc,) = props["privateLinkConfigurations"]
    (ip_config,) = plc["properties"]["ipConfigurations"]
    assert ip_config["properties"] == {
        "privateIPAllocationMethod": "Dynamic",
        "subnet": {"id": PL_SUBNET},
        "primary": True,
    }
    assert props["gatewayIPConfigurations"][0]["properties"]["subnet"] == {"id": GW_SUBNET}


def test_public_frontend_references_the_planned_public_ip() -> None:
    plan = build_appgw_transit_plan(make_sxt(), cpl=None, uid=None)
    (public_ip,) = plan.resources_of_type(PUBLIC_IP_ADDRESSES)
    (gateway,) = plan.resources_of_type(APPLICATION_GATEWAYS)
    frontends = by_name(gateway.body["properties"]["frontendIPConfigurations"])
    assert frontends["public-frontend"] == {"publicIPAddress": {"id": public_ip.id}}


@pytest.mark.parametrize(
    ("ports", "names"),
    [
        pytest.param([9092], ["tcp-9092"], id="kafka-only"),
        pytest.param([9092, 443], ["tcp-443", "tcp-9092"], id="kafka-and-rest"),
    ],
)
def test_one_tcp_listener_settings_and_rule_per_port_on_the_private_frontend(
    ports: list[int], names: list[str]
) -> None:
    gw_id, props = gateway_props(make_sxt(ports=ports), make_cpl(APPROVED_3))
    listeners = by_name(props["listeners"])
    settings = by_name(props["backendSettingsCollection"])
    rules = by_name(props["routingRules"])
    assert sorted(listeners) == sorted(settings) == sorted(rules) == names
    for port in ports:
        name = f"tcp-{port}"
        assert listeners[name]["protocol"] == "Tcp"
        assert listeners[name]["frontendIPConfiguration"] == {
            "id": f"{gw_id}/frontendIPConfigurations/{PRIVATE_FRONTEND_NAME}"
        }
        assert settings[name]["protocol"] == "Tcp"
        assert settings[name]["port"] == port
        assert rules[name]["ruleType"] == "Basic"
        assert rules[name]["listener"] == {"id": f"{gw_id}/listeners/{name}"}
    priorities = [rule["priority"] for rule in rules.values()]
    assert len(set(priorities)) == len(priorities)
    # L7 collections stay empty: the L4 ones are the only path.
    assert not props.get("httpListeners") and not props.get("requestRoutingRules")


def test_every_reference_inside_the_gateway_names_a_child_of_the_same_body() -> None:
    gw_id, props = gateway_props(make_sxt(ports=[9092, 9093]), make_cpl(APPROVED_3))
    refs: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if set(value) == {"id"} and value["id"].lower().startswith(gw_id.lower() + "/"):
                refs.append(value["id"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(props)
    assert (
        len(refs) == 1 + 2 * 5
    )  # private link config + (listener: fe, port; rule: listener, pool, settings)
    for ref in refs:
        ((collection, name),) = parse_resource_id(ref).children
        assert name in {item["name"] for item in props[collection]}, ref


@pytest.mark.parametrize(
    ("zones", "pool", "waiting"),
    [
        pytest.param(APPROVED_3, ["10.20.1.4", "10.20.1.5", "10.20.1.6"], [], id="three-approved-zones"),
        pytest.param(
            {**APPROVED_3, "az2": ("Pending", "10.20.1.5")},
            ["10.20.1.4", "10.20.1.6"],
            ["leaves out zones az2"],
            id="pending-zone-left-out",
        ),
        pytest.param(
            {**APPROVED_3, "az3": ("Approved", None)},
            ["10.20.1.4", "10.20.1.5"],
            ["leaves out zones az3"],
            id="zone-without-ip-left-out",
        ),
        pytest.param(None, [], ["backend pool is empty"], id="no-status-yet"),
    ],
)
def test_backend_pool_holds_every_approved_endpoint_ip(
    zones: dict[str, tuple[str | None, str | None]] | None, pool: list[str], waiting: list[str]
) -> None:
    plan = build_appgw_transit_plan(make_sxt(), cpl=make_cpl(zones), uid=None)
    (gateway,) = plan.resources_of_type(APPLICATION_GATEWAYS)
    (backend_pool,) = gateway.body["properties"]["backendAddressPools"]
    assert [a["ipAddress"] for a in backend_pool["properties"]["backendAddresses"]] == pool
    assert len(plan.waiting) == len(waiting)
    for sentence, fragment in zip(plan.waiting, waiting, strict=True):
        assert fragment in sentence


def test_endpoint_ip_change_changes_only_the_backend_pool() -> None:
    before = build_appgw_transit_plan(make_sxt(), cpl=make_cpl(APPROVED_3), uid="u")
    after = build_appgw_transit_plan(
        make_sxt(), cpl=make_cpl({**APPROVED_3, "az2": ("Approved", "10.20.1.9")}), uid="u"
    )
    changed = [
        (old.type, key)
        for old, new in zip(before.azure, after.azure, strict=True)
        for key in old.body["properties"]
        if old.body["properties"][key] != new.body["properties"][key]
    ]
    assert changed == [(APPLICATION_GATEWAYS, "backendAddressPools")]
    assert before.databricks == after.databricks


@pytest.mark.parametrize(
    ("app_gw", "sku", "waf"),
    [
        pytest.param({}, "Standard_v2", False, id="standard-v2-default"),
        pytest.param({"sku": "WAF_v2"}, "WAF_v2", True, id="waf-v2-gets-a-waf-configuration"),
    ],
)
def test_sku_is_v2_with_autoscale(app_gw: dict[str, Any], sku: str, waf: bool) -> None:
    _, props = gateway_props(
        make_sxt(applicationGateway={**app_gw, "minCapacity": 2, "maxCapacity": 5}), None
    )
    assert props["sku"] == {"name": sku, "tier": sku}
    assert "capacity" not in props["sku"]
    assert props["autoscaleConfiguration"] == {"minCapacity": 2, "maxCapacity": 5}
    assert ("webApplicationFirewallConfiguration" in props) is waf


@pytest.mark.parametrize(
    ("name", "access", "source", "ports"),
    [
        pytest.param(
            "allow-gateway-manager", "Allow", "GatewayManager", ["65200-65535"], id="gateway-manager"
        ),
        pytest.param("allow-azure-load-balancer", "Allow", "AzureLoadBalancer", ["*"], id="load-balancer"),
        pytest.param(
            "allow-vnet-listeners", "Allow", "VirtualNetwork", ["443", "9092"], id="vnet-on-listeners"
        ),
        pytest.param("deny-internet", "Deny", "Internet", ["*"], id="internet-denied"),
    ],
)
def test_gateway_nsg_locks_down_the_public_frontend(
    name: str, access: str, source: str, ports: list[str]
) -> None:
    plan = build_appgw_transit_plan(make_sxt(ports=[9092, 443]), cpl=None, uid=None)
    (nsg,) = plan.resources_of_type(NETWORK_SECURITY_GROUPS)
    rules = by_name(nsg.body["properties"]["securityRules"])
    rule = rules[name]
    assert (rule["access"], rule["direction"], rule["sourceAddressPrefix"]) == (access, "Inbound", source)
    assert rule.get("destinationPortRanges", [rule.get("destinationPortRange")]) == ports
    assert not ("destinationPortRange" in rule and "destinationPortRanges" in rule)
    deny = rules["deny-internet"]["priority"]
    assert all(r["priority"] < deny for n, r in rules.items() if r["access"] == "Allow")


def test_ncc_rule_targets_the_gateway_with_the_private_frontend_as_group_id() -> None:
    plan = build_appgw_transit_plan(make_sxt(), cpl=make_cpl(APPROVED_3), uid=None)
    (gateway,) = plan.resources_of_type(APPLICATION_GATEWAYS)
    actions = {a.type: a.body for a in plan.databricks}
    rule = actions["privateEndpointRule"]
    assert same_id(rule["resource_id"], gateway.id)
    assert rule["group_id"] == PRIVATE_FRONTEND_NAME
    assert rule["domain_names"] == [
        f"*.az1.{DOMAIN}",
        f"*.az2.{DOMAIN}",
        f"*.az3.{DOMAIN}",
        f"*.{DOMAIN}",
        f"lkc-xyz789.{DOMAIN}",
    ]
    assert actions["networkConnectivityConfig"] == {"name": "ncc-kafka", "region": "eastus2"}
    assert actions["workspaceBinding"]["workspace_id"] == 42


def test_without_the_confluent_private_link_the_rule_waits_and_the_pool_is_empty() -> None:
    plan = build_appgw_transit_plan(make_sxt(), cpl=None, uid=None)
    assert "privateEndpointRule" not in {a.type for a in plan.databricks}
    (gateway,) = plan.resources_of_type(APPLICATION_GATEWAYS)
    assert gateway.body["properties"]["backendAddressPools"][0]["properties"]["backendAddresses"] == []
    assert plan.waiting == [
        "the backend pool and the NCC private endpoint rule wait for ConfluentPrivateLink kafka/confluent-prod "
        "(not found)"
    ]


def test_refuses_a_haproxy_transit() -> None:
    sxt = make_sxt()
    sxt.spec.option = "haproxy"  # bypasses validation: a caller dispatching wrongly
    with pytest.raises(ValueError, match="not 'applicationGateway'"):
        build_appgw_transit_plan(sxt, cpl=None, uid=None)


def test_build_plan_dispatches_application_gateway_transits_here() -> None:
    cpl = make_cpl(APPROVED_3)
    plan = build_plan(make_sxt(), related={CONFLUENT_PRIVATE_LINK: cpl}, uid="u")
    assert plan == build_appgw_transit_plan(make_sxt(), cpl=cpl, uid="u")


def test_plan_command_on_the_example_prints_gateway_nsg_and_rule() -> None:
    out, err = io.StringIO(), io.StringIO()
    files = [str(EXAMPLE / "confluent-private-link.yaml"), str(EXAMPLE / "serverless-transit.yaml")]
    assert run_plan(files, "json", stdout=out, stderr=err) == 0, err.getvalue()
    plans = {p["kind"]: p for p in json.loads(out.getvalue())["plans"]}
    transit = plans["ServerlessTransit"]
    resources = {r["type"]: r for r in transit["azure"]}
    props = resources[APPLICATION_GATEWAYS]["body"]["properties"]
    private = by_name(props["frontendIPConfigurations"])[PRIVATE_FRONTEND_NAME]
    assert private["privateIPAllocationMethod"] == "Static" and "privateLinkConfiguration" in private
    assert "public-frontend" in by_name(props["frontendIPConfigurations"])
    assert props["privateLinkConfigurations"]
    assert [(li["properties"]["protocol"], li["name"]) for li in props["listeners"]] == [("Tcp", "tcp-9092")]
    assert {r["name"] for r in resources[NETWORK_SECURITY_GROUPS]["body"]["properties"]["securityRules"]} == {
        "allow-gateway-manager",
        "allow-azure-load-balancer",
        "allow-vnet-listeners",
        "deny-internet",
    }
    (rule,) = [a["body"] for a in transit["databricks"] if a["type"] == "privateEndpointRule"]
    assert rule["group_id"] == PRIVATE_FRONTEND_NAME
    assert rule["resource_id"] == resources[APPLICATION_GATEWAYS]["id"]
