"""The seam between `reconcile.transit` (the one ServerlessTransit pass) and its options.

    TransitInput      one pass's validated input
    TransitPass       what the pass saw and did; `summary()` turns it into Ready/Reconciling/Stalled + requeue
    TransitOption     what an option provides; everything else is `reconcile.transit`'s:
      start(inp)          build the option's plan (pure; ValueError: the spec cannot be planned), returning
      -> OptionPass         the pass's option part:
           ensure_resources(run)  its Azure resources, dependencies first -> the `PrivateLinkTarget` the
                                  NCC rule points at (`private_link_target` builds it from the GET)
           finish(run)            what comes after the Databricks side (haproxy: the config rollout)
                                  -> `OptionReport` (backend IPs, status fields, domain conditions)
      private_link_id     the rule's target id, from the spec alone (finalize)
      owned_ids           our Azure resources, released in this order on `deletionPolicy: Orphan`
      delete(teardown)    `Delete`: its Azure resources, once the NCC rule is gone; True when all are gone

An option module (`transit_haproxy`, `transit_appgw`) exposes one `OPTION: TransitOption`, registered in
`reconcile.transit.OPTIONS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from transit_operator.api.v1alpha1 import (
    ConfluentPrivateLink,
    NccStatus,
    ServerlessTransit,
    ServerlessTransitSpec,
)
from transit_operator.cloud.approval import ConnectionTarget, connection_from_rest
from transit_operator.cloud.arm import Arm, EnsureResult
from transit_operator.cloud.context import CloudContext
from transit_operator.plan.ids import parse_resource_id
from transit_operator.plan.ownership import Owner
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile import ncc as dbx
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import Event, Failure, Outcome
from transit_operator.reconcile.ownership import OwnedBy
from transit_operator.reconcile.pass_record import (
    MAX_RETRY_DELAY,
    Clock,
    PassRecord,
    error_reason,
    field_path,
    utcnow,
)

__all__ = [
    "Clock",
    "OptionPass",
    "OptionReport",
    "Teardown",
    "TransitInput",
    "TransitOption",
    "TransitPass",
    "connections_on",
    "error_events",
    "field_path",
    "outcome_with",
    "private_link_target",
    "provisioned",
    "utcnow",
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

    @property
    def previous(self) -> dict[str, Any]:
        return dict(self.body.get("status") or {})

    @property
    def previous_ncc(self) -> NccStatus | None:
        raw = self.previous.get("ncc")
        if not isinstance(raw, Mapping):
            return None
        try:
            return NccStatus.model_validate(raw)
        except ValueError:
            return None

    @property
    def soon(self) -> float:
        """Requeue delay while something is in flight."""
        return max(float(self.ctx.polling_interval), 1.0)


@dataclass
class TransitPass(PassRecord):
    """What one pass saw and did; turned into conditions, events and a requeue delay at the end."""

    waiting: list[tuple[Reason, str, float]] = field(default_factory=list)  # (reason, message, requeue)
    stalled: list[tuple[Reason, str]] = field(default_factory=list)  # decided against, must be fixed

    def wait(self, reason: Reason, message: str, requeue_after: float) -> None:
        self.waiting.append((reason, message, requeue_after))

    @property
    def busy(self) -> bool:
        return bool(self.in_flight or self.waiting or self.stalled or self.errors)

    def summary(
        self, generation: int | None, soon: float, ready_message: str
    ) -> tuple[list[dict[str, Any]], float | None]:
        """The kstatus triple and the requeue delay, by precedence: fatal error, stalled, transient error,
        in flight, waiting, ready."""
        fatal, retryable = self.fatal, self.retryable
        requeue: float | None = soon if self.in_flight else None
        if self.waiting:
            delays = [d for _, _, d in self.waiting]
            requeue = min([*delays, *([requeue] if requeue else [])])
        if fatal:
            what, classified = fatal[0]
            return cond.stalled(
                error_reason(classified), f"{what}: {classified.code}: {classified.message}", generation
            ), requeue
        if self.stalled:
            reason, message = self.stalled[0]
            return cond.stalled(reason, message, generation), requeue
        if retryable:
            what, classified = retryable[0]
            delay = min(max(c.delay or soon for _, c in retryable), MAX_RETRY_DELAY)
            return cond.reconciling(
                error_reason(classified), f"{what}: {classified.code}: {classified.message}", generation
            ), delay
        if self.in_flight:
            return cond.reconciling(
                Reason.PROVISIONING, "in flight: " + "; ".join(self.in_flight), generation
            ), soon
        if self.waiting:
            reason, message, _ = self.waiting[0]
            return cond.reconciling(reason, message, generation), requeue
        return cond.ready(generation, ready_message), None


def provisioned(result: EnsureResult | None) -> bool:
    """Ensured, nothing in flight, and `provisioningState` Succeeded: what references it may go on."""
    return (
        result is not None
        and not result.in_flight
        and (result.provisioning_state or "").lower() == "succeeded"
    )


def private_link_target(
    connections: ConnectionTarget, group_id: str | None, result: EnsureResult | None
) -> dbx.PrivateLinkTarget:
    """The NCC rule's target from this pass's `ensure` of it: provisioned or not, and its private endpoint
    connections as that GET saw them (None after a write, or when not ensured: listed when needed)."""
    observed = (result.observed if result else {}).get("properties") or {}
    return dbx.PrivateLinkTarget(
        resource_id=connections.resource_id,
        group_id=group_id,
        connections=connections,
        ready=provisioned(result),
        observed_connections=[
            connection_from_rest(c) for c in observed.get("privateEndpointConnections") or []
        ]
        if result is not None and not result.wrote
        else None,
    )


def connections_on(
    target_type: Callable[[Any, str, str, str], ConnectionTarget], ctx: CloudContext, resource_id: str
) -> ConnectionTarget:
    """`cloud.approval`'s target of type `target_type` (PLS or gateway) for a resource id."""
    parsed = parse_resource_id(resource_id)
    return target_type(ctx.network(parsed.subscription_id), parsed.resource_group, parsed.name, resource_id)


@dataclass(frozen=True)
class OptionReport:
    """An option's part of the status, at the end of a pass."""

    backend_ips: list[str]  # status.backendIps: where the proxy forwards to
    ready_message: str  # the Ready condition's message when everything is
    fields: dict[str, Any] = field(default_factory=dict)  # its own status fields (status.haproxy)
    conditions: list[dict[str, Any]] = field(default_factory=list)  # its domain conditions (ConfigApplied)
    complete: bool = True  # belt and braces: Ready needs this too (every instance runs the config)
    requeue_floor: float | None = None  # look again no sooner (a gateway update takes ~20 minutes)


class OptionPass(Protocol):
    """An option's part of one pass, made by `TransitOption.start` from the option's plan."""

    def ensure_resources(self, run: TransitPass) -> dbx.PrivateLinkTarget:
        """The option's Azure resources (one GET each, a write only on a difference) -> the rule's target."""
        ...

    def finish(self, run: TransitPass) -> OptionReport:
        """What comes after the Databricks side, and the option's part of the status."""
        ...


@dataclass
class Teardown:
    """One finalize pass over an option's Azure resources (`deletionPolicy: Delete`), after the NCC rule."""

    inp: TransitInput
    arm: Arm
    rule: OwnedBy
    endpoint_name: str | None  # the NCC rule's endpoint: its connection on the target is ours to remove
    events: list[Event]

    def delete(
        self, resource_id: str, what: str, *, observed: dict[str, Any] | Literal[False] | None = False
    ) -> bool:
        """Start deleting `resource_id` if ours. True once nothing is left to wait for: gone, or not ours
        (left in place, with a Warning)."""
        result = self.arm.delete(resource_id, self.rule, observed=observed)
        if result.action == "NotOwned":
            self.events.append(Event("Warning", "NotDeleted", f"{what} is not tagged as ours: left in place"))
        return result.gone or result.action == "NotOwned"


@dataclass(frozen=True)
class TransitOption:
    """One `spec.option`: only what differs between options (see the module docstring)."""

    start: Callable[[TransitInput], OptionPass]
    private_link_id: Callable[[ServerlessTransitSpec, Owner], str]
    owned_ids: Callable[[ServerlessTransitSpec, Owner], Sequence[str]]
    delete: Callable[[Teardown], bool]


def error_events(previous_conditions: list[dict[str, Any]], summary: list[dict[str, Any]]) -> list[Event]:
    """A Warning when a Stalled/error condition appears or changes (not on every retry of the same one)."""
    ready_now = summary[0]
    if ready_now["status"] == "True" or ready_now["reason"] in (
        Reason.PROVISIONING,
        Reason.WAITING_FOR_APPROVAL,
        Reason.WAITING_FOR_DEPENDENCY,
        Reason.DELETING,
    ):
        return []
    before = cond.find(previous_conditions, cond.READY) or {}
    if before.get("reason") == ready_now["reason"] and before.get("message") == ready_now["message"]:
        return []
    return [Event("Warning", ready_now["reason"], ready_now["message"])]


def outcome_with(
    inp: TransitInput,
    new_conditions: list[dict[str, Any]],
    *,
    fields: Mapping[str, Any] | None = None,
    events: list[Event] | None = None,
    requeue_after: float | None = None,
    done: bool = False,
    failure: Failure | None = None,
) -> Outcome:
    """The complete status: previous fields, overridden by `fields`, conditions set (transition times kept
    unless a status changed), observedGeneration; `failure` for the runtime's backoff."""
    previous = inp.previous
    status = {k: v for k, v in previous.items() if k not in ("conditions", "observedGeneration")}
    status.update(fields or {})
    status["observedGeneration"] = inp.generation
    status["conditions"] = cond.set_conditions(previous.get("conditions") or [], new_conditions, inp.clock())
    return Outcome(
        status=status, requeue_after=requeue_after, done=done, events=list(events or []), failure=failure
    )
