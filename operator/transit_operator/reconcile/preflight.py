"""Reads before the first write: what the spec points at must exist, and what it pins must fit.

The API models refuse everything that can be known from the spec alone. Some things need one read: the
subnets a spec names exist (the customer may create them after the CR; a write that references a missing
subnet fails after the resources before it were created), a static private IP is inside its subnet and not
one Azure reserves (Azure refuses the App Gateway only after its public IP, NSG and subnet association
were written). `check_network` makes those reads and says what is missing (wait, retried slowly: never
`Stalled` for it) and what can never work (`Stalled/InvalidSpec` naming the field). Nothing is written.

The reconcilers run it until the object has been Ready at its generation once (`needed`): a steady-state
pass makes no extra reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from transit_operator.cloud.arm import Arm
from transit_operator.cloud.network import observe_subnet, observe_virtual_network, static_ip_problem
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile.outcome import Status

__all__ = ["NetworkCheck", "StaticIp", "check_network", "needed"]


@dataclass(frozen=True)
class StaticIp:
    field: str  # camelCase path of the address in the spec
    address: str
    subnet_field: str  # the subnet it must be in (one of `subnets`)


@dataclass
class NetworkCheck:
    missing: list[str] = field(default_factory=list)  # "<field>: subnet ... does not exist (yet)"
    invalid: list[str] = field(default_factory=list)  # "<field>: ... can never work"

    @property
    def ok(self) -> bool:
        return not self.missing and not self.invalid


def needed(status: Status, generation: int | None) -> bool:
    """True unless the object was Ready at this generation (the reads were made then, and passed)."""
    ready = cond.find(status.conditions, cond.READY)
    return not (ready is not None and ready.status == "True" and ready.observed_generation == generation)


def check_network(
    arm: Arm,
    *,
    subnets: Sequence[tuple[str, str]],
    virtual_networks: Sequence[tuple[str, str]] = (),
    static_ips: Sequence[StaticIp] = (),
) -> NetworkCheck:
    """One GET per distinct subnet and VNet. `subnets`, `virtual_networks`: (field, id). Cloud errors
    propagate as `CloudError` (the caller reports them like any other)."""
    check = NetworkCheck()
    seen: dict[str, Any] = {}
    for field_name, subnet_id in subnets:
        key = subnet_id.lower()
        if key not in seen:
            seen[key] = observe_subnet(arm, subnet_id)
        if seen[key] is None:
            check.missing.append(f"{field_name}: subnet {subnet_id} does not exist (yet)")
    for field_name, vnet_id in virtual_networks:
        if not observe_virtual_network(arm, vnet_id):
            check.missing.append(f"{field_name}: virtual network {vnet_id} does not exist (yet)")
    by_field = dict(subnets)
    for pinned in static_ips:
        facts = seen.get(by_field[pinned.subnet_field].lower())
        if facts is None:
            continue  # reported as missing
        problem = static_ip_problem(pinned.address, facts.prefixes)
        if problem is not None:
            check.invalid.append(f"{pinned.field}: {problem} ({pinned.subnet_field})")
    return check
