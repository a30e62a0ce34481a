"""Typed facts read in `cloud/` (issue 17 step 3): the reconcilers never parse ARM bodies themselves."""

from __future__ import annotations

from typing import Any

import pytest

from transit_operator.cloud.approval import connections_in
from transit_operator.cloud.arm import (
    WRITE_ONLY_TAG,
    arm_type,
    as_observed,
    as_written,
    differences,
    tags_of,
)
from transit_operator.cloud.network import EndpointConnectionState, endpoint_connection, gateway_backend_ips
from transit_operator.plan.model import AzureResource

SUB = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers"


def connection(name: str, status: str, description: str = "") -> dict[str, Any]:
    return {"name": name, "properties": {"privateLinkServiceConnectionState": {"status": status,
                                                                                "description": description}}}


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        pytest.param({}, EndpointConnectionState(None, None), id="no-connection-yet"),
        pytest.param({"manualPrivateLinkServiceConnections": [connection("pe-az1", "Pending", "asked")]},
                     EndpointConnectionState("Pending", "asked"), id="manual"),
        pytest.param({"privateLinkServiceConnections": [connection("PE-AZ1", "Approved")]},
                     EndpointConnectionState("Approved", None), id="automatic-name-case-insensitive"),
        pytest.param({"manualPrivateLinkServiceConnections": [connection("other", "Rejected", "no"),
                                                               connection("pe-az1", "Approved")]},
                     EndpointConnectionState("Approved", None), id="the-named-one-wins"),
        pytest.param({"manualPrivateLinkServiceConnections": [connection("other", "Rejected", "no")]},
                     EndpointConnectionState("Rejected", "no"), id="else-the-first"),
    ],
)
def test_endpoint_connection_state(properties: dict[str, Any], expected: EndpointConnectionState) -> None:
    assert endpoint_connection({"properties": properties}, "pe-az1") == expected


def test_gateway_backend_ips_are_what_the_named_pool_holds() -> None:
    gateway = {"properties": {"backendAddressPools": [
        {"name": "other", "properties": {"backendAddresses": [{"ipAddress": "10.9.9.9"}]}},
        {"name": "Confluent", "properties": {"backendAddresses": [{"ipAddress": "10.0.1.4"}, {"fqdn": "x"},
                                                                  {"ipAddress": "10.0.1.5"}]}},
    ]}}
    assert gateway_backend_ips(gateway, "confluent") == ["10.0.1.4", "10.0.1.5"]
    assert gateway_backend_ips(None, "confluent") == [] == gateway_backend_ips({"properties": {}}, "confluent")


@pytest.mark.parametrize(
    ("body", "tags"),
    [
        pytest.param({"id": f"{SUB}/Microsoft.Network/privateDnsZones/z.example.com/A/*",
                      "properties": {"metadata": {"a": "1"}}}, {"a": "1"}, id="record-set-metadata"),
        pytest.param({"id": f"{SUB}/Microsoft.Network/privateDnsZones/z.example.com/virtualNetworkLinks/l",
                      "tags": {"b": "2"}}, {"b": "2"}, id="link-tags"),
        pytest.param({"id": f"{SUB}/Microsoft.Network/privateLinkServices/pls"}, None, id="untagged"),
    ],
)
def test_tags_of_knows_where_each_type_keeps_them(body: dict[str, Any], tags: dict[str, str] | None) -> None:
    assert tags_of(body) == tags


def test_connections_in_a_targets_own_body() -> None:
    body = {"properties": {"privateEndpointConnections": [
        {"name": "c1", "properties": {"privateEndpoint": {"id": f"{SUB}/Microsoft.Network/privateEndpoints/pe1"},
                                      "privateLinkServiceConnectionState": {"status": "Pending"}}}]}}
    (found,) = connections_in(body)
    assert (found.name, found.endpoint_name, found.status) == ("c1", "pe1", "Pending")
    assert connections_in(None) == [] == connections_in({})


def scale_set(custom_data: str | None) -> AzureResource:
    profile: dict[str, Any] = {"osProfile": {"adminUsername": "transit"}}
    if custom_data is not None:
        profile["osProfile"]["customData"] = custom_data
    return AzureResource(
        type="Microsoft.Compute/virtualMachineScaleSets", id=f"{SUB}/Microsoft.Compute/virtualMachineScaleSets/v",
        apiVersion="2026-04-01", body={"location": "x", "tags": {"t": "1"},
                                       "properties": {"virtualMachineProfile": profile}},
    )


def test_write_only_values_travel_as_a_hash_tag_and_compare_through_it() -> None:
    entry = arm_type("Microsoft.Compute/virtualMachineScaleSets")
    written = as_written(scale_set("Y2xvdWQtaW5pdA=="))
    digest = written["tags"][WRITE_ONLY_TAG]
    assert written["tags"]["t"] == "1" and len(digest) == 16
    # What Azure returns: no customData, our tag.
    observed = {"location": "x", "tags": dict(written["tags"]), "properties": {"virtualMachineProfile": {"osProfile": {
        "adminUsername": "transit"}}}}
    assert differences(written, as_observed(entry, written, observed)) == []
    changed = as_written(scale_set("b3RoZXI="))
    assert "properties.virtualMachineProfile.osProfile.customData" in differences(
        changed, as_observed(entry, changed, observed)
    )
    assert as_written(scale_set(None)) == scale_set(None).body  # nothing write-only: no tag
