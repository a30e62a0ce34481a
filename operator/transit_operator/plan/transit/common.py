"""What the plans of every ServerlessTransit option share: the Databricks actions around the option's own
ARM objects, and the `waiting` sentences about the referenced ConfluentPrivateLink.

An option's builder (`plan.transit.haproxy`, `.appgw`, registered in `plan.transit.PLANS`) makes its ARM
bodies and the NCC rule body (the rule's target is the option's private link resource), then hands them to
`build_transit_plan`. Resource families an option can reuse: `lb_pls` (Standard LB + Private Link Service)
and `vmss` (a scale set in the LB pool).
"""

from __future__ import annotations

from typing import Any

from transit_operator.api.kinds import SERVERLESS_TRANSIT
from transit_operator.api.v1alpha1 import ConfluentPrivateLink, ServerlessTransit, ServerlessTransitSpec
from transit_operator.plan import ids
from transit_operator.plan.confluent import healthy_endpoint_ips
from transit_operator.plan.model import AzureResource, Plan
from transit_operator.plan.ncc import build_databricks_actions
from transit_operator.plan.ownership import Owner, owner_tags

__all__ = ["KIND", "build_nsg", "build_security_rule", "build_transit_plan", "cpl_key", "endpoint_waiting"]

KIND = SERVERLESS_TRANSIT.kind


def build_security_rule(
    name: str,
    priority: int,
    access: str,
    *,
    protocol: str,
    source: str,
    ports: list[str],
    description: str | None = None,
) -> dict[str, Any]:
    """One inbound NSG rule, as both options' NSGs carry them. Ports always go in the plural
    `destinationPortRanges` (valid with one item; Azure refuses a rule carrying both forms)."""
    properties: dict[str, Any] = {"description": description} if description else {}
    properties |= {
        "priority": priority,
        "direction": "Inbound",
        "access": access,
        "protocol": protocol,
        "sourceAddressPrefix": source,
        "sourcePortRange": "*",
        "destinationAddressPrefix": "*",
        "destinationPortRanges": ports,
    }
    return {"name": name, "properties": properties}


def build_nsg(
    spec: ServerlessTransitSpec, nsg_id: str, rules: list[dict[str, Any]], *, owner: Owner
) -> AzureResource:
    """An option's network security group with its inbound `rules` (`build_security_rule`)."""
    return AzureResource(
        type=ids.NETWORK_SECURITY_GROUPS,
        id=nsg_id,
        apiVersion=ids.api_version_for(ids.NETWORK_SECURITY_GROUPS),
        body={"location": spec.azure.location, "tags": owner_tags(owner), "properties": {"securityRules": rules}},
        dependsOn=[],
    )


def cpl_key(sxt: ServerlessTransit, owner: Owner) -> str:
    """`ConfluentPrivateLink <namespace>/<name>`: the referenced object, as messages name it."""
    return f"ConfluentPrivateLink {owner.namespace}/{sxt.spec.confluent_private_link_ref.name}"


def endpoint_waiting(
    sxt: ServerlessTransit,
    owner: Owner,
    cpl: ConfluentPrivateLink | None,
    *,
    needs: str,
    empty: str,
    leaves_out: str,
) -> list[str]:
    """The `waiting` sentence about the ConfluentPrivateLink, if any: not found, or zones without an
    Approved endpoint IP. `needs`: what waits for it besides the NCC rule; `empty` / `leaves_out`: what
    no healthy zone at all / some zones missing mean for the option's proxy."""
    key = cpl_key(sxt, owner)
    if cpl is None:
        return [f"{needs} and the NCC private endpoint rule wait for {key} (not found)"]
    healthy = healthy_endpoint_ips(cpl.status)
    missing = sorted(z.name for z in cpl.spec.confluent.zones if z.name not in healthy)
    if not missing:
        return []
    which = ", ".join(missing)
    what = empty if len(missing) == len(cpl.spec.confluent.zones) else f"{leaves_out} {which}"
    return [f"{what}: waiting for Approved endpoint IPs of zones {which} in the status of {key}"]


def build_transit_plan(
    sxt: ServerlessTransit,
    owner: Owner,
    *,
    azure: list[AzureResource],
    rule: dict[str, Any] | None,
    files: dict[str, str],
    waiting: list[str],
) -> Plan:
    """The option's ARM objects (dependencies first) and files, with the Databricks actions: the NCC (when
    created by name), `rule` (None: it waits for the ConfluentPrivateLink) and the workspace bindings."""
    spec = sxt.spec
    ncc_status = sxt.status.ncc if sxt.status else None
    databricks = build_databricks_actions(
        spec.databricks,
        default_region=spec.azure.location,
        rule=rule,
        ncc_id=ncc_status.id if ncc_status else None,
    )
    return Plan(
        kind=KIND,
        namespace=owner.namespace,
        name=owner.name,
        azure=azure,
        databricks=databricks,
        files=files,
        waiting=waiting,
    )
