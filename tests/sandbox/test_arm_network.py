"""Microsoft.Network through azure-mgmt-network 33.1: shapes, private link, and the platform rules."""

from __future__ import annotations

import copy
import time

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

SUB_OTHER = "9f0e6a55-0000-4000-8000-00000000beef"


def _error(call) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as err:
        result = call()
        if hasattr(result, "result"):
            result.result()
    return err.value


# --- private endpoints and private link services ------------------------------------------------------


def test_private_endpoint_gets_a_platform_nic_with_an_ip_from_its_subnet(topo, network_client) -> None:
    topo.create_lb()
    pls = topo.create_pls()
    pe = topo.create_pe("pe1", pls.id)
    nic_name = pe.network_interfaces[0].id.rsplit("/", 1)[1]
    assert nic_name.startswith("pe1.nic.")
    nic = network_client.network_interfaces.get(topo.rg, nic_name)
    assert nic.private_endpoint.id == pe.id
    assert nic.ip_configurations[0].subnet.id == topo.subnet("pe")
    assert nic.ip_configurations[0].private_ip_address == "10.0.1.4"  # .0-.3 are reserved by Azure
    subnet = network_client.subnets.get(topo.rg, "vnet", "pe")
    assert [p.id for p in subnet.private_endpoints] == [pe.id]
    assert [c.id for c in subnet.ip_configurations] == [nic.ip_configurations[0].id]
    # the VNet's view carries the same back-references on that subnet, and none on the others
    subnets = {s.name: s for s in network_client.virtual_networks.get(topo.rg, "vnet").subnets}
    assert [p.id for p in subnets["pe"].private_endpoints] == [pe.id]
    assert [c.id for c in subnets["pe"].ip_configurations] == [nic.ip_configurations[0].id]
    assert all(not s.private_endpoints and not s.ip_configurations for name, s in subnets.items() if name != "pe")


def test_manual_connection_is_pending_until_the_pls_owner_approves(topo, network_client) -> None:
    topo.create_lb()
    pls = topo.create_pls()
    pe = topo.create_pe("pe1", pls.id)
    state = pe.manual_private_link_service_connections[0].private_link_service_connection_state
    assert state.status == "Pending"
    connections = list(network_client.private_link_services.list_private_endpoint_connections(topo.rg, "pls"))
    assert [c.private_endpoint.id for c in connections] == [pe.id]
    assert connections[0].private_link_service_connection_state.status == "Pending"
    approved = network_client.private_link_services.update_private_endpoint_connection(
        topo.rg, "pls", connections[0].name,
        {"properties": {"privateLinkServiceConnectionState": {"status": "Approved", "description": "ok"}}})
    assert approved.private_link_service_connection_state.status == "Approved"
    pe = network_client.private_endpoints.get(topo.rg, "pe1")
    assert pe.manual_private_link_service_connections[0].private_link_service_connection_state.status == "Approved"


def test_pe_connects_by_alias_and_auto_approval_subscriptions_are_approved(topo, network_client) -> None:
    topo.create_lb()
    pls = topo.create_pls(auto_approve=[topo.sub])
    assert pls.alias.startswith("pls.") and pls.alias.endswith(".westeurope.azure.privatelinkservice")
    pe = topo.create_pe("pe1", pls.alias)
    assert pe.manual_private_link_service_connections[0].private_link_service_connection_state.status == "Approved"


def test_unknown_pls_id_is_refused(topo, network_client) -> None:
    err = _error(lambda: network_client.private_endpoints.begin_create_or_update(
        topo.rg, "pe1", topo.pe_body(topo.id("privateLinkServices", "missing"))))
    assert err.error.code == "ThirdPartyPrivateLinkServiceProvidedDuringPrivateEndpointCreationDoesNotExistOrIsNotVisible"


def test_target_removing_the_connection_leaves_the_endpoint_disconnected(topo, network_client) -> None:
    topo.create_lb()
    topo.create_pls()
    topo.create_pe("pe1", topo.id("privateLinkServices", "pls"))
    name = next(iter(network_client.private_link_services.list_private_endpoint_connections(topo.rg, "pls"))).name
    network_client.private_link_services.begin_delete_private_endpoint_connection(topo.rg, "pls", name).result()
    pe = network_client.private_endpoints.get(topo.rg, "pe1")
    assert pe.manual_private_link_service_connections[0].private_link_service_connection_state.status == "Disconnected"


def test_deleting_the_endpoint_removes_its_connection_and_nic(topo, network_client) -> None:
    topo.create_lb()
    topo.create_pls()
    pe = topo.create_pe("pe1", topo.id("privateLinkServices", "pls"))
    network_client.private_endpoints.begin_delete(topo.rg, "pe1").result()
    assert list(network_client.private_link_services.list_private_endpoint_connections(topo.rg, "pls")) == []
    with pytest.raises(ResourceNotFoundError):
        network_client.network_interfaces.get(topo.rg, pe.network_interfaces[0].id.rsplit("/", 1)[1])


def test_pe_nic_is_platform_managed(topo, network_client) -> None:
    topo.create_lb()
    topo.create_pls()
    pe = topo.create_pe("pe1", topo.id("privateLinkServices", "pls"))
    nic_name = pe.network_interfaces[0].id.rsplit("/", 1)[1]
    nic = network_client.network_interfaces.get(topo.rg, nic_name)
    err = _error(lambda: network_client.network_interfaces.begin_create_or_update(topo.rg, nic_name, nic))
    assert err.error.code == "OperationNotAllowed"
    err = _error(lambda: network_client.network_interfaces.begin_delete(topo.rg, nic_name))
    assert err.error.code == "OperationNotAllowed"


# --- platform rules ---------------------------------------------------------------------------------------


def test_rule_a_lb_backend_pool_cannot_hold_private_endpoint_ips(topo, network_client) -> None:
    topo.create_lb()
    topo.create_pls()
    pe_ip = topo.pe_ip(topo.create_pe("pe1", topo.id("privateLinkServices", "pls")))
    body = topo.lb_body(pool_addresses=[pe_ip])
    err = _error(lambda: network_client.load_balancers.begin_create_or_update(topo.rg, "lb2", body))
    assert err.error.code == "LoadBalancerBackendAddressPoolCannotReferencePrivateEndpoint"


@pytest.mark.parametrize(("setup", "code"), [
    pytest.param("ip-pool", "PrivateLinkServiceIsNotSupportedForIPBasedLoadBalancer", id="ip-based-pool"),
    pytest.param("basic", "PrivateLinkServiceNotSupportedOnBasicLoadBalancer", id="basic-sku"),
])
def test_rule_b_pls_needs_a_standard_lb_with_a_nic_based_pool(topo, network_client, setup: str, code: str) -> None:
    body = topo.lb_body(pool_addresses=["10.0.3.50"] if setup == "ip-pool" else None)
    if setup == "basic":
        body["sku"] = {"name": "Basic"}
    network_client.load_balancers.begin_create_or_update(topo.rg, "lb", body).result()
    err = _error(lambda: network_client.private_link_services.begin_create_or_update(topo.rg, "pls", topo.pls_body()))
    assert err.error.code == code


def test_rule_b_lb_cannot_become_ip_based_under_a_pls(topo, network_client) -> None:
    topo.create_lb()
    topo.create_pls()
    err = _error(lambda: network_client.load_balancers.begin_create_or_update(
        topo.rg, "lb", topo.lb_body(pool_addresses=["10.0.3.50"])))
    assert err.error.code == "PrivateLinkServiceIsNotSupportedForIPBasedLoadBalancer"


@pytest.mark.parametrize(("kwargs", "code"), [
    pytest.param({"nat_subnet": "pe"}, "PrivateLinkServiceCannotBeCreatedInSubnetThatHasNetworkPoliciesEnabled",
                 id="nat-subnet-policies-enabled"),
    pytest.param({"nat_ips": 9}, "PrivateLinkServiceIpConfigurationCountOutOfRange", id="more-than-8-nat-ips"),
])
def test_rule_c_pls_nat_ip_configuration(topo, network_client, kwargs: dict, code: str) -> None:
    topo.create_lb()
    err = _error(lambda: network_client.private_link_services.begin_create_or_update(
        topo.rg, "pls", topo.pls_body(**kwargs)))
    assert err.error.code == code


def test_rule_c_pls_with_8_nat_ips_gets_8_addresses(topo, network_client) -> None:
    topo.create_lb()
    pls = topo.create_pls(nat_ips=8)
    assert len({c.private_ip_address for c in pls.ip_configurations}) == 8


def test_rule_g_pe_region_must_equal_vnet_region(topo, network_client) -> None:
    body = topo.pe_body(topo.id("privateLinkServices", "pls"), location="eastus")
    err = _error(lambda: network_client.private_endpoints.begin_create_or_update(topo.rg, "pe1", body))
    assert err.error.code == "InvalidResourceReference"


def test_rule_h_pe_subnet_with_network_policies_enabled_is_allowed(topo, network_client) -> None:
    topo.create_lb()
    topo.create_pls()
    network_client.subnets.begin_create_or_update(topo.rg, "vnet", "pe", {"properties": {
        "addressPrefix": "10.0.1.0/24", "privateEndpointNetworkPolicies": "Enabled"}}).result()
    assert topo.create_pe("pe1", topo.id("privateLinkServices", "pls")).provisioning_state == "Succeeded"


def test_rule_j_lb_frontend_used_by_a_pls_cannot_be_removed(topo, network_client) -> None:
    topo.create_lb()
    topo.create_pls()
    body = topo.lb_body()
    body["properties"]["frontendIPConfigurations"][0]["name"] = "other"
    for rule in body["properties"]["loadBalancingRules"]:
        rule["properties"]["frontendIPConfiguration"]["id"] = topo.id("loadBalancers", "lb") + "/frontendIPConfigurations/other"
    err = _error(lambda: network_client.load_balancers.begin_create_or_update(topo.rg, "lb", body))
    assert err.error.code == "InUseLoadBalancerFrontendIPConfigurationCannotBeDeleted"
    err = _error(lambda: network_client.load_balancers.begin_delete(topo.rg, "lb"))
    assert err.error.code == "InUseLoadBalancerFrontendIPConfigurationCannotBeDeleted"


def test_rule_k_pls_with_active_connections_cannot_be_deleted_until_rejected(topo, network_client) -> None:
    topo.create_lb()
    topo.create_pls()
    topo.create_pe("pe1", topo.id("privateLinkServices", "pls"))
    err = _error(lambda: network_client.private_link_services.begin_delete(topo.rg, "pls"))
    assert err.error.code == "PrivateLinkServiceWithPrivateEndpointConnectionsCannotBeDeleted"
    name = next(iter(network_client.private_link_services.list_private_endpoint_connections(topo.rg, "pls"))).name
    network_client.private_link_services.update_private_endpoint_connection(
        topo.rg, "pls", name, {"properties": {"privateLinkServiceConnectionState": {"status": "Rejected"}}})
    network_client.private_link_services.begin_delete(topo.rg, "pls").result()
    pe = network_client.private_endpoints.get(topo.rg, "pe1")
    assert pe.manual_private_link_service_connections[0].private_link_service_connection_state.status == "Disconnected"


@pytest.mark.parametrize("how", [
    pytest.param("subnet-delete", id="delete-subnet"),
    pytest.param("vnet-delete", id="delete-vnet"),
    pytest.param("vnet-put-without-subnet", id="vnet-put-drops-subnet"),
])
def test_rule_l_subnet_in_use_cannot_be_deleted(topo, network_client, how: str) -> None:
    topo.create_lb()  # its frontend takes an address in "backend"
    if how == "subnet-delete":
        call = lambda: network_client.subnets.begin_delete(topo.rg, "vnet", "backend")  # noqa: E731
    elif how == "vnet-delete":
        call = lambda: network_client.virtual_networks.begin_delete(topo.rg, "vnet")  # noqa: E731
    else:
        vnet = network_client.virtual_networks.get(topo.rg, "vnet").as_dict()
        body = {"location": vnet["location"], "properties": {"addressSpace": vnet["properties"]["addressSpace"]}}
        call = lambda: network_client.virtual_networks.begin_create_or_update(topo.rg, "vnet", body)  # noqa: E731
    assert _error(call).error.code == "InUseSubnetCannotBeDeleted"


def test_subnets_are_child_resources_and_inline(topo, network_client) -> None:
    network_client.subnets.begin_create_or_update(topo.rg, "vnet", "extra", {"properties": {"addressPrefix": "10.0.9.0/24"}}).result()
    assert "extra" in {s.name for s in network_client.virtual_networks.get(topo.rg, "vnet").subnets}
    err = _error(lambda: network_client.subnets.begin_create_or_update(
        topo.rg, "vnet", "overlap", {"properties": {"addressPrefix": "10.0.9.128/25"}}))
    assert err.error.code == "NetcfgSubnetRangesOverlap"
    err = _error(lambda: network_client.subnets.begin_create_or_update(
        topo.rg, "vnet", "outside", {"properties": {"addressPrefix": "10.9.0.0/24"}}))
    assert err.error.code == "NetcfgSubnetRangeOutsideVnet"
    network_client.subnets.begin_delete(topo.rg, "vnet", "extra").result()
    with pytest.raises(ResourceNotFoundError):
        network_client.subnets.get(topo.rg, "vnet", "extra")


def test_nsg_in_use_by_a_subnet_cannot_be_deleted(topo, network_client) -> None:
    nsg = network_client.network_security_groups.begin_create_or_update(topo.rg, "nsg", {
        "location": topo.location, "properties": {"securityRules": [{"name": "kafka", "properties": {
            "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp", "sourcePortRange": "*",
            "destinationPortRange": "9092", "sourceAddressPrefix": "VirtualNetwork", "destinationAddressPrefix": "*"}}]},
    }).result()
    assert len(nsg.default_security_rules) == 6
    network_client.subnets.begin_create_or_update(topo.rg, "vnet", "backend", {"properties": {
        "addressPrefix": "10.0.3.0/24", "networkSecurityGroup": {"id": nsg.id}}}).result()
    err = _error(lambda: network_client.network_security_groups.begin_delete(topo.rg, "nsg"))
    assert err.error.code == "InUseNetworkSecurityGroupCannotBeDeleted"


# --- application gateway --------------------------------------------------------------------------------


def _appgw(topo, *, sku: str = "Standard_v2", public: bool = True, private_method: str = "Static",
           pl_method: str = "Dynamic", pl_subnet: str = "appgwpl", pl_ips: int = 1) -> dict:
    gw = topo.id("applicationGateways", "gw")
    fronts = [{"name": "private", "properties": {
        "subnet": {"id": topo.subnet("appgw")}, "privateIPAllocationMethod": private_method,
        "privateIPAddress": "10.0.4.10", "privateLinkConfiguration": {"id": f"{gw}/privateLinkConfigurations/pl"}}}]
    if public:
        fronts.append({"name": "public", "properties": {"publicIPAddress": {"id": topo.id("publicIPAddresses", "gw-pip")}}})
    return {
        "location": topo.location,
        "properties": {
            "sku": {"name": sku, "tier": sku, "capacity": 1},
            "gatewayIPConfigurations": [{"name": "gw", "properties": {"subnet": {"id": topo.subnet("appgw")}}}],
            "frontendIPConfigurations": fronts,
            "frontendPorts": [{"name": "kafka", "properties": {"port": 9092}}],
            "backendAddressPools": [{"name": "confluent", "properties": {"backendAddresses": [{"ipAddress": "10.0.1.4"}]}}],
            "backendSettingsCollection": [{"name": "kafka", "properties": {"port": 9092, "protocol": "Tcp", "timeout": 60}}],
            "listeners": [{"name": "kafka", "properties": {
                "frontendIPConfiguration": {"id": f"{gw}/frontendIPConfigurations/private"},
                "frontendPort": {"id": f"{gw}/frontendPorts/kafka"}, "protocol": "Tcp"}}],
            "routingRules": [{"name": "kafka", "properties": {
                "ruleType": "Basic", "priority": 100, "listener": {"id": f"{gw}/listeners/kafka"},
                "backendAddressPool": {"id": f"{gw}/backendAddressPools/confluent"},
                "backendSettings": {"id": f"{gw}/backendSettingsCollection/kafka"}}}],
            "privateLinkConfigurations": [{"name": "pl", "properties": {"ipConfigurations": [
                {"name": f"ip{i}", "properties": {"subnet": {"id": topo.subnet(pl_subnet)},
                                                  "privateIPAllocationMethod": pl_method,
                                                  **({"privateIPAddress": f"10.0.5.{20 + i}"} if pl_method == "Static" else {}),
                                                  "primary": i == 0}}
                for i in range(pl_ips)]}}],
        },
    }


@pytest.fixture
def gw_topo(topo, network_client):
    network_client.public_ip_addresses.begin_create_or_update(topo.rg, "gw-pip", {
        "location": topo.location, "sku": {"name": "Standard"},
        "properties": {"publicIPAllocationMethod": "Static"}}).result()
    return topo


def test_app_gateway_l4_with_private_link_and_connection_approval_lro(gw_topo, network_client) -> None:
    topo = gw_topo
    gw = network_client.application_gateways.begin_create_or_update(topo.rg, "gw", _appgw(topo)).result()
    assert gw.listeners[0].protocol == "Tcp"
    assert gw.private_link_configurations[0].ip_configurations[0].private_ip_address.startswith("10.0.5.")
    groups = [r.group_id for r in network_client.application_gateway_private_link_resources.list(topo.rg, "gw")]
    assert groups == ["private"]
    pe = topo.create_pe("pe-gw", gw.id, group_ids=["private"])
    assert pe.manual_private_link_service_connections[0].private_link_service_connection_state.status == "Pending"
    conn = next(iter(network_client.application_gateway_private_endpoint_connections.list(topo.rg, "gw")))
    conn.private_link_service_connection_state.status = "Approved"
    approved = network_client.application_gateway_private_endpoint_connections.begin_update(
        topo.rg, "gw", conn.name, conn).result()
    assert approved.private_link_service_connection_state.status == "Approved"
    pe = network_client.private_endpoints.get(topo.rg, "pe-gw")
    assert pe.manual_private_link_service_connections[0].private_link_service_connection_state.status == "Approved"


@pytest.mark.parametrize(("kwargs", "code"), [
    pytest.param({"public": False}, "ApplicationGatewayV2SkuRequiresPublicFrontendIpConfiguration", id="no-public-frontend"),
    pytest.param({"private_method": "Dynamic"}, "ApplicationGatewayPrivateIpMustBeStatic", id="dynamic-private-frontend"),
    pytest.param({"pl_method": "Static"}, "ApplicationGatewayPrivateLinkIpConfigurationMustBeDynamic", id="static-pl-ip"),
    pytest.param({"pl_subnet": "appgw"}, "ApplicationGatewayPrivateLinkSubnetCannotBeGatewaySubnet", id="pl-in-gateway-subnet"),
    pytest.param({"pl_ips": 9}, "ApplicationGatewayPrivateLinkIpConfigurationCountOutOfRange", id="more-than-8-pl-ips"),
    pytest.param({"sku": "Standard_Medium"}, "ApplicationGatewayFeatureRequiresV2Sku", id="v1-sku"),
])
def test_rule_d_app_gateway_configuration(gw_topo, network_client, kwargs: dict, code: str) -> None:
    err = _error(lambda: network_client.application_gateways.begin_create_or_update(gw_topo.rg, "gw", _appgw(gw_topo, **kwargs)))
    assert err.error.code == code


def test_rule_d_app_gateway_subnet_is_dedicated(gw_topo, network_client) -> None:
    topo = gw_topo
    network_client.application_gateways.begin_create_or_update(topo.rg, "gw", _appgw(topo)).result()
    body = topo.lb_body()
    body["properties"]["frontendIPConfigurations"][0]["properties"]["subnet"]["id"] = topo.subnet("appgw")
    err = _error(lambda: network_client.load_balancers.begin_create_or_update(topo.rg, "lb", body))
    assert err.error.code == "ApplicationGatewaySubnetCannotBeUsedByOtherResources"


def test_rule_e_app_gateway_pe_group_id_is_the_private_link_frontend(gw_topo, network_client) -> None:
    topo = gw_topo
    gw = network_client.application_gateways.begin_create_or_update(topo.rg, "gw", _appgw(topo)).result()
    for groups in (["public"], [], ["nope"]):
        err = _error(lambda g=groups: network_client.private_endpoints.begin_create_or_update(
            topo.rg, "pe-gw", topo.pe_body(gw.id, g)))
        assert err.error.code == "ApplicationGatewayPrivateLinkInvalidGroupId"


# --- out-of-band changes --------------------------------------------------------------------------------


def test_admin_changes_endpoint_ip_and_connection_state(topo, network_client, sandbox_cloud) -> None:
    topo.create_lb()
    pls = topo.create_pls()
    pe = topo.create_pe("pe1", pls.id)
    sandbox_cloud.admin.set_private_endpoint_ip(pe.id, "10.0.1.77")
    assert topo.pe_ip(network_client.private_endpoints.get(topo.rg, "pe1")) == "10.0.1.77"
    conn = sandbox_cloud.admin.connections(endpoint_id=pe.id)[0]
    sandbox_cloud.admin.set_connection_state(pls.id, conn["name"], "Rejected", "no")
    pe = network_client.private_endpoints.get(topo.rg, "pe1")
    assert pe.manual_private_link_service_connections[0].private_link_service_connection_state.status == "Rejected"
    assert sandbox_cloud.admin.delete_resource(pe.id)
    with pytest.raises(ResourceNotFoundError):
        network_client.private_endpoints.get(topo.rg, "pe1")


def test_get_then_put_round_trips_unchanged(topo, network_client) -> None:
    """A reconciler may GET, change one field and PUT the model back: read-only fields must not break it."""
    lb = topo.create_lb()
    again = network_client.load_balancers.begin_create_or_update(topo.rg, "lb", copy.deepcopy(lb)).result()
    assert again.frontend_ip_configurations[0].private_ip_address == lb.frontend_ip_configurations[0].private_ip_address
    pls = topo.create_pls()
    again = network_client.private_link_services.begin_create_or_update(topo.rg, "pls", pls).result()
    assert again.alias == pls.alias


# --- application gateway: subnet NSG, SKUs, group ids ---------------------------------------------------


def _gateway_nsg(topo, network_client, rules: list[tuple[str, int, str, str, str]]) -> None:
    """An NSG on the gateway subnet with inbound (name, priority, access, source, ports) TCP rules."""
    nsg = network_client.network_security_groups.begin_create_or_update(topo.rg, "gw-nsg", {
        "location": topo.location, "properties": {"securityRules": [{"name": name, "properties": {
            "priority": priority, "direction": "Inbound", "access": access, "protocol": "Tcp",
            "sourcePortRange": "*", "destinationPortRange": ports, "sourceAddressPrefix": source,
            "destinationAddressPrefix": "*"}} for name, priority, access, source, ports in rules]},
    }).result()
    network_client.subnets.begin_create_or_update(topo.rg, "vnet", "appgw", {"properties": {
        "addressPrefix": topo.subnets["appgw"], "networkSecurityGroup": {"id": nsg.id}}}).result()


@pytest.mark.parametrize(("rules", "blocked"), [
    pytest.param([], True, id="defaults-only"),
    pytest.param([("kafka", 100, "Allow", "VirtualNetwork", "9092")], True, id="vnet-only"),
    pytest.param([("gm", 100, "Allow", "GatewayManager", "65200-65300")], True, id="part-of-the-range"),
    pytest.param([("deny", 100, "Deny", "Internet", "*"), ("gm", 200, "Allow", "GatewayManager", "65200-65535")],
                 True, id="internet-denied-first"),
    pytest.param([("gm", 100, "Allow", "GatewayManager", "65200-65535"), ("deny", 4000, "Deny", "Internet", "*")],
                 False, id="gateway-manager-then-deny-internet"),
    pytest.param([("gm-lo", 100, "Allow", "GatewayManager", "65200-65400"),
                  ("gm-hi", 110, "Allow", "GatewayManager", "65401-65535")], False, id="split-range"),
])
def test_rule_d_v2_gateway_subnet_nsg_must_allow_gateway_manager(gw_topo, network_client, rules, blocked) -> None:
    topo = gw_topo
    _gateway_nsg(topo, network_client, rules)
    call = lambda: network_client.application_gateways.begin_create_or_update(topo.rg, "gw", _appgw(topo))  # noqa: E731
    if not blocked:
        assert call().result().provisioning_state == "Succeeded"
        return
    err = _error(call)
    assert err.status_code == 400
    assert err.error.code == "ApplicationGatewaySubnetInboundTrafficBlockedByNetworkSecurityGroup"
    assert "65200 - 65535" in err.error.message


def _plain_gateway(topo, sku: str) -> dict:
    """A gateway with one HTTP listener on the public frontend: no private link, no L4 listener."""
    body = _appgw(topo, sku=sku)
    gw = topo.id("applicationGateways", "gw")
    props = body["properties"]
    props["frontendIPConfigurations"][0]["properties"].pop("privateLinkConfiguration")
    for key in ("privateLinkConfigurations", "listeners", "routingRules", "backendSettingsCollection"):
        props.pop(key)
    props["frontendPorts"] = [{"name": "http", "properties": {"port": 80}}]
    props["backendHttpSettingsCollection"] = [{"name": "http", "properties": {"port": 80, "protocol": "Http"}}]
    props["httpListeners"] = [{"name": "http", "properties": {
        "frontendIPConfiguration": {"id": f"{gw}/frontendIPConfigurations/public"},
        "frontendPort": {"id": f"{gw}/frontendPorts/http"}, "protocol": "Http"}}]
    props["requestRoutingRules"] = [{"name": "http", "properties": {
        "ruleType": "Basic", "priority": 100, "httpListener": {"id": f"{gw}/httpListeners/http"},
        "backendAddressPool": {"id": f"{gw}/backendAddressPools/confluent"},
        "backendHttpSettings": {"id": f"{gw}/backendHttpSettingsCollection/http"}}}]
    return body


@pytest.mark.parametrize("sku", ["Basic", "Standard_Medium", "WAF_Medium"])
def test_rule_d_basic_and_v1_skus_have_no_private_link_nor_l4_listeners(gw_topo, network_client, sku: str) -> None:
    """Basic (v2 family, preview) lists Private Link and TCP/TLS proxy as unsupported (overview-v2, SKU types)."""
    topo = gw_topo
    err = _error(lambda: network_client.application_gateways.begin_create_or_update(topo.rg, "gw", _appgw(topo, sku=sku)))
    assert err.error.code == "ApplicationGatewayFeatureRequiresV2Sku"
    body = _appgw(topo, sku=sku)
    body["properties"].pop("privateLinkConfigurations")
    body["properties"]["frontendIPConfigurations"][0]["properties"].pop("privateLinkConfiguration")
    err = _error(lambda: network_client.application_gateways.begin_create_or_update(topo.rg, "gw", body))
    assert err.error.code == "ApplicationGatewayFeatureRequiresV2Sku"  # the L4 listener alone


def test_rule_d_basic_sku_is_a_v2_gateway_for_http(gw_topo, network_client) -> None:
    topo = gw_topo
    gw = network_client.application_gateways.begin_create_or_update(topo.rg, "gw", _plain_gateway(topo, "Basic")).result()
    assert gw.sku.name == "Basic"
    assert list(network_client.application_gateway_private_link_resources.list(topo.rg, "gw")) == []


def test_rule_e_app_gateway_group_id_needs_private_link_and_a_listener(gw_topo, network_client) -> None:
    """A private link frontend no listener uses is not offered (private-link-configure: "ensure a listener is
    actively utilizing the respected frontend IP configuration")."""
    topo = gw_topo
    body = _appgw(topo)
    gw_id = topo.id("applicationGateways", "gw")
    body["properties"]["listeners"][0]["properties"]["frontendIPConfiguration"]["id"] = (
        f"{gw_id}/frontendIPConfigurations/public")
    gw = network_client.application_gateways.begin_create_or_update(topo.rg, "gw", body).result()
    assert list(network_client.application_gateway_private_link_resources.list(topo.rg, "gw")) == []
    err = _error(lambda: network_client.private_endpoints.begin_create_or_update(
        topo.rg, "pe-gw", topo.pe_body(gw.id, ["private"])))
    assert err.error.code == "ApplicationGatewayPrivateLinkInvalidGroupId"
    # the public frontend has a listener but no private link configuration: not offered either
    err = _error(lambda: network_client.private_endpoints.begin_create_or_update(
        topo.rg, "pe-gw", topo.pe_body(gw.id, ["public"])))
    assert err.error.code == "ApplicationGatewayPrivateLinkInvalidGroupId"
    # once the listener is back on the private frontend, that frontend is offered
    network_client.application_gateways.begin_create_or_update(topo.rg, "gw", _appgw(topo)).result()
    groups = [r.group_id for r in network_client.application_gateway_private_link_resources.list(topo.rg, "gw")]
    assert groups == ["private"]
    assert topo.create_pe("pe-gw", gw.id, group_ids=["private"]).provisioning_state == "Succeeded"


# --- private link service NAT IPs -----------------------------------------------------------------------


def test_rule_c_pls_nat_ip_configurations_can_be_added_but_not_removed(topo, network_client) -> None:
    """private-link-service-overview: "After you add multiple NAT IP addresses to a Private Link service, you
    can't delete the NAT IP addresses"."""
    topo.create_lb()
    topo.create_pls(nat_ips=2)
    grown = network_client.private_link_services.begin_create_or_update(topo.rg, "pls", topo.pls_body(nat_ips=3)).result()
    assert [c.name for c in grown.ip_configurations] == ["nat0", "nat1", "nat2"]
    err = _error(lambda: network_client.private_link_services.begin_create_or_update(
        topo.rg, "pls", topo.pls_body(nat_ips=2)))
    assert err.status_code == 400
    assert err.error.code == "PrivateLinkServiceIpConfigurationCannotBeDeleted"
    renamed = topo.pls_body(nat_ips=3)
    renamed["properties"]["ipConfigurations"][2]["name"] = "other"
    err = _error(lambda: network_client.private_link_services.begin_create_or_update(topo.rg, "pls", renamed))
    assert err.error.code == "PrivateLinkServiceIpConfigurationCannotBeDeleted"
    assert len(network_client.private_link_services.get(topo.rg, "pls").ip_configurations) == 3


# --- one operation at a time per resource (Network RP) --------------------------------------------------


def test_write_while_the_resources_lro_is_in_flight_is_429_retryable(topo, network_client, sandbox_cloud) -> None:
    """request-limits-and-throttling: the Network RP "returns 429 with the RetryableErrorDueToAnotherOperation
    error code when the target resource is locked by another operation"."""
    topo.create_lb()
    sandbox_cloud.admin.set_lro_seconds("Microsoft.Network/loadBalancers", 0.6)
    network_client.load_balancers.begin_create_or_update(topo.rg, "lb", topo.lb_body(), polling=False)
    for call in (
        lambda: network_client.load_balancers.begin_create_or_update(topo.rg, "lb", topo.lb_body(), retry_total=0),
        lambda: network_client.load_balancers.begin_delete(topo.rg, "lb", retry_total=0),
    ):
        err = _error(call)
        assert err.status_code == 429
        assert err.error.code == "RetryableErrorDueToAnotherOperation"
        assert "retry-after" in {k.lower() for k in err.response.headers}
    # azure-core retries a 429 after its Retry-After: once the first operation is done the write goes through
    sandbox_cloud.admin.set_retry_after(1)
    started = time.monotonic()
    lb = network_client.load_balancers.begin_create_or_update(topo.rg, "lb", topo.lb_body()).result()
    assert lb.provisioning_state == "Succeeded"
    statuses = [r.status for r in sandbox_cloud.admin.requests(method="PUT", path_contains="/loadBalancers/lb")]
    assert statuses[-2:] == [429, 200] and time.monotonic() - started >= 1.0


def test_app_gateway_put_and_connection_approval_conflict_with_an_operation_in_flight(gw_topo, network_client,
                                                                                      sandbox_cloud) -> None:
    topo = gw_topo
    gw = network_client.application_gateways.begin_create_or_update(topo.rg, "gw", _appgw(topo)).result()
    topo.create_pe("pe-gw", gw.id, group_ids=["private"])
    sandbox_cloud.admin.set_lro_seconds("Microsoft.Network/applicationGateways", 5)
    network_client.application_gateways.begin_create_or_update(topo.rg, "gw", _appgw(topo), polling=False)
    err = _error(lambda: network_client.application_gateways.begin_create_or_update(
        topo.rg, "gw", _appgw(topo), retry_total=0))
    assert (err.status_code, err.error.code) == (429, "RetryableErrorDueToAnotherOperation")
    conn = next(iter(network_client.application_gateway_private_endpoint_connections.list(topo.rg, "gw")))
    conn.private_link_service_connection_state.status = "Approved"
    err = _error(lambda: network_client.application_gateway_private_endpoint_connections.begin_update(
        topo.rg, "gw", conn.name, conn, retry_total=0))
    assert (err.status_code, err.error.code) == (429, "RetryableErrorDueToAnotherOperation")
    assert network_client.application_gateways.get(topo.rg, "gw").provisioning_state == "Updating"
