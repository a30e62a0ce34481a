"""ServerlessTransit option haproxy (plan.transit.haproxy) and the Databricks bodies (plan.ncc)."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
import yaml
from test_plan_confluent import ALL_APPROVED, DOMAIN, NET, SUB, cpl_doc, with_status

from transit_operator.api.errors import InvalidSpec
from transit_operator.api.v1alpha1 import ConfluentNetwork, ConfluentPrivateLink, ServerlessTransit
from transit_operator.plan import build_plan, ids
from transit_operator.plan.model import Plan
from transit_operator.plan.ncc import build_private_endpoint_rule_body, derive_domain_names
from transit_operator.plan.ownership import OWNER_TAG
from transit_operator.plan.transit.haproxy import health_port_for

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholder ops@example.com"


def sxt_doc(**spec_overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "transit.privatelink.io/v1alpha1",
        "kind": "ServerlessTransit",
        "metadata": {"name": "transit", "namespace": "data"},
        "spec": {
            "option": "haproxy",
            "confluentPrivateLinkRef": {"name": "confluent"},
            "azure": {"subscriptionId": SUB, "resourceGroup": "rg-t", "location": "eastus2"},
            "network": {"frontendSubnetId": f"{NET}/subnets/fe", "privateLinkSubnetId": f"{NET}/subnets/pls"},
            "haproxy": {"sshPublicKey": KEY},
            "databricks": {
                "accountId": "22222222-3333-4444-5555-666666666666",
                "ncc": {"name": "ncc-x"},
                "workspaceIds": [42, 7],
            },
        },
    }
    doc["spec"].update(spec_overrides)
    return doc


def plan_of(sxt: dict[str, Any], cpl: dict[str, Any] | None) -> Plan:
    related = {"confluentPrivateLink": ConfluentPrivateLink.model_validate(cpl) if cpl else None}
    return build_plan(ServerlessTransit.model_validate(sxt), related=related)


def one(plan: Plan, type_: str) -> dict[str, Any]:
    (res,) = plan.resources_of_type(type_)
    return res.body


@pytest.fixture
def plan3() -> Plan:
    return plan_of(sxt_doc(), with_status(cpl_doc(3), *ALL_APPROVED))


def test_plan_has_nsg_lb_pls_vmss_in_dependency_order(plan3):
    assert [r.type for r in plan3.azure] == [
        ids.NETWORK_SECURITY_GROUPS,
        ids.LOAD_BALANCERS,
        ids.PRIVATE_LINK_SERVICES,
        ids.VIRTUAL_MACHINE_SCALE_SETS,
    ]
    seen: set[str] = set()
    for res in plan3.azure:
        assert set(res.dependsOn) <= seen
        seen.add(res.id)
        assert res.body["tags"][OWNER_TAG] == "ServerlessTransit/data/transit"
    assert plan3.waiting == []


def test_load_balancer_is_standard_with_nic_pool_http_probe_and_long_idle_rules():
    plan = plan_of(sxt_doc(ports=[9093, 9092]), with_status(cpl_doc(3), *ALL_APPROVED))
    lb = one(plan, ids.LOAD_BALANCERS)
    lb_id = plan.resources_of_type(ids.LOAD_BALANCERS)[0].id
    assert lb["sku"] == {"name": "Standard", "tier": "Regional"}
    props = lb["properties"]
    (frontend,) = props["frontendIPConfigurations"]
    assert frontend["properties"]["privateIPAllocationMethod"] == "Dynamic"
    assert frontend["properties"]["subnet"] == {"id": f"{NET}/subnets/fe"}
    assert props["backendAddressPools"] == [{"name": "haproxy"}]  # NIC-based: no addresses
    (probe,) = props["probes"]
    assert probe["properties"]["protocol"] == "Http" and probe["properties"]["requestPath"] == "/healthz"
    assert probe["properties"]["port"] == 8404
    assert [r["properties"]["frontendPort"] for r in props["loadBalancingRules"]] == [9092, 9093]
    for rule in props["loadBalancingRules"]:
        p = rule["properties"]
        assert p["backendPort"] == p["frontendPort"] and p["protocol"] == "Tcp"
        assert (
            p["idleTimeoutInMinutes"],
            p["enableTcpReset"],
            p["enableFloatingIP"],
            p["disableOutboundSnat"],
        ) == (30, True, False, True)
        assert p["frontendIPConfiguration"]["id"] == f"{lb_id}/frontendIPConfigurations/frontend"
        assert p["backendAddressPool"]["id"] == f"{lb_id}/backendAddressPools/haproxy"
        assert p["probe"]["id"] == f"{lb_id}/probes/haproxy-health"


def test_private_link_service_fronts_the_lb_frontend_without_auto_approval(plan3):
    pls = one(plan3, ids.PRIVATE_LINK_SERVICES)["properties"]
    lb_id = plan3.resources_of_type(ids.LOAD_BALANCERS)[0].id
    assert pls["loadBalancerFrontendIpConfigurations"] == [
        {"id": f"{lb_id}/frontendIPConfigurations/frontend"}
    ]
    (nat,) = pls["ipConfigurations"]
    assert (
        nat["properties"]["subnet"] == {"id": f"{NET}/subnets/pls"} and nat["properties"]["primary"] is True
    )
    assert pls["visibility"] == {"subscriptions": ["*"]}
    assert "autoApproval" not in pls


def test_private_link_visibility_lists_the_given_subscriptions():
    sxt = sxt_doc(haproxy={"sshPublicKey": KEY, "privateLinkVisibility": [SUB]})
    pls = one(plan_of(sxt, cpl_doc()), ids.PRIVATE_LINK_SERVICES)["properties"]
    assert pls["visibility"] == {"subscriptions": [SUB]}


def test_vmss_is_uniform_manual_zonal_with_cloud_init_and_pool_membership(plan3):
    res = plan3.resources_of_type(ids.VIRTUAL_MACHINE_SCALE_SETS)[0]
    assert res.apiVersion == "2026-04-01"
    body = res.body
    assert body["sku"] == {"name": "Standard_D2s_v5", "tier": "Standard", "capacity": 2}
    assert body["zones"] == ["1", "2", "3"]
    props = body["properties"]
    assert props["orchestrationMode"] == "Uniform" and props["upgradePolicy"] == {"mode": "Manual"}
    os_profile = props["virtualMachineProfile"]["osProfile"]
    assert os_profile["adminUsername"] == "transit"
    assert os_profile["linuxConfiguration"]["disablePasswordAuthentication"] is True
    assert os_profile["linuxConfiguration"]["ssh"]["publicKeys"] == [
        {"path": "/home/transit/.ssh/authorized_keys", "keyData": KEY}
    ]
    assert base64.b64decode(os_profile["customData"]).decode() == plan3.files["cloud-init.yaml"]
    assert props["virtualMachineProfile"]["storageProfile"]["imageReference"]["offer"] == "debian-12"
    (nic,) = props["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"]
    nsg_id = plan3.resources_of_type(ids.NETWORK_SECURITY_GROUPS)[0].id
    assert nic["properties"]["networkSecurityGroup"] == {"id": nsg_id}
    (ipc,) = nic["properties"]["ipConfigurations"]
    lb_id = plan3.resources_of_type(ids.LOAD_BALANCERS)[0].id
    assert ipc["properties"]["loadBalancerBackendAddressPools"] == [
        {"id": f"{lb_id}/backendAddressPools/haproxy"}
    ]
    assert ipc["properties"]["subnet"] == {"id": f"{NET}/subnets/fe"}


def test_nsg_allows_probes_and_vnet_and_denies_internet(plan3):
    rules = {
        r["name"]: r["properties"]
        for r in one(plan3, ids.NETWORK_SECURITY_GROUPS)["properties"]["securityRules"]
    }
    assert rules["allow-lb-probe"]["sourceAddressPrefix"] == "AzureLoadBalancer"
    assert rules["allow-lb-probe"]["destinationPortRanges"] == ["8404"]
    assert rules["allow-vnet-kafka"]["sourceAddressPrefix"] == "VirtualNetwork"
    assert rules["allow-vnet-kafka"]["destinationPortRanges"] == ["9092"]
    assert rules["deny-internet-inbound"]["access"] == "Deny"
    assert len({r["priority"] for r in rules.values()}) == 3


def test_files_render_every_approved_zone(plan3):
    cfg = plan3.files["haproxy.cfg"]
    for ip in ("10.0.0.4", "10.0.0.5", "10.0.0.6"):
        assert f"{ip}:9092" in cfg
    assert yaml.safe_load(plan3.files["cloud-init.yaml"])["packages"] == ["haproxy"]
    assert plan3.files["apply-haproxy.sh"].startswith("#!/bin/bash")


def test_without_endpoint_ips_every_body_is_rendered_and_waiting_says_why():
    plan = plan_of(sxt_doc(), cpl_doc(3))
    assert len(plan.azure) == 4
    assert (
        "customData"
        in one(plan, ids.VIRTUAL_MACHINE_SCALE_SETS)["properties"]["virtualMachineProfile"]["osProfile"]
    )
    assert "    server az" not in plan.files["haproxy.cfg"]
    (waiting,) = plan.waiting
    assert "az1, az2, az3" in waiting and "ConfluentPrivateLink data/confluent" in waiting


def test_partial_ips_leave_out_the_waiting_zones():
    plan = plan_of(sxt_doc(), with_status(cpl_doc(3), ALL_APPROVED[0]))
    assert "10.0.0.4:9092" in plan.files["haproxy.cfg"]
    assert "zones az2, az3" in plan.waiting[0]


def test_without_the_confluent_private_link_the_rule_and_custom_data_wait():
    plan = plan_of(sxt_doc(), None)
    assert [a.type for a in plan.databricks] == [
        "networkConnectivityConfig",
        "workspaceBinding",
        "workspaceBinding",
    ]
    assert (
        "customData"
        not in one(plan, ids.VIRTUAL_MACHINE_SCALE_SETS)["properties"]["virtualMachineProfile"]["osProfile"]
    )
    assert plan.files == {}
    assert "not found" in plan.waiting[0]


def test_databricks_actions_create_ncc_rule_to_pls_and_bind_each_workspace(plan3):
    pls_id = plan3.resources_of_type(ids.PRIVATE_LINK_SERVICES)[0].id
    assert [(a.type, a.body) for a in plan3.databricks] == [
        ("networkConnectivityConfig", {"name": "ncc-x", "region": "eastus2"}),
        (
            "privateEndpointRule",
            {
                "resource_id": pls_id,
                "domain_names": [
                    f"*.az1.{DOMAIN}",
                    f"*.az2.{DOMAIN}",
                    f"*.az3.{DOMAIN}",
                    f"*.{DOMAIN}",
                    f"lkc-1.{DOMAIN}",
                ],
            },
        ),
        ("workspaceBinding", {"workspace_id": 7, "network_connectivity_config_id": None}),
        ("workspaceBinding", {"workspace_id": 42, "network_connectivity_config_id": None}),
    ]


def test_adopted_ncc_is_not_created_and_its_id_is_bound():
    ncc_id = "33333333-4444-5555-6666-777777777777"
    sxt = sxt_doc()
    sxt["spec"]["databricks"]["ncc"] = {"id": ncc_id, "region": "westus"}
    plan = plan_of(sxt, cpl_doc())
    assert [a.type for a in plan.databricks] == [
        "privateEndpointRule",
        "workspaceBinding",
        "workspaceBinding",
    ]
    assert plan.databricks[1].body["network_connectivity_config_id"] == ncc_id


def test_created_ncc_id_from_status_is_bound():
    sxt = sxt_doc()
    sxt["status"] = {"ncc": {"id": "ncc-123"}}
    assert plan_of(sxt, cpl_doc()).databricks[-1].body["network_connectivity_config_id"] == "ncc-123"


@pytest.mark.parametrize(
    ("zones", "extra", "expected"),
    [
        pytest.param(1, [], [f"*.az1.{DOMAIN}", f"*.{DOMAIN}", f"lkc-1.{DOMAIN}"], id="single-zone"),
        pytest.param(
            3,
            ["kafka.example.com", f"*.{DOMAIN}", "KAFKA.example.com"],
            [
                f"*.az1.{DOMAIN}",
                f"*.az2.{DOMAIN}",
                f"*.az3.{DOMAIN}",
                f"*.{DOMAIN}",
                "kafka.example.com",
                f"lkc-1.{DOMAIN}",
            ],
            id="extras-deduplicated-and-sorted",
        ),
    ],
)
def test_derive_domain_names(zones, extra, expected):
    network = ConfluentNetwork.model_validate(cpl_doc(zones)["spec"]["confluent"])
    assert derive_domain_names(network, extra) == expected


@pytest.mark.parametrize("name", ["kafka.internal", "broker.local", "x.test", "x.localhost", "bare"])
def test_derive_domain_names_refuses_reserved_top_level_domains(name):
    network = ConfluentNetwork.model_validate(cpl_doc(1)["spec"]["confluent"])
    with pytest.raises(ValueError, match="refused by Databricks"):
        derive_domain_names(network, [name])


def test_rule_body_takes_domain_names_or_group_id_not_both():
    assert build_private_endpoint_rule_body("/x", group_id="fe") == {"resource_id": "/x", "group_id": "fe"}
    with pytest.raises(ValueError):
        build_private_endpoint_rule_body("/x", domain_names=["a.com"], group_id="fe")
    with pytest.raises(ValueError):
        build_private_endpoint_rule_body("/x")


def test_health_port_moves_when_a_kafka_port_takes_it():
    assert health_port_for([9092]) == 8404
    assert health_port_for([8404, 8405]) == 8406
    plan = plan_of(sxt_doc(ports=[8404]), cpl_doc())
    assert one(plan, ids.LOAD_BALANCERS)["properties"]["probes"][0]["properties"]["port"] == 8405


def test_single_zone_instances_in_one_availability_zone():
    sxt = sxt_doc(haproxy={"sshPublicKey": KEY, "instanceCount": 1, "zones": ["2"]})
    body = one(plan_of(sxt, with_status(cpl_doc(1), ALL_APPROVED[0])), ids.VIRTUAL_MACHINE_SCALE_SETS)
    assert body["zones"] == ["2"] and body["sku"]["capacity"] == 1


def test_transit_plan_is_deterministic():
    cpl = with_status(cpl_doc(3), *ALL_APPROVED)
    assert (
        plan_of(sxt_doc(), cpl).model_dump()
        == plan_of(copy.deepcopy(sxt_doc()), copy.deepcopy(cpl)).model_dump()
    )


def with_status_endpoint(name: str, port: int = 8080, **databricks: Any) -> dict[str, Any]:
    sxt = sxt_doc()
    sxt["spec"]["haproxy"]["statusEndpoint"] = {"domainName": name, "port": port}
    sxt["spec"]["databricks"].update(databricks)
    return sxt


def test_status_endpoint_gets_an_lb_rule_with_its_own_tcp_probe_nsg_rules_and_a_frontend():
    plan = plan_of(with_status_endpoint("transit-status.contoso.com"), with_status(cpl_doc(3), *ALL_APPROVED))
    lb = one(plan, ids.LOAD_BALANCERS)["properties"]
    rules = {r["name"]: r["properties"] for r in lb["loadBalancingRules"]}
    probes = {p["name"]: p["properties"] for p in lb["probes"]}
    assert rules["status"]["frontendPort"] == rules["status"]["backendPort"] == 8080
    assert rules["status"]["probe"]["id"].endswith("/probes/haproxy-status")
    assert probes["haproxy-status"] == {"protocol": "Tcp", "port": 8080, "intervalInSeconds": 5, "probeThreshold": 2}
    assert rules["tcp-9092"]["probe"]["id"].endswith("/probes/haproxy-health")  # Kafka keeps the /healthz probe
    nsg = {r["name"]: r["properties"] for r in one(plan, ids.NETWORK_SECURITY_GROUPS)["properties"]["securityRules"]}
    assert nsg["allow-vnet-status"]["destinationPortRanges"] == ["8080"]
    assert nsg["allow-vnet-status"]["sourceAddressPrefix"] == "VirtualNetwork"
    assert nsg["allow-lb-probe"]["destinationPortRanges"] == ["8404", "8080"]
    assert "frontend transit_status" in plan.files["haproxy.cfg"] and "bind :8080" in plan.files["haproxy.cfg"]


def test_without_a_status_endpoint_nothing_of_it_is_planned(plan3):
    lb = one(plan3, ids.LOAD_BALANCERS)["properties"]
    assert [r["name"] for r in lb["loadBalancingRules"]] == ["tcp-9092"]
    assert [p["name"] for p in lb["probes"]] == ["haproxy-health"]
    assert "transit_status" not in plan3.files["haproxy.cfg"]


def rule_names(plan: Plan) -> list[str]:
    return next(a.body["domain_names"] for a in plan.databricks if a.type == "privateEndpointRule")


@pytest.mark.parametrize(
    ("name", "databricks", "added"),
    [
        pytest.param("transit-status.contoso.com", {}, True, id="own-name-added"),
        pytest.param(f"transit-status.{DOMAIN}", {}, False, id="covered-by-the-domain-wildcard"),
        pytest.param(f"x.az2.{DOMAIN}", {}, False, id="covered-by-a-zone-wildcard"),
        pytest.param("transit-status.contoso.com", {"domainNames": [f"lkc-1.{DOMAIN}", f"*.{DOMAIN}"]}, True,
                     id="added-to-exact-domain-names"),
    ],
)  # fmt: skip
def test_status_endpoint_name_goes_on_the_ncc_rule_unless_a_wildcard_covers_it(name, databricks, added):
    cpl = with_status(cpl_doc(3), *ALL_APPROVED)
    without = rule_names(plan_of(sxt_doc(databricks={**sxt_doc()["spec"]["databricks"], **databricks}), cpl))
    names = rule_names(plan_of(with_status_endpoint(name, **databricks), cpl))
    assert names == (sorted([*without, name]) if added else without)


def test_status_endpoint_name_over_the_ten_name_limit_is_refused_naming_its_field():
    exact = [f"b{i}.{DOMAIN}" for i in range(10)]
    sxt = ServerlessTransit.model_validate(with_status_endpoint("transit-status.contoso.com", domainNames=exact))
    cpl = ConfluentPrivateLink.model_validate(with_status(cpl_doc(3), *ALL_APPROVED))
    with pytest.raises(InvalidSpec, match="status endpoint's domain name would be the 11th") as err:
        build_plan(sxt, related={"confluentPrivateLink": cpl})
    assert err.value.field == "spec.haproxy.statusEndpoint.domainName"


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        pytest.param({"domainName": "transit-status.contoso.com", "port": 9092}, "also a Kafka port", id="kafka-port"),
        pytest.param({"domainName": "*.contoso.com"}, "domainName", id="wildcard"),
        pytest.param({"domainName": "status.transit.internal"}, "reserved", id="reserved-tld"),
        pytest.param({"domainName": "transit-status.contoso.com", "port": 0}, "port", id="port-range"),
    ],
)
def test_status_endpoint_bad_input_is_refused(endpoint, message):
    sxt = sxt_doc()
    sxt["spec"]["haproxy"]["statusEndpoint"] = endpoint
    with pytest.raises(ValueError, match=message):
        ServerlessTransit.model_validate(sxt)


def test_health_port_moves_when_the_status_port_takes_it():
    plan = plan_of(with_status_endpoint("transit-status.contoso.com", port=8404), with_status(cpl_doc(3), *ALL_APPROVED))
    probes = {p["name"]: p["properties"] for p in one(plan, ids.LOAD_BALANCERS)["properties"]["probes"]}
    assert probes["haproxy-health"]["port"] == 8405 and probes["haproxy-status"]["port"] == 8404
