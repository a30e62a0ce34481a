"""Private DNS through azure-mgmt-privatedns 2.0: zones, VNet links, record sets with wildcards."""

from __future__ import annotations

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

ZONE = "pr123abc.westeurope.azure.confluent.cloud"


@pytest.fixture
def zone(topo, dns_client):
    return dns_client.private_zones.begin_create_or_update(topo.rg, ZONE, {"location": "global"}).result()


def test_zone_with_vnet_link_and_confluent_records(topo, zone, dns_client, sandbox_cloud) -> None:
    link = dns_client.virtual_network_links.begin_create_or_update(topo.rg, ZONE, "vnet", {
        "location": "global", "properties": {"virtualNetwork": {"id": topo.vnet_id}, "registrationEnabled": False}}).result()
    assert link.virtual_network_link_state == "Completed"
    records = {"*": ["10.0.1.4", "10.0.1.5", "10.0.1.6"], "*.az1": ["10.0.1.4"], "*.az2": ["10.0.1.5"]}
    sandbox_cloud.admin.clear_requests()
    for name, ips in records.items():
        created = dns_client.record_sets.create_or_update(topo.rg, ZONE, "A", name, {
            "properties": {"ttl": 60, "aRecords": [{"ipv4Address": ip} for ip in ips]}})
        assert created.fqdn == f"{name}.{ZONE}."
    # record sets are synchronous: three PUTs answered 201, no operation polling
    assert [r.status for r in sandbox_cloud.admin.requests()] == [201, 201, 201]
    got = dns_client.record_sets.get(topo.rg, ZONE, "A", "*.az1")
    assert [r.ipv4_address for r in got.a_records] == ["10.0.1.4"]
    names = sorted((r.type.rsplit("/", 1)[1], r.name) for r in dns_client.record_sets.list(topo.rg, ZONE))
    assert names == [("A", "*"), ("A", "*.az1"), ("A", "*.az2"), ("SOA", "@")]
    assert [r.name for r in dns_client.record_sets.list_by_type(topo.rg, ZONE, "A")] == ["*", "*.az1", "*.az2"]
    assert dns_client.private_zones.get(topo.rg, ZONE).number_of_record_sets == 4


def test_cname_records_and_conflicts(topo, zone, dns_client) -> None:
    dns_client.record_sets.create_or_update(topo.rg, ZONE, "CNAME", "bootstrap", {
        "properties": {"ttl": 60, "cnameRecord": {"cname": f"az1.{ZONE}"}}})
    with pytest.raises(HttpResponseError) as err:
        dns_client.record_sets.create_or_update(topo.rg, ZONE, "A", "bootstrap", {
            "properties": {"ttl": 60, "aRecords": [{"ipv4Address": "10.0.1.4"}]}})
    assert err.value.status_code == 409


def test_record_set_etag_conditions(topo, zone, dns_client) -> None:
    body = {"properties": {"ttl": 60, "aRecords": [{"ipv4Address": "10.0.1.4"}]}}
    first = dns_client.record_sets.create_or_update(topo.rg, ZONE, "A", "*", body,
                                                    match_condition=MatchConditions.IfMissing)
    with pytest.raises(HttpResponseError) as err:
        dns_client.record_sets.create_or_update(topo.rg, ZONE, "A", "*", body, match_condition=MatchConditions.IfMissing)
    assert err.value.status_code == 412
    second = dns_client.record_sets.create_or_update(topo.rg, ZONE, "A", "*", body, etag=first.etag,
                                                     match_condition=MatchConditions.IfNotModified)
    assert second.etag != first.etag


@pytest.mark.parametrize(("body", "code"), [
    pytest.param({"properties": {"ttl": 60, "aRecords": [{"ipv4Address": "10.0.1.999"}]}}, "BadRequest", id="bad-ip"),
])
def test_invalid_record_sets_are_refused(topo, zone, dns_client, body: dict, code: str) -> None:
    with pytest.raises(HttpResponseError) as err:
        dns_client.record_sets.create_or_update(topo.rg, ZONE, "A", "x", body)
    assert err.value.error.code == code


def test_record_set_needs_its_zone_and_zone_needs_global_location(topo, dns_client) -> None:
    with pytest.raises(ResourceNotFoundError) as err:
        dns_client.record_sets.create_or_update(topo.rg, "missing.example", "A", "x", {"properties": {"ttl": 5}})
    assert err.value.error.code == "ParentResourceNotFound"
    with pytest.raises(HttpResponseError) as err:
        dns_client.private_zones.begin_create_or_update(topo.rg, "regional.example", {"location": "westeurope"})
    assert err.value.error.code == "LocationNotAvailableForResourceType"


def test_zone_with_links_cannot_be_deleted_then_deletes_its_records(topo, zone, dns_client) -> None:
    dns_client.virtual_network_links.begin_create_or_update(topo.rg, ZONE, "vnet", {
        "location": "global", "properties": {"virtualNetwork": {"id": topo.vnet_id}, "registrationEnabled": False}}).result()
    dns_client.record_sets.create_or_update(topo.rg, ZONE, "A", "*", {"properties": {"ttl": 60, "aRecords": []}})
    with pytest.raises(HttpResponseError) as err:
        dns_client.private_zones.begin_delete(topo.rg, ZONE).result()
    assert err.value.error.code == "CannotDeletePrivateZoneWithVirtualNetworkLinks"
    dns_client.virtual_network_links.begin_delete(topo.rg, ZONE, "vnet").result()
    dns_client.private_zones.begin_delete(topo.rg, ZONE).result()
    with pytest.raises(ResourceNotFoundError):
        dns_client.record_sets.get(topo.rg, ZONE, "A", "*")
