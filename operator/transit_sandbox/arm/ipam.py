"""Private IP addresses: which subnet holds which address, and allocation the way Azure does it.

Azure reserves the first four addresses and the last one of every subnet
(https://learn.microsoft.com/azure/virtual-network/virtual-networks-faq#are-there-any-restrictions-on-using-ip-addresses-within-these-subnets).
Dynamic allocation takes the lowest free address; an IP configuration that is re-PUT unchanged keeps its
address. Any object in any resource of the form `{"subnet": {"id": S}, "privateIPAddress": A}` holds A in S
(NIC and App Gateway IP configurations, LB and App Gateway frontends, PLS NAT IPs).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from .core import Arm, ArmError, bad_request, lower


def subnet_networks(subnet: dict[str, Any]) -> list[ipaddress.IPv4Network]:
    props = subnet.get("properties", {})
    prefixes = props.get("addressPrefixes") or ([props["addressPrefix"]] if props.get("addressPrefix") else [])
    out = []
    for prefix in prefixes:
        try:
            out.append(ipaddress.IPv4Network(prefix, strict=True))
        except ValueError as exc:
            raise bad_request("InvalidCIDRNotation", f"The address prefix {prefix} has an invalid CIDR notation.") from exc
    return out


def ip_holders(value: Any) -> Iterator[dict[str, Any]]:
    """Every `{"subnet": {"id"}, "privateIPAddress"}` object inside a JSON value."""
    if isinstance(value, dict):
        if isinstance(value.get("subnet"), dict) and "id" in value["subnet"]:
            yield value
        for item in value.values():
            yield from ip_holders(item)
    elif isinstance(value, list):
        for item in value:
            yield from ip_holders(item)


def used_ips(arm: Arm, subnet_id: str, exclude: str | None = None) -> dict[str, str]:
    """address -> id of the resource holding it, in the subnet."""
    target = lower(subnet_id)
    out = {}
    for key, doc in arm.resources.items():
        if key == (exclude and lower(exclude)):
            continue
        for holder in ip_holders(doc.get("properties")):
            if lower(holder["subnet"]["id"]) == target and holder.get("privateIPAddress"):
                out[holder["privateIPAddress"]] = doc["id"]
    return out


def allocate(
    arm: Arm,
    owner_id: str,
    config: dict[str, Any],
    old_config: dict[str, Any] | None,
    taken_here: set[str],
    address_version: bool = True,
) -> None:
    """Fill `config["privateIPAddress"]` (a properties dict with `subnet` and `privateIPAllocationMethod`),
    and `privateIPAddressVersion` where the type declares it (`address_version`: App Gateway IP
    configurations have none in the spec)."""
    subnet_id = config["subnet"]["id"]
    subnet = arm.resolve(subnet_id)
    if subnet is None:
        raise arm.invalid_reference(subnet_id, owner_id)
    networks = subnet_networks(subnet)
    used = used_ips(arm, subnet_id, exclude=owner_id)
    method = config.setdefault("privateIPAllocationMethod", "Dynamic")
    if address_version:
        config.setdefault("privateIPAddressVersion", "IPv4")
    if method == "Static":
        address = config.get("privateIPAddress")
        if not address:
            raise bad_request("PrivateIPAddressIsRequired", f"Static allocation needs privateIPAddress ({owner_id}).")
        ip = ipaddress.IPv4Address(address)
        net = next((n for n in networks if ip in n), None)
        if net is None:
            raise bad_request(
                "PrivateIPAddressNotInSubnet",
                f"IP configuration {owner_id} is referencing private IP address {address} which is not in the "
                f"address range of subnet {subnet_id}.",
            )
        if ip in list(net)[:4] or ip == net.broadcast_address:
            # UNCONFIRMED code; the rule (first four and last address reserved) is documented.
            raise bad_request("PrivateIPAddressInReservedRange", f"Private IP address {address} is reserved in {subnet_id}.")
        if address in used or address in taken_here:
            raise bad_request(
                "PrivateIPAddressInUse",
                f"IP configuration {owner_id} is using the private IP address {address} which is already "
                f"allocated to resource {used.get(address, owner_id)}.",
            )
        taken_here.add(address)
        return
    if (
        old_config is not None
        and lower(old_config.get("subnet", {}).get("id", "")) == lower(subnet_id)
        and old_config.get("privateIPAddress")
        and old_config["privateIPAddress"] not in taken_here
    ):
        config["privateIPAddress"] = old_config["privateIPAddress"]
        taken_here.add(config["privateIPAddress"])
        return
    for net in networks:
        for ip in list(net.hosts())[3:]:  # .1-.3 reserved by Azure, broadcast excluded by hosts()
            if str(ip) not in used and str(ip) not in taken_here:
                config["privateIPAddress"] = str(ip)
                taken_here.add(str(ip))
                return
    raise ArmError(
        400, "SubnetIsFull",
        f"Subnet {subnet_id} with address prefix {[str(n) for n in networks]} does not have enough capacity.",
    )


def subnet_of(arm: Arm, subnet_id: str) -> dict[str, Any] | None:
    return arm.resolve(subnet_id)


def vnet_of_subnet(arm: Arm, subnet_id: str) -> dict[str, Any] | None:
    return arm.owner_of(subnet_id)
