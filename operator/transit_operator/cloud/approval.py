"""Approve exactly one private endpoint connection: the one Databricks created for our NCC rule.

A Private Link Service (or an Application Gateway's private link configuration) collects connections
from any private endpoint allowed to see it; each arrives `Pending` until the resource owner approves it
(docs/platform-rules.md#approval). Approving "the first pending one" would let a stranger's endpoint in, so we
match on identity: the NCC rule reports `endpoint_name` (the Azure private endpoint Databricks created in
its own subscription), and the connection whose `properties.privateEndpoint.id` ends with that name is
ours. We approve that one only, and never reject anything (other connections are not ours to judge).

A connection of ours that someone rejected (or removed) out of band is reported, never approved here:
Azure does not approve a rejected connection again, so undoing a rejection means a new endpoint, i.e. a
new NCC rule, which the reconciler does only when the spec says so (`spec.databricks.reapproveRejected`).

Targets differ only in three calls, so a target is a `ConnectionTarget` (list, approve, remove):
- `PrivateLinkServiceTarget`: `private_link_services.list_private_endpoint_connections` and
  `update_private_endpoint_connection` (synchronous, 200; docs/platform-rules.md#approval),
  `begin_delete_private_endpoint_connection` (finalize: a PLS with live connections cannot be deleted);
- the Application Gateway variant (`application_gateway_private_endpoint_connections.list` /
  `begin_update`, an LRO, `begin_delete`) is one more class with the same three methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, Self

from transit_operator.cloud.context import CloudContext, writing_to
from transit_operator.cloud.errors import RefusedWrite, sdk_errors
from transit_operator.plan.ids import child_id, parse_resource_id, valid_segment

__all__ = [
    "ApplicationGatewayTarget",
    "ApprovalResult",
    "ConnectionTarget",
    "EndpointConnection",
    "PrivateLinkServiceTarget",
    "connection_from_rest",
    "connections_in",
    "ensure_connection_approved",
    "find_connection",
]

APPROVAL_DESCRIPTION = "Approved by transit-operator for Databricks NCC private endpoint rule"


@dataclass(frozen=True)
class EndpointConnection:
    """One private endpoint connection on a target, as the owner sees it."""

    name: str  # the target-side connection name (used in the approve call)
    private_endpoint_id: str  # the consumer's private endpoint (in Databricks' subscription for NCC rules)
    status: str  # Pending | Approved | Rejected | Disconnected
    description: str = ""

    @property
    def endpoint_name(self) -> str:
        return self.private_endpoint_id.rstrip("/").rsplit("/", 1)[-1]


def connection_from_rest(item: Any) -> EndpointConnection:
    """An `EndpointConnection` from a REST dict or an SDK model (hybrid models are mappings too)."""
    doc = item.as_dict() if hasattr(item, "as_dict") else dict(item)
    props = doc.get("properties") or {}
    state = props.get("privateLinkServiceConnectionState") or {}
    endpoint = props.get("privateEndpoint") or {}
    return EndpointConnection(
        name=str(doc.get("name") or ""),
        private_endpoint_id=str(endpoint.get("id") or ""),
        status=str(state.get("status") or ""),
        description=str(state.get("description") or ""),
    )


def connections_in(body: Mapping[str, Any] | None) -> list[EndpointConnection]:
    """The private endpoint connections a target's own GET carries (PLS and App Gateway alike)."""
    props = (body or {}).get("properties") or {}
    return [connection_from_rest(c) for c in props.get("privateEndpointConnections") or []]


def find_connection(
    connections: Iterable[EndpointConnection], endpoint_name: str
) -> EndpointConnection | None:
    """The connection whose private endpoint is named `endpoint_name` (last id segment, case-insensitive;
    a plain suffix test would also match `xdatabricks-...`)."""
    wanted = endpoint_name.lower()
    for connection in connections:
        if connection.endpoint_name.lower() == wanted:
            return connection
    return None


class ConnectionTarget(Protocol):
    """A private-link-capable resource whose connections we can list and approve."""

    resource_id: str

    def list_connections(self) -> list[EndpointConnection]: ...

    def approve(self, connection: EndpointConnection, description: str) -> None: ...

    def remove(self, connection: EndpointConnection) -> None:
        """Delete the connection on the target side (started, not awaited)."""
        ...


def _approved(connection: EndpointConnection, description: str) -> dict[str, Any]:
    """The connection body that approves it (the same for every target type)."""
    return {
        "name": connection.name,
        "properties": {
            "privateLinkServiceConnectionState": {
                "status": "Approved",
                "description": description,
                "actionsRequired": "None",
            }
        },
    }


@dataclass
class _TargetResource:
    """Where a target's connections live: its network client, resource group and name (and full id).

    Every call leaves SDK errors as `CloudError`; every write is declared for exactly the connection it
    changes (`cloud.context.writing_to`), whose name must be a plain id segment."""

    network: Any  # azure.mgmt.network.NetworkManagementClient
    resource_group: str
    name: str
    resource_id: str = ""

    @classmethod
    def of(cls, ctx: CloudContext, resource_id: str) -> Self:
        """The target with this resource id, on the network client of its subscription."""
        parsed = parse_resource_id(resource_id)
        return cls(ctx.network(parsed.subscription_id), parsed.resource_group, parsed.name, resource_id)

    def _connection_id(self, connection: EndpointConnection) -> str:
        if not valid_segment(connection.name):
            raise RefusedWrite(f"private endpoint connection name {connection.name[:80]!r} is not a valid name")
        return child_id(self.resource_id, "privateEndpointConnections", connection.name)


@dataclass
class PrivateLinkServiceTarget(_TargetResource):
    """A Private Link Service: list with `list_private_endpoint_connections`, approve with the synchronous
    `update_private_endpoint_connection` (a PUT of the connection's state; no LRO)."""

    def list_connections(self) -> list[EndpointConnection]:
        with sdk_errors():
            pages = self.network.private_link_services.list_private_endpoint_connections(
                self.resource_group, self.name
            )
            return [connection_from_rest(item) for item in pages]

    def approve(self, connection: EndpointConnection, description: str) -> None:
        with writing_to(self._connection_id(connection)), sdk_errors():
            self.network.private_link_services.update_private_endpoint_connection(
                self.resource_group, self.name, connection.name, _approved(connection, description)
            )

    def remove(self, connection: EndpointConnection) -> None:
        with writing_to(self._connection_id(connection)), sdk_errors():
            self.network.private_link_services.begin_delete_private_endpoint_connection(
                self.resource_group, self.name, connection.name, polling=False
            )


@dataclass
class ApplicationGatewayTarget(_TargetResource):
    """An Application Gateway's private link configuration: list with
    `application_gateway_private_endpoint_connections.list`, approve with its `begin_update` (an LRO,
    unlike the PLS call; docs/platform-rules.md#approval), started without polling: the reconciler reads the
    result on its next pass (the rule's `connection_state`, the gateway's `provisioningState`)."""

    def list_connections(self) -> list[EndpointConnection]:
        with sdk_errors():
            pages = self.network.application_gateway_private_endpoint_connections.list(
                self.resource_group, self.name
            )
            return [connection_from_rest(item) for item in pages]

    def approve(self, connection: EndpointConnection, description: str) -> None:
        with writing_to(self._connection_id(connection)), sdk_errors():
            self.network.application_gateway_private_endpoint_connections.begin_update(
                self.resource_group,
                self.name,
                connection.name,
                _approved(connection, description),
                polling=False,
            )

    def remove(self, connection: EndpointConnection) -> None:
        with writing_to(self._connection_id(connection)), sdk_errors():
            self.network.application_gateway_private_endpoint_connections.begin_delete(
                self.resource_group, self.name, connection.name, polling=False
            )


ApprovalState = Literal["Approved", "Rejected", "Disconnected", "NotFound"]


@dataclass(frozen=True)
class ApprovalResult:
    """Where our connection stands after `ensure_connection_approved`.

    state: Approved (it is, possibly thanks to this call: `approved_now`), NotFound (no connection for
    the endpoint yet: Databricks is still creating it), Rejected / Disconnected (the owner decided against
    it out of band; Azure does not approve a rejected connection again, so the way back is a new
    endpoint, i.e. replacing the NCC rule: the reconciler's call, see `spec.databricks.reapproveRejected`).
    """

    state: ApprovalState
    connection: EndpointConnection | None
    approved_now: bool = False

    @property
    def message(self) -> str:
        name = self.connection.name if self.connection else "-"
        if self.state == "NotFound":
            return "no private endpoint connection for the NCC rule's endpoint on the target yet"
        if self.state in ("Rejected", "Disconnected"):
            described = self.connection.description if self.connection else ""
            detail = f" ({described})" if described else ""
            return f"the NCC rule's private endpoint connection {name} was {self.state.lower()} out of band{detail}"
        return f"private endpoint connection {name}: {self.state}" + (
            " (approved now)" if self.approved_now else ""
        )


def ensure_connection_approved(
    target: ConnectionTarget,
    endpoint_name: str,
    *,
    connections: list[EndpointConnection] | None = None,
    description: str = APPROVAL_DESCRIPTION,
) -> ApprovalResult:
    """Approve the connection of `endpoint_name` on `target` if it is Pending, and touch nothing else.

    `connections`: the target's connections if the caller already read them (e.g. from the PLS GET it
    made anyway), saving the list call. Writes only when the connection is Pending. Azure errors
    propagate as `cloud.errors.CloudError`.
    """
    listed = connections if connections is not None else target.list_connections()
    found = find_connection(listed, endpoint_name)
    if found is None:
        return ApprovalResult("NotFound", None)
    status = found.status.capitalize() if found.status else "Pending"
    if status == "Approved":
        return ApprovalResult("Approved", found)
    if status in ("Rejected", "Disconnected"):
        return ApprovalResult(status, found)  # type: ignore[arg-type]
    target.approve(found, description)
    return ApprovalResult("Approved", found, approved_now=True)
