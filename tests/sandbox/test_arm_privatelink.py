"""Private Link across tenants: emulated Confluent aliases and the broker the Databricks emulator uses."""

from __future__ import annotations

import time

import pytest
from azure.core.exceptions import HttpResponseError
from databricks.sdk import AccountClient
from databricks.sdk.service.settings import CreateNetworkConnectivityConfiguration, CreatePrivateEndpointRule
from databricks.sdk.service.settings import NccPrivateEndpointRulePrivateLinkConnectionState as RuleState

from transit_sandbox.links import LinkError

DATABRICKS_PE = ("/subscriptions/6b0ab0e7-5e3c-4d3a-9f4e-db0000000001/resourceGroups/databricks-rg/providers/"
                 "Microsoft.Network/privateEndpoints/databricks-1234-pe-abc")


def _state(network_client, rg: str, name: str) -> str:
    pe = network_client.private_endpoints.get(rg, name)
    return pe.manual_private_link_service_connections[0].private_link_service_connection_state.status


@pytest.mark.parametrize(("behaviour", "final"), [
    pytest.param(None, "Approved", id="registered-subscription-auto-approves"),
    pytest.param("reject", "Rejected", id="rejecting-alias"),
])
def test_confluent_alias_decides_after_a_delay(topo, network_client, sandbox_cloud, confluent_alias, behaviour, final) -> None:
    if behaviour:
        sandbox_cloud.admin.set_alias_behaviour(confluent_alias, behaviour)
    sandbox_cloud.admin.set_confluent_approval_seconds(0.3)
    pe = topo.create_pe("pe-az1", confluent_alias)
    assert pe.manual_private_link_service_connections[0].private_link_service_connection_state.status == "Pending"
    assert topo.pe_ip(pe).startswith("10.0.1.")
    time.sleep(0.35)
    assert _state(network_client, topo.rg, "pe-az1") == final


@pytest.mark.parametrize("alias", [
    pytest.param("registered-unknown", id="alias-registered-unknown"),
    pytest.param("not-an-alias.azure.privatelinkservice", id="malformed-alias"),
])
def test_unknown_alias_is_refused(topo, network_client, sandbox_cloud, confluent_alias, alias: str) -> None:
    if alias == "registered-unknown":
        sandbox_cloud.admin.set_alias_behaviour(confluent_alias, "unknown")
        alias = confluent_alias
    with pytest.raises(HttpResponseError) as err:
        network_client.private_endpoints.begin_create_or_update(topo.rg, "pe-bad", topo.pe_body(alias))
    assert err.value.error.code == "ThirdPartyPrivateLinkServiceProvidedDuringPrivateEndpointCreationDoesNotExistOrIsNotVisible"


def test_broker_connection_appears_pending_on_the_pls_and_follows_approval(topo, network_client, sandbox_cloud) -> None:
    topo.create_lb()
    pls = topo.create_pls()
    broker = sandbox_cloud.broker
    name = broker.connect(pls.id, None, DATABRICKS_PE, "from Databricks")
    assert broker.status(pls.id, name) == "Pending"
    conn = network_client.private_link_services.get_private_endpoint_connection(topo.rg, "pls", name)
    assert conn.private_endpoint.id == DATABRICKS_PE
    network_client.private_link_services.update_private_endpoint_connection(
        topo.rg, "pls", name, {"properties": {"privateLinkServiceConnectionState": {"status": "Approved"}}})
    assert broker.status(pls.id, name) == "Approved"
    broker.disconnect(pls.id, name)
    assert broker.status(pls.id, name) is None
    assert list(network_client.private_link_services.list_private_endpoint_connections(topo.rg, "pls")) == []


def test_broker_refuses_bad_targets_with_azure_codes(topo, network_client, sandbox_cloud) -> None:
    broker = sandbox_cloud.broker
    with pytest.raises(LinkError) as err:
        broker.connect(topo.id("privateLinkServices", "missing"), None, DATABRICKS_PE, "")
    assert err.value.code == "ThirdPartyPrivateLinkServiceProvidedDuringPrivateEndpointCreationDoesNotExistOrIsNotVisible"
    with pytest.raises(LinkError) as err:
        broker.connect(topo.vnet_id, None, DATABRICKS_PE, "")
    assert err.value.code == "PrivateEndpointTargetNotSupported"


def test_pls_visibility_limits_who_can_connect(topo, network_client, sandbox_cloud) -> None:
    topo.create_lb()
    body = topo.pls_body()
    body["properties"]["visibility"] = {"subscriptions": [topo.sub]}
    pls = network_client.private_link_services.begin_create_or_update(topo.rg, "pls", body).result()
    with pytest.raises(LinkError):
        sandbox_cloud.broker.connect(pls.id, None, DATABRICKS_PE, "")
    body["properties"]["visibility"] = {"subscriptions": [DATABRICKS_PE.split("/")[2]]}
    body["properties"]["autoApproval"] = {"subscriptions": [DATABRICKS_PE.split("/")[2]]}
    network_client.private_link_services.begin_create_or_update(topo.rg, "pls", body).result()
    name = sandbox_cloud.broker.connect(pls.id, None, DATABRICKS_PE, "")
    assert sandbox_cloud.broker.status(pls.id, name) == "Approved"


def test_databricks_ncc_rule_reaches_the_pls_and_follows_its_approval(topo, network_client, sandbox_cloud, monkeypatch) -> None:
    """The whole cross-cloud path on one SandboxCloud: databricks-sdk -> emulated NCC -> ARM connection."""
    for var in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_ACCOUNT_ID", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox_cloud.ca_bundle)
    topo.create_lb()
    pls = topo.create_pls()
    account = AccountClient(host=sandbox_cloud.databricks_url, account_id=sandbox_cloud.databricks_account_id,
                            token=sandbox_cloud.token)
    api = account.network_connectivity
    ncc = api.create_network_connectivity_configuration(
        CreateNetworkConnectivityConfiguration(name=f"ncc-{topo.rg[-20:]}".replace("_", "-"), region="westeurope"))
    rule = api.create_private_endpoint_rule(ncc.network_connectivity_config_id, CreatePrivateEndpointRule(
        resource_id=pls.id, domain_names=["*.pr123abc.westeurope.azure.confluent.cloud"]))
    assert rule.connection_state == RuleState.PENDING
    connections = list(network_client.private_link_services.list_private_endpoint_connections(topo.rg, "pls"))
    assert len(connections) == 1 and rule.endpoint_name in connections[0].private_endpoint.id
    network_client.private_link_services.update_private_endpoint_connection(
        topo.rg, "pls", connections[0].name,
        {"properties": {"privateLinkServiceConnectionState": {"status": "Approved"}}})
    observed = api.get_private_endpoint_rule(ncc.network_connectivity_config_id, rule.rule_id)
    assert observed.connection_state == RuleState.ESTABLISHED
