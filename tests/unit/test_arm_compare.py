"""cloud.arm's pure parts: the desired ⊆ observed comparison, the type table and id -> SDK arguments."""

from __future__ import annotations

import pytest

from transit_operator.cloud.arm import TYPES, arm_type, is_subset, resource_type_of
from transit_operator.cloud.errors import UnsupportedResourceType

SUB = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg"
SUBNET = f"{SUB}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/pe"


@pytest.mark.parametrize(
    ("desired", "observed", "expected"),
    [
        pytest.param({"a": 1}, {"a": 1, "etag": "x", "id": "y"}, True, id="server-added-keys-ignored"),
        pytest.param({"a": 1}, {"a": 2}, False, id="scalar-differs"),
        pytest.param({"a": 1}, {}, False, id="desired-key-missing"),
        pytest.param({"subnet": {"id": SUBNET}}, {"subnet": {"id": SUBNET.lower()}}, True,
                     id="arm-ids-case-insensitive"),
        pytest.param({"name": "Zone"}, {"name": "zone"}, False, id="other-strings-case-sensitive"),
        pytest.param({"flag": False}, {"flag": 0}, False, id="bool-is-not-int"),
        pytest.param({"ttl": 60}, {"ttl": 60.0}, True, id="numbers-by-value"),
        pytest.param({"x": None}, {}, True, id="none-matches-missing"),
        pytest.param({"x": None}, {"x": 1}, False, id="none-does-not-match-a-value"),
        pytest.param({"pool": []}, {}, True, id="empty-list-matches-missing"),
        pytest.param({"pool": []}, {"pool": None}, True, id="empty-list-matches-null"),
        pytest.param({"pool": []}, {"pool": [{"ipAddress": "10.0.0.4"}]}, False, id="empty-list-is-not-any-list"),
        pytest.param({"p": {}}, {"p": {"computed": 1}}, True, id="empty-object-asks-for-nothing"),
        pytest.param(
            {"c": [{"name": "b", "p": 2}, {"name": "a", "p": 1}]},
            {"c": [{"name": "A", "p": 1, "etag": "e"}, {"name": "b", "p": 2}]},
            True,
            id="named-items-matched-by-name",
        ),
        pytest.param({"c": [{"name": "a"}]}, {"c": [{"name": "a"}, {"name": "b"}]}, False,
                     id="extra-named-item-differs"),
        pytest.param(
            {"aRecords": [{"ipv4Address": "10.0.0.5"}, {"ipv4Address": "10.0.0.4"}]},
            {"aRecords": [{"ipv4Address": "10.0.0.4"}, {"ipv4Address": "10.0.0.5"}]},
            True,
            id="unnamed-items-as-multiset",
        ),
        pytest.param(
            {"aRecords": [{"ipv4Address": "10.0.0.4"}]},
            {"aRecords": [{"ipv4Address": "10.0.0.4"}, {"ipv4Address": "10.0.0.5"}]},
            False,
            id="extra-ip-differs",
        ),
        pytest.param(
            {"aRecords": [{"ipv4Address": "10.0.0.4"}, {"ipv4Address": "10.0.0.4"}]},
            {"aRecords": [{"ipv4Address": "10.0.0.4"}, {"ipv4Address": "10.0.0.5"}]},
            False,
            id="multiset-counts-duplicates",
        ),
    ],
)
def test_is_subset(desired: object, observed: object, expected: bool) -> None:
    assert is_subset(desired, observed) is expected


@pytest.mark.parametrize(
    ("resource_id", "type_", "operations", "arguments"),
    [
        pytest.param(f"{SUB}/providers/Microsoft.Network/privateEndpoints/pe1", "Microsoft.Network/privateEndpoints",
                     "private_endpoints", ("rg", "pe1"), id="private-endpoint"),
        pytest.param(SUBNET, "Microsoft.Network/virtualNetworks/subnets", "subnets", ("rg", "vnet", "pe"),
                     id="subnet-child"),
        pytest.param(f"{SUB}/providers/Microsoft.Network/privateDnsZones/d.example.com/virtualNetworkLinks/l",
                     "Microsoft.Network/privateDnsZones/virtualNetworkLinks", "virtual_network_links",
                     ("rg", "d.example.com", "l"), id="vnet-link"),
        pytest.param(f"{SUB}/providers/Microsoft.Network/privateDnsZones/d.example.com/A/*.az1",
                     "Microsoft.Network/privateDnsZones/A", "record_sets",
                     ("rg", "d.example.com", "A", "*.az1"), id="record-set-type-is-an-argument"),
        pytest.param(f"{SUB}/providers/Microsoft.Compute/virtualMachineScaleSets/v",
                     "Microsoft.Compute/virtualMachineScaleSets", "virtual_machine_scale_sets", ("rg", "v"),
                     id="vmss"),
    ],
)
def test_id_to_sdk_operation(resource_id: str, type_: str, operations: str, arguments: tuple) -> None:
    assert resource_type_of(resource_id) == type_
    entry = arm_type(type_)
    assert entry.operations == operations
    assert entry.arguments(resource_id) == arguments


def test_record_sets_are_synchronous_and_tagged_in_metadata() -> None:
    entry = arm_type("microsoft.network/privatednszones/cname")
    assert not entry.long_running and entry.tags_path == ("properties", "metadata")


def test_every_table_entry_names_a_real_sdk_operation_group() -> None:
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.privatedns import PrivateDnsManagementClient

    from transit_operator.cloud.context import StaticTokenCredential

    cred = StaticTokenCredential("t")
    clients = {
        "network": NetworkManagementClient(cred, "s"),
        "privatedns": PrivateDnsManagementClient(cred, "s"),
        "compute": ComputeManagementClient(cred, "s"),
    }
    for entry in TYPES.values():
        ops = getattr(clients[entry.service], entry.operations)
        create = "begin_create_or_update" if entry.long_running else "create_or_update"
        delete = "begin_delete" if entry.long_running else "delete"
        assert all(hasattr(ops, m) for m in ("get", create, delete)), entry


def test_unknown_type_is_a_clear_error() -> None:
    with pytest.raises(UnsupportedResourceType, match=r"add it to cloud\.arm\.TYPES"):
        arm_type("Microsoft.Storage/storageAccounts")
