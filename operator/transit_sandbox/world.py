"""The customer's side of a sandbox world, which the operator expects to exist: the VNet an haproxy
ServerlessTransit and its ConfluentPrivateLink live in. Used by the reconcile tests and the benchmarks.

Created through the caller's `azure-mgmt-network` client (duck-typed: the sandbox imports no SDK), so it
goes over HTTPS to the ARM emulator like any customer PUT; clear the request logs afterwards.
"""

from __future__ import annotations

from typing import Any


def transit_vnet_body(location: str) -> dict[str, Any]:
    """10.20.0.0/16 with `transit` (the load balancer frontend and the instances), `pls` (the Private
    Link Service's NAT IPs: network policies off) and `consumers` (the Confluent private endpoints)."""
    return {
        "location": location,
        "properties": {
            "addressSpace": {"addressPrefixes": ["10.20.0.0/16"]},
            "subnets": [
                {"name": "transit", "properties": {"addressPrefix": "10.20.1.0/24"}},
                {
                    "name": "pls",
                    "properties": {
                        "addressPrefix": "10.20.2.0/24",
                        "privateLinkServiceNetworkPolicies": "Disabled",
                    },
                },
                {"name": "consumers", "properties": {"addressPrefix": "10.20.3.0/24"}},
            ],
        },
    }


def create_transit_vnet(network: Any, resource_group: str, location: str, name: str = "vnet") -> None:
    """PUT the VNet of `transit_vnet_body` with `network` (a NetworkManagementClient) and wait for it."""
    network.virtual_networks.begin_create_or_update(
        resource_group, name, transit_vnet_body(location)
    ).result()
