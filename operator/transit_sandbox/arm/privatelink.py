"""Private Link: connections between private endpoints and the services they reach.

A connection is one record (`Arm.links`), seen from both sides: the target (a Private Link Service or an
Application Gateway) lists it under `privateEndpointConnections`, the private endpoint shows its state in
`privateLinkServiceConnectionState` of its (manual)PrivateLinkServiceConnections. The target's owner
approves or rejects it with a PUT on the target's connection; deleting the endpoint removes it; removing
it on the target side leaves the endpoint `Disconnected`.

A private endpoint names its target by resource id or, for a PLS, by alias
(https://learn.microsoft.com/azure/private-link/private-link-service-overview#alias). An alias that no
emulated PLS owns but has the form `<prefix>.<guid>.<region>.azure.privatelinkservice` is a service in
another tenant: here, Confluent Cloud's, which approves the connections of subscriptions registered for
Private Link access on its side after a short delay (`Arm.confluent_approval_seconds`). Tests can make an
alias reject (`Arm.alias_behaviour[alias] = "reject"`) or not exist (`"unknown"`).

`ArmPrivateLinkBroker` exposes the same records to the Databricks emulator (`transit_sandbox.links`): an
NCC private endpoint rule is an endpoint in Databricks' subscription connecting to a customer's target.
"""

from __future__ import annotations

import random
import re
import uuid
from typing import Any

from ..links import LinkError
from .core import Arm, ArmError, ResourceId, bad_request, find_named, lower, new_etag

PLS_TYPE = "Microsoft.Network/privateLinkServices"
APPGW_TYPE = "Microsoft.Network/applicationGateways"
ALIAS = re.compile(r"^[A-Za-z0-9-_.]+\.[0-9a-fA-F-]{36}\.[a-z0-9]+\.azure\.privatelinkservice$")

# Azure's code when a PE names a target that does not exist or is not visible to the subscription
# (seen in Azure/azure-powershell#24514).
TARGET_NOT_FOUND = "ThirdPartyPrivateLinkServiceProvidedDuringPrivateEndpointCreationDoesNotExistOrIsNotVisible"


def pls_by_alias(arm: Arm, alias: str) -> dict[str, Any] | None:
    for doc in arm.of_type(PLS_TYPE):
        if doc["properties"].get("alias", "").lower() == alias.lower():
            return doc
    return None


def resolve_target(arm: Arm, target: str, group_ids: list[str], subscription: str, by: str) -> tuple[str, str, Any]:
    """(kind, canonical target, stored doc or None): kind is `pls`, `appgw` or `confluent`."""
    if ALIAS.match(target) or target.endswith(".azure.privatelinkservice"):
        pls = pls_by_alias(arm, target)
        if pls is not None:
            return "pls", pls["id"], pls
        if arm.alias_behaviour.get(target.lower()) == "unknown" or not ALIAS.match(target):
            raise bad_request(TARGET_NOT_FOUND, f"Third-party Private Link Service alias {target} provided "
                              f"during private endpoint {by} creation does not exist or is not visible.")
        return "confluent", target, None
    doc = arm.get_doc(target)
    if doc is None:
        raise bad_request(TARGET_NOT_FOUND, f"Third-party Private Link Service Id {target} provided during "
                          f"private endpoint {by} creation does not exist or is not visible.")
    if doc["type"] == PLS_TYPE:
        if group_ids:
            # UNCONFIRMED code. A PLS has no sub-resources: group ids must be empty.
            raise bad_request("InvalidPrivateEndpointGroupId", f"Private Link Service {target} has no group ids; got {group_ids}.")
        visible = doc["properties"].get("visibility", {}).get("subscriptions") or []
        owner_sub = ResourceId.parse(doc["id"]).subscription  # type: ignore[union-attr]
        if subscription.lower() != owner_sub.lower() and "*" not in visible and subscription.lower() not in {
            s.lower() for s in visible
        }:
            raise bad_request(TARGET_NOT_FOUND, f"Private Link Service {target} is not visible to subscription {subscription}.")
        return "pls", doc["id"], doc
    if doc["type"] == APPGW_TYPE:
        # The group id is the name of a frontend IP configuration carrying a private link configuration
        # (https://learn.microsoft.com/azure/application-gateway/private-link-configure).
        offered = appgw_group_ids(doc)
        if len(group_ids) != 1 or group_ids[0].lower() not in {g.lower() for g in offered}:
            # INVENTED code: the real one was not found in public sources.
            raise bad_request(
                "ApplicationGatewayPrivateLinkInvalidGroupId",
                f"Group id {group_ids} is not a private-link-enabled frontend IP configuration of application "
                f"gateway {target}; valid group ids: {offered}.",
            )
        return "appgw", doc["id"], doc
    raise bad_request(
        "PrivateEndpointTargetNotSupported",  # INVENTED: the target type cannot be reached by private link here
        f"Resource {target} of type {doc['type']} is not a private link service.",
    )


def appgw_group_ids(doc: dict[str, Any]) -> list[str]:
    """The frontend IP configurations a private endpoint may target: those carrying a private link
    configuration *and* used by a listener (L4 `listeners` or `httpListeners`): "ensure a listener is actively
    utilizing the respected frontend IP configuration"
    (https://learn.microsoft.com/azure/application-gateway/private-link-configure)."""
    props = doc["properties"]
    listened = {
        lower(listener.get("properties", {}).get("frontendIPConfiguration", {}).get("id", ""))
        for coll in ("listeners", "httpListeners")
        for listener in props.get(coll) or []
    }
    return [
        fe["name"]
        for fe in props.get("frontendIPConfigurations") or []
        if fe.get("properties", {}).get("privateLinkConfiguration") and lower(fe.get("id", "")) in listened
    ]


def initial_status(kind: str, doc: dict[str, Any] | None, subscription: str, manual: bool) -> str:
    if kind == "pls" and doc is not None:
        auto = {s.lower() for s in doc["properties"].get("autoApproval", {}).get("subscriptions") or []}
        if subscription.lower() in auto:
            return "Approved"
    if not manual and kind in ("pls", "appgw") and doc is not None:
        # An automatic connection needs approval rights on the target; the same subscription stands in.
        owner_sub = ResourceId.parse(doc["id"]).subscription  # type: ignore[union-attr]
        if owner_sub.lower() == subscription.lower():
            return "Approved"
    return "Pending"


def create_link(
    arm: Arm, kind: str, target: str, doc: dict[str, Any] | None, endpoint_id: str, pe_connection: str,
    group_ids: list[str], request_message: str, manual: bool,
) -> dict[str, Any]:
    endpoint = ResourceId.parse(endpoint_id)
    subscription = endpoint.subscription if endpoint else ""
    name = f"{endpoint.name if endpoint else 'pe'}.{uuid.uuid4()}"
    status = initial_status(kind, doc, subscription, manual)
    link: dict[str, Any] = {
        "id": f"{target}/privateEndpointConnections/{name}",
        "target": target,
        "targetKind": kind,
        "name": name,
        "endpointId": endpoint_id,
        "peConnection": pe_connection,
        "groupIds": list(group_ids),
        "requestMessage": request_message,
        "status": status,
        "description": "Auto-Approved" if status == "Approved" else "Awaiting approval",
        "actionsRequired": "None",
        "linkIdentifier": str(random.randint(10**8, 2**31 - 1)),
        "etag": new_etag(),
    }
    if kind == "confluent":
        behaviour = arm.alias_behaviour.get(target.lower(), "approve")
        link["decideAt"] = arm.clock() + arm.confluent_approval_seconds
        link["decision"] = "Rejected" if behaviour == "reject" else "Approved"
        arm.undecided[lower(link["id"])] = link
    arm.links[lower(link["id"])] = link
    return link


def advance_links(arm: Arm, now: float) -> bool:
    """Confluent's decisions whose time has come (`arm.undecided`: the links created with one, so that a
    tick does not walk every connection ever made)."""
    changed = False
    for key, link in list(arm.undecided.items()):
        if arm.links.get(key) is not link or link.get("decideAt") is None or link["status"] != "Pending":
            del arm.undecided[key]  # gone, or decided by a PUT of the connection (set_state)
            continue
        if link["decideAt"] <= now:
            del arm.undecided[key]
            link["status"] = link.pop("decision")
            if link["status"] == "Approved":
                link["approvedAt"] = now
            link["description"] = "Approved by the service provider" if link["status"] == "Approved" else "Rejected"
            link.pop("decideAt")
            changed = True
    return changed


def links_of_target(arm: Arm, target_id: str) -> list[dict[str, Any]]:
    return [lk for lk in arm.links.values() if lower(lk["target"]) == lower(target_id)]


def link_of_endpoint(arm: Arm, endpoint_id: str, pe_connection: str) -> dict[str, Any] | None:
    for link in arm.links.values():
        if lower(link["endpointId"]) == lower(endpoint_id) and link["peConnection"].lower() == pe_connection.lower():
            return link
    return None


def drop_links(arm: Arm, *, target_id: str | None = None, endpoint_id: str | None = None) -> None:
    for key, link in list(arm.links.items()):
        if (target_id and lower(link["target"]) == lower(target_id)) or (
            endpoint_id and lower(link["endpointId"]) == lower(endpoint_id)
        ):
            del arm.links[key]


def connection_view(link: dict[str, Any], type_: str) -> dict[str, Any]:
    """The target-side `PrivateEndpointConnection` REST object (a PLS's; an App Gateway's
    `ApplicationGatewayPrivateEndpointConnection` has no `privateEndpointLocation`)."""
    view = {
        "id": link["id"],
        "name": link["name"],
        "type": f"{type_}/privateEndpointConnections",
        "etag": link["etag"],
        "properties": {
            "provisioningState": "Succeeded",
            "privateEndpoint": {"id": link["endpointId"]},
            "privateLinkServiceConnectionState": {
                "status": link["status"],
                "description": link["description"],
                "actionsRequired": link["actionsRequired"],
            },
            "linkIdentifier": link["linkIdentifier"],
        },
    }
    if not type_.lower().endswith("/applicationgateways"):
        view["properties"]["privateEndpointLocation"] = ""
    return view


def connection_state(arm: Arm, endpoint_id: str, pe_connection: str) -> dict[str, str]:
    link = link_of_endpoint(arm, endpoint_id, pe_connection)
    if link is None:
        # The target removed the connection (or the target is gone).
        return {"status": "Disconnected", "description": "Connection removed by the service owner",
                "actionsRequired": "None"}
    return {"status": link["status"], "description": link["description"], "actionsRequired": link["actionsRequired"]}


def set_state(arm: Arm, link: dict[str, Any], state: dict[str, Any]) -> None:
    status = state.get("status")
    if status not in ("Approved", "Rejected", "Pending", "Disconnected"):
        raise bad_request("InvalidPrivateLinkServiceConnectionState", f"Invalid connection status {status!r}.")
    if link["status"] == "Rejected" and status == "Approved":
        # Azure: a rejected connection cannot be approved again; the consumer must re-create its endpoint.
        # UNCONFIRMED code.
        raise bad_request("CannotApproveRejectedPrivateEndpointConnection",
                          f"Private endpoint connection {link['name']} was rejected and cannot be approved.")
    if status == "Approved" and link["status"] != "Approved":
        link["approvedAt"] = arm.clock()
    elif status != "Approved":
        link.pop("approvedAt", None)
    link["status"] = status
    link["description"] = state.get("description") or ""
    link["actionsRequired"] = state.get("actionsRequired") or "None"
    link["etag"] = new_etag()
    link.pop("decideAt", None)
    link.pop("decision", None)


class ArmPrivateLinkBroker:
    """`transit_sandbox.links.PrivateLinkBroker` on the emulated ARM, for the Databricks emulator."""

    def __init__(self, arm: Arm) -> None:
        self.arm = arm

    def connect(self, target_id: str, group_id: str | None, endpoint_id: str, request_message: str) -> str:
        arm = self.arm
        with arm.lock:
            arm.tick()
            endpoint = ResourceId.parse(endpoint_id)
            try:
                kind, target, doc = resolve_target(
                    arm, target_id, [group_id] if group_id else [], endpoint.subscription if endpoint else "",
                    endpoint_id,
                )
            except ArmError as err:
                raise LinkError(err.code, err.message) from err
            name = endpoint.name if endpoint else "databricks"
            link = create_link(arm, kind, target, doc, endpoint_id, name, [group_id] if group_id else [],
                               request_message, manual=True)
            arm.save()
            return link["name"]

    def status(self, target_id: str, connection_name: str) -> str | None:
        with self.arm.lock:
            self.arm.tick()
            link = self.arm.links.get(lower(f"{self._target(target_id)}/privateEndpointConnections/{connection_name}"))
            return None if link is None else link["status"]

    def approved_since(self, target_id: str, connection_name: str) -> float | None:
        with self.arm.lock:
            link = self.arm.links.get(lower(f"{self._target(target_id)}/privateEndpointConnections/{connection_name}"))
            if link is None or link["status"] != "Approved" or "approvedAt" not in link:
                return None
            return self.arm.clock() - float(link["approvedAt"])

    def disconnect(self, target_id: str, connection_name: str) -> None:
        with self.arm.lock:
            self.arm.links.pop(lower(f"{self._target(target_id)}/privateEndpointConnections/{connection_name}"), None)
            self.arm.save()

    def _target(self, target_id: str) -> str:
        pls = pls_by_alias(self.arm, target_id) if target_id.endswith(".azure.privatelinkservice") else None
        return pls["id"] if pls else target_id


__all__ = ["ArmPrivateLinkBroker", "connection_view", "find_named"]
