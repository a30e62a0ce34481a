"""api.status: status is written strictly (the models refuse unknown fields) and read back tolerantly."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from transit_operator.api.status import dump_status, read_status
from transit_operator.api.v1alpha1 import (
    ConfluentPrivateLink,
    ConfluentPrivateLinkStatus,
    ServerlessTransitStatus,
    ZoneStatus,
)

OLD_STATUS: dict[str, Any] = {
    "observedGeneration": 2,
    "someFieldOfAnOlderOperator": {"x": 1},
    "zones": [
        {"name": "az1", "privateIp": "10.0.1.4", "connectionState": "Approved", "legacy": True},
        {"name": "az2", "privateIp": "8.8.8.8", "connectionState": "Approved"},
        {"privateIp": "10.0.1.6"},
    ],
    "conditions": [{"type": "Ready", "status": "Perhaps"}, {"type": "Stalled", "status": "False"}],
}


def test_writing_refuses_an_unknown_field() -> None:
    with pytest.raises(ValidationError, match="extra"):
        ConfluentPrivateLinkStatus.model_validate({"dnsZoneID": "x"})
    with pytest.raises(ValidationError, match="extra"):
        ServerlessTransitStatus(backendIPs=["10.0.0.1"])  # type: ignore[call-arg]


def test_own_status_read_back_keeps_what_validates_and_drops_the_rest() -> None:
    status = read_status(ConfluentPrivateLinkStatus, OLD_STATUS, drop_invalid=True)
    assert status.observed_generation == 2
    assert status.zones == [
        ZoneStatus(name="az1", private_ip="10.0.1.4", connection_state="Approved"),
        ZoneStatus(name="az2", connection_state="Approved"),  # a public IP is never used
    ]
    assert [c.type for c in status.conditions] == ["Stalled"]


def test_another_object_s_status_is_read_without_unknown_fields_but_its_values_are_checked() -> None:
    with pytest.raises(ValidationError, match=r"zones\.1\.privateIp"):
        read_status(ConfluentPrivateLinkStatus, OLD_STATUS, drop_invalid=False)
    fine = {**OLD_STATUS, "zones": OLD_STATUS["zones"][:1], "conditions": []}
    assert read_status(ConfluentPrivateLinkStatus, fine, drop_invalid=False).zones[0].private_ip == "10.0.1.4"


@pytest.mark.parametrize("raw", [None, "a string", 7, [1, 2]])
def test_a_status_that_is_not_an_object_reads_as_empty(raw: Any) -> None:
    assert read_status(ServerlessTransitStatus, raw, drop_invalid=True) == ServerlessTransitStatus()


def test_a_cr_read_from_the_api_tolerates_unknown_status_fields() -> None:
    body = {
        "apiVersion": "transit.privatelink.io/v1alpha1", "kind": "ConfluentPrivateLink", "metadata": {"name": "c"},
        "spec": {
            "azure": {"subscriptionId": "11111111-2222-3333-4444-555555555555", "resourceGroup": "rg",
                      "location": "westeurope"},
            "confluent": {"networkId": "n-abc", "dnsDomain": "n-abc.westeurope.azure.confluent.cloud",
                          "bootstrapServer": "lkc.n-abc.westeurope.azure.confluent.cloud:9092",
                          "zones": [{"name": "az1", "privateLinkServiceAlias":
                                     "s-a.0b0b0b0b-2222-4222-8222-000000000001.westeurope.azure.privatelinkservice"}]},
            "privateEndpoints": {"subnetId": "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/"
                                             "providers/Microsoft.Network/virtualNetworks/vnet/subnets/pe"},
        },
        "status": {"legacy": 1, "zones": [{"name": "az1", "privateIp": "10.0.1.4", "old": "x"}]},
    }
    cpl = ConfluentPrivateLink.model_validate(body)
    assert cpl.status is not None and cpl.status.zones[0].private_ip == "10.0.1.4"
    body["status"]["zones"][0]["privateIp"] = "127.0.0.1"
    with pytest.raises(ValidationError, match=r"status\.zones\.0\.privateIp"):
        ConfluentPrivateLink.model_validate(body)


def test_dump_is_camel_case_json_and_an_unset_value_is_an_absent_key() -> None:
    status = ConfluentPrivateLinkStatus(observed_generation=1, zones=[ZoneStatus(name="az1")])
    assert dump_status(status) == {
        "observedGeneration": 1, "conditions": [], "retiringDnsZoneIds": [], "zones": [{"name": "az1"}],
    }
