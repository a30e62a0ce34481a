"""What every ServerlessTransit option shares: the input of a pass, the pass's bookkeeping, and turning
both into an `Outcome` (status + conditions + requeue).

An option module (`transit_haproxy`, `transit_appgw`) exposes
`reconcile(inp: TransitInput) -> Outcome` and `finalize(inp: TransitInput) -> Outcome`; `reconcile.transit`
validates the body, waits for the ConfluentPrivateLink and dispatches on `spec.option`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from transit_operator.api.v1alpha1 import ConfluentPrivateLink, NccStatus, ServerlessTransit
from transit_operator.cloud.context import CloudContext
from transit_operator.cloud.errors import OwnershipConflict
from transit_operator.plan.ownership import Owner
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import Event, Outcome
from transit_operator.reconcile.pass_record import MAX_RETRY_DELAY, Clock, PassRecord, field_path, utcnow

__all__ = ["Clock", "TransitInput", "TransitPass", "field_path", "outcome_with", "utcnow"]


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
            reason = (
                Reason.OWNERSHIP_CONFLICT if classified.code == "OwnershipConflict" else Reason.CLOUD_ERROR
            )
            return cond.stalled(
                reason, f"{what}: {classified.code}: {classified.message}", generation
            ), requeue
        if self.stalled:
            reason, message = self.stalled[0]
            return cond.stalled(reason, message, generation), requeue
        if retryable:
            what, classified = retryable[0]
            delay = min(max(c.delay or soon for _, c in retryable), MAX_RETRY_DELAY)
            return cond.reconciling(
                Reason.TRANSIENT_ERROR, f"{what}: {classified.code}: {classified.message}", generation
            ), delay
        if self.in_flight:
            return cond.reconciling(
                Reason.PROVISIONING, "in flight: " + "; ".join(self.in_flight), generation
            ), soon
        if self.waiting:
            reason, message, _ = self.waiting[0]
            return cond.reconciling(reason, message, generation), requeue
        return cond.ready(generation, ready_message), None


def ownership_conflict(exc: BaseException) -> bool:
    return isinstance(exc, OwnershipConflict)


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
) -> Outcome:
    """The complete status: previous fields, overridden by `fields`, conditions set (transition times kept
    unless a status changed), observedGeneration."""
    previous = inp.previous
    status = {k: v for k, v in previous.items() if k not in ("conditions", "observedGeneration")}
    status.update(fields or {})
    status["observedGeneration"] = inp.generation
    status["conditions"] = cond.set_conditions(previous.get("conditions") or [], new_conditions, inp.clock())
    return Outcome(status=status, requeue_after=requeue_after, done=done, events=list(events or []))
