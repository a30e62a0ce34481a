"""Typed facts about the customer's network, read before the operator writes anything.

A spec can name a subnet that does not exist yet, or a static IP that Azure will refuse in that subnet;
both are known from one GET each, and writing the resources that do not depend on them first would leave
objects behind that can never be used. `observe_subnet` and `observe_virtual_network` read them (through
`cloud.arm.Arm`, so ids are checked and errors wrapped like every other call) and `static_ip_problem` says
whether an address can be a static private IP of a subnet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from transit_operator.cloud.arm import Arm

__all__ = ["SubnetFacts", "observe_subnet", "observe_virtual_network", "static_ip_problem"]

# Azure reserves the first four addresses and the last one of every subnet (network address, default
# gateway, two for Azure DNS, broadcast): learn.microsoft.com/azure/virtual-network/virtual-networks-faq
# ("Are there any restrictions on using IP addresses within these subnets?").
_RESERVED_AT_START = 4


@dataclass(frozen=True)
class SubnetFacts:
    id: str
    prefixes: tuple[str, ...]  # addressPrefix / addressPrefixes (IPv4 and IPv6 as Azure returns them)
    provisioning_state: str | None


def observe_subnet(arm: Arm, subnet_id: str) -> SubnetFacts | None:
    """The subnet, or None when it (or its VNet) does not exist."""
    body = arm.observe(subnet_id)
    if body is None:
        return None
    props = body.get("properties") or {}
    prefixes = [str(p) for p in props.get("addressPrefixes") or []]
    if props.get("addressPrefix"):
        prefixes.insert(0, str(props["addressPrefix"]))
    state = props.get("provisioningState")
    return SubnetFacts(subnet_id, tuple(dict.fromkeys(prefixes)), str(state) if state else None)


def observe_virtual_network(arm: Arm, vnet_id: str) -> bool:
    """True when the VNet exists."""
    return arm.observe(vnet_id) is not None


def static_ip_problem(address: str, prefixes: Sequence[str]) -> str | None:
    """Why `address` cannot be a static private IP in a subnet with `prefixes`; None when it can."""
    ip = ipaddress.ip_address(address)
    networks = []
    for prefix in prefixes:
        try:
            networks.append(ipaddress.ip_network(prefix, strict=False))
        except ValueError:
            continue
    inside = [n for n in networks if n.version == ip.version and ip in n]
    if not inside:
        shown = ", ".join(prefixes) or "no address prefix"
        return f"{address} is not inside the subnet ({shown})"
    network = inside[0]
    offset = int(ip) - int(network.network_address)
    if offset < _RESERVED_AT_START or ip == network.broadcast_address:
        return (
            f"{address} is one of the addresses Azure reserves in {network} (the first four and the last)"
        )
    return None
