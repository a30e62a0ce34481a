"""Microsoft.Network through azure-mgmt-network 33.1: shapes, private link, and the platform rules."""

from __future__ import annotations

import copy

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
    assert err.error.code == "PrivateLinkServiceHasActivePrivateEndpointConnections"
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
