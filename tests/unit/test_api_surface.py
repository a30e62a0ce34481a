"""The public surface of the API models: kinds, wire names, defaults and what they refuse."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from transit_operator.api import v1alpha1 as api
from transit_operator.api.status import read_status

SUB = "11111111-2222-3333-4444-555555555555"
NET = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/hub"


def test_kinds_map_names_to_models():
    assert {
        "ConfluentPrivateLink": api.ConfluentPrivateLink,
        "ServerlessTransit": api.ServerlessTransit,
    } == api.KINDS
    assert api.API_VERSION == "transit.privatelink.io/v1alpha1"


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        pytest.param(
            api.ConfluentPrivateLink, {"apiVersion", "kind", "metadata", "spec", "status"}, id="cpl"
        ),
        pytest.param(api.ServerlessTransit, {"apiVersion", "kind", "metadata", "spec", "status"}, id="sxt"),
        pytest.param(
            api.ConfluentPrivateLinkSpec,
            {"azure", "confluent", "privateEndpoints", "dns", "deletionPolicy", "driftCheckIntervalSeconds"},
            id="cpl-spec",
        ),
        pytest.param(
            api.ServerlessTransitSpec,
            {
                "option",
                "confluentPrivateLinkRef",
                "azure",
                "network",
                "ports",
                "haproxy",
                "applicationGateway",
                "databricks",
                "deletionPolicy",
                "driftCheckIntervalSeconds",
            },
            id="sxt-spec",
        ),
        pytest.param(
            api.ZoneStatus,
            {"name", "privateEndpointId", "privateIp", "connectionState", "message"},
            id="zone-status",
        ),
    ],
)
def test_wire_names_are_camel_case(model, fields):
    assert {f.alias or name for name, f in model.model_fields.items()} == fields


def test_every_field_of_every_model_has_a_description():
    missing = []
    for model in (api.ConfluentPrivateLink, api.ServerlessTransit):
        for name, schema in model.model_json_schema(by_alias=True)["$defs"].items():
            for prop, sub in schema.get("properties", {}).items():
                if not sub.get("description"):
                    missing.append(f"{name}.{prop}")
    assert missing == []


def test_defaults():
    dns = api.DnsSpec()
    assert (dns.manage_zone, dns.record_type, dns.ttl, dns.virtual_network_ids) == (True, "A", 60, [])
    haproxy = api.HAProxySpec(ssh_public_key="ssh-ed25519 AAAA x")
    assert (haproxy.instance_count, haproxy.vm_size, haproxy.zones, haproxy.admin_username) == (
        2,
        "Standard_D2s_v5",
        ["1", "2", "3"],
        "transit",
    )
    assert api.VmImage().model_dump() == {
        "publisher": "Debian",
        "offer": "debian-12",
        "sku": "12-gen2",
        "version": "latest",
    }


def test_unknown_fields_are_refused():
    with pytest.raises(ValidationError, match="extra"):
        api.AzureTarget.model_validate(
            {"subscriptionId": SUB, "resourceGroup": "rg", "location": "eastus2", "x": 1}
        )


def test_fields_populate_by_python_name_too():
    target = api.AzureTarget(subscription_id=SUB, resource_group="rg", location="eastus2")
    assert target.model_dump(by_alias=True) == {
        "subscriptionId": SUB,
        "resourceGroup": "rg",
        "location": "eastus2",
    }


def test_status_refuses_unknown_fields_when_written_and_drops_them_when_read():
    # Issue 17 step 2: status models are what the reconcilers write (no `extra="allow"`); an older status is
    # read back with `api.status.read_status`, which drops what it does not know.
    with pytest.raises(ValidationError, match="somethingNew"):
        api.ConfluentPrivateLinkStatus.model_validate({"somethingNew": 1})
    status = read_status(api.ConfluentPrivateLinkStatus, {"somethingNew": 1}, drop_invalid=False)
    assert status == api.ConfluentPrivateLinkStatus()


def test_bootstrap_host_property():
    network = api.ConfluentNetwork.model_validate(
        {
            "networkId": "n-abc",
            "dnsDomain": "n-abc.eastus2.azure.confluent.cloud",
            "bootstrapServer": "lkc-1.n-abc.eastus2.azure.confluent.cloud:9092",
            "zones": [
                {
                    "name": "az1",
                    "privateLinkServiceAlias": f"{NET}/x".replace(
                        "virtualNetworks/hub/x", "privateLinkServices/pls"
                    ),
                }
            ],
        }
    )
    assert network.bootstrap_host == "lkc-1.n-abc.eastus2.azure.confluent.cloud"


@pytest.mark.parametrize("tld", api.RESERVED_TLDS)
def test_reserved_tlds_are_refused_in_extra_domain_names(tld):
    with pytest.raises(ValidationError, match="reserved"):
        api.DatabricksSpec.model_validate(
            {"accountId": SUB, "ncc": {"name": "ncc-1"}, "extraDomainNames": [f"kafka.{tld}"]}
        )
