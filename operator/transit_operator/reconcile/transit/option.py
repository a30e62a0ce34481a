"""The seam between `reconcile.transit` (the one ServerlessTransit pass) and its options.

    TransitInput      one pass's validated input (the pass's record is `reconcile.pass_record.PassRecord`)
    TransitOption     what an option provides; everything else is `reconcile.transit`'s:
      start(inputs, plan) the pass's option part, from the option's plan (`plan.transit.PLANS`):
      -> OptionPass
           ensure_resources(record)  its Azure resources -> the `PrivateLinkTarget` the NCC rule points
                                     at; `ensure_in_order` walks the plan's resources dependencies first
                                     (`private_link_target` builds the target from that GET)
           finish(record)            what comes after the Databricks side (haproxy: the config rollout)
                                     -> `OptionReport` (backend IPs, status fields, domain conditions)
      independent         (optional) the Azure resources that need nothing from the ConfluentPrivateLink: the
                          pass creates them while it waits for it to turn Ready (`ensure_in_order`), so
                          they are not on the path from the endpoints to Ready (haproxy: NSG, LB, PLS)
      private_link_id     the rule's target id, from the spec alone (finalize)
      owned_ids           our Azure resources, released in this order on `deletionPolicy: Orphan`
      delete(teardown)    `Delete`: its Azure resources, once the NCC rule is gone; True when all are gone
      diagnose            its hops of a data-path diagnosis (`proxy`, `backends`; `reconcile.transit.diagnosis`)

An option module (`reconcile.transit.haproxy`, `.appgw`) exposes one `OPTION: TransitOption`, registered in
`reconcile.transit.registry.OPTIONS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol

from transit_operator.api.errors import TransitError
from transit_operator.api.v1alpha1 import (
    Condition,
    ConfluentPrivateLink,
    NccStatus,
    ServerlessTransit,
    ServerlessTransitSpec,
    ServerlessTransitStatus,
)
from transit_operator.cloud.approval import ConnectionTarget, connections_in
from transit_operator.cloud.arm import Arm, EnsureResult
from transit_operator.cloud.context import CloudContext
from transit_operator.cloud.errors import CloudError
from transit_operator.plan import ids
from transit_operator.plan.model import AzureResource, Plan
from transit_operator.plan.ownership import Owner
from transit_operator.reconcile import timing
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import Event, Failure, Outcome
from transit_operator.reconcile.ownership import OwnedBy
from transit_operator.reconcile.pass_record import (
    Clock,
    PassRecord,
    build_outcome,
    previous_status,
    utcnow,
)
from transit_operator.reconcile.transit import databricks
from transit_operator.reconcile.transit.diagnosis import ProxyCheck

__all__ = [
    "OptionPass",
    "OptionReport",
    "Teardown",
    "TransitInput",
    "TransitOption",
    "ensure_in_order",
    "outcome_with",
    "private_link_target",
    "provisioned",
]


@dataclass(frozen=True)
class TransitInput:
    """One pass's input, validated. `cpl` is the referenced ConfluentPrivateLink, Ready (None in finalize)."""

    body: Mapping[str, Any]
    sxt: ServerlessTransit
    owner: Owner
    cpl: ConfluentPrivateLink | None
    ctx: CloudContext
    clock: Clock = utcnow

    @property
    def generation(self) -> int | None:
        value = (self.body.get("metadata") or {}).get("generation")
        return int(value) if value is not None else None

    @cached_property
    def previous(self) -> ServerlessTransitStatus:
        """The status the last pass wrote (what does not validate is dropped, never used)."""
        return previous_status(ServerlessTransitStatus, self.body)

    @property
    def previous_ncc(self) -> NccStatus | None:
        return self.previous.ncc


def provisioned(result: EnsureResult | None) -> bool:
    """Ensured, nothing in flight, and `provisioningState` Succeeded: what references it may go on."""
    return (
        result is not None
        and not result.in_flight
        and (result.provisioning_state or "").lower() == "succeeded"
    )


def ensure_in_order(
    arm: Arm,
    resources: Sequence[AzureResource],
    owned_by: OwnedBy,
    record: PassRecord,
    *,
    gate: Callable[[AzureResource], str | None] | None = None,
) -> dict[str, EnsureResult]:
    """An option's ARM resources in plan order (dependencies first): one GET each, a write only on a
    difference (`cloud.arm.Arm.ensure`). A resource waits for a later pass while one it `dependsOn` is not
    provisioned, or while `gate` names something else it waits for (the gateway subnet's NSG association);
    Azure refuses references to what is not there. A resource that stays `Failed` after our write is
    decided against. Returns the results by lower-cased id."""
    results: dict[str, EnsureResult] = {}
    for resource in resources:
        what = ids.label(resource.type, resource.name)
        blocked = [d.rsplit("/", 1)[-1] for d in resource.dependsOn if not provisioned(results.get(d.lower()))]
        held = ", ".join(blocked) if blocked else gate(resource) if gate is not None else None
        if held:
            record.wait(Reason.PROVISIONING, f"{what} waits for {held}", timing.IN_FLIGHT)
            continue
        try:
            result = arm.ensure(resource, owned_by)
        except TransitError as exc:
            record.fail(what, exc)
            if isinstance(exc, CloudError) and exc.classified.retry_after:
                break  # the server asked for a pause (Retry-After): no further call this pass
            continue
        results[resource.id.lower()] = result
        record.note(what, result)
        if (result.provisioning_state or "").lower() == "failed" and not result.wrote:
            record.stall(Reason.PROVISIONING_FAILED, f"{what}: provisioningState Failed")
    return results


def private_link_target(
    connections: ConnectionTarget, group_id: str | None, result: EnsureResult | None
) -> databricks.PrivateLinkTarget:
    """The NCC rule's target from this pass's `ensure` of it: provisioned or not, and its private endpoint
    connections as that GET saw them (None after a write, or when not ensured: listed when needed)."""
    return databricks.PrivateLinkTarget(
        resource_id=connections.resource_id,
        group_id=group_id,
        connections=connections,
        ready=provisioned(result),
        observed_connections=connections_in(result.observed) if result is not None and not result.wrote else None,
    )


@dataclass(frozen=True)
class OptionReport:
    """An option's part of the status, at the end of a pass."""

    backend_ips: list[str]  # status.backendIps: where the proxy forwards to
    ready_message: str  # the Ready condition's message when everything is
    fields: dict[str, Any] = field(default_factory=dict)  # its own status fields (`haproxy`: HAProxyStatus)
    conditions: list[Condition] = field(default_factory=list)  # its domain conditions (ConfigApplied)
    complete: bool = True  # belt and braces: Ready needs this too (every instance runs the config)
    requeue_floor: float | None = None  # look again no sooner (a gateway update takes ~20 minutes)


class OptionPass(Protocol):
    """An option's part of one pass, made by `TransitOption.start` from the option's plan."""

    def ensure_resources(self, record: PassRecord) -> databricks.PrivateLinkTarget:
        """The option's Azure resources (one GET each, a write only on a difference) -> the rule's target."""
        ...

    def finish(self, record: PassRecord) -> OptionReport:
        """What comes after the Databricks side, and the option's part of the status."""
        ...


@dataclass
class Teardown:
    """One finalize pass over an option's Azure resources (`deletionPolicy: Delete`), after the NCC rule."""

    inputs: TransitInput
    arm: Arm
    owned_by: OwnedBy
    endpoint_name: str | None  # the NCC rule's endpoint: its connection on the target is ours to remove
    events: list[Event]

    def delete(
        self, resource_id: str, what: str, *, observed: dict[str, Any] | Literal[False] | None = False
    ) -> bool:
        """Start deleting `resource_id` if ours. True once nothing is left to wait for: gone, or not ours
        (left in place, with a Warning)."""
        result = self.arm.delete(resource_id, self.owned_by, observed=observed)
        if result.action == "NotOwned":
            self.events.append(Event("Warning", "NotDeleted", f"{what} is not tagged as ours: left in place"))
        return result.gone or result.action == "NotOwned"


@dataclass(frozen=True)
class TransitOption:
    """One `spec.option`: only what differs between options (see the module docstring)."""

    start: Callable[[TransitInput, Plan], OptionPass]
    private_link_id: Callable[[ServerlessTransitSpec, Owner], str]
    owned_ids: Callable[[ServerlessTransitSpec, Owner], Sequence[str]]
    delete: Callable[[Teardown], bool]
    independent: Callable[[ServerlessTransit, str | None], Sequence[AzureResource]] | None = None
    diagnose: ProxyCheck | None = None


def outcome_with(
    inputs: TransitInput,
    new_conditions: list[Condition],
    *,
    fields: Mapping[str, Any] | None = None,
    events: list[Event] | None = None,
    requeue_after: float | None = None,
    done: bool = False,
    failure: Failure | None = None,
) -> Outcome:
    """`pass_record.build_outcome` for this pass's object."""
    return build_outcome(
        inputs.previous,
        inputs.generation,
        new_conditions,
        inputs.clock(),
        fields=fields,
        events=events or (),
        requeue_after=requeue_after,
        done=done,
        failure=failure,
    )
