"""One reconcile pass, the same for every kind: what it did, and how that becomes status, events and a requeue.

    PassRecord        what the pass wrote (`note`: one Normal event per write), what is in flight, which
                      cloud calls failed (`fail`: classified once, by `cloud.errors`), what it waits for
                      (`wait`), what someone decided against (`stall`: a rejected connection), and what the
                      runtime should back off from (`failures`; `failure` adds the retryable cloud errors)
    decide()          the one kstatus decision: a record -> Ready/Reconciling/Stalled and when to look again
    warnings()        the one event rule: a Warning when a problem appears or changes, never per retry
    validated()       a CR body through its API model -> the model, or one message naming the field
    build_outcome()   the complete status (previous fields, overridden) and the `Outcome` the runtime writes
    deleting_failed() what `finalize` answers to an error

Each kind adds only its own facts: `reconcile.confluent` (zones, DNS), `reconcile.transit` (the option's
resources, the Databricks side).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from transit_operator.api.status import read_status
from transit_operator.api.v1alpha1 import Condition, ConfluentPrivateLinkStatus, ServerlessTransitStatus
from transit_operator.cloud.arm import EnsureResult
from transit_operator.cloud.errors import Classified, TransitError, classify
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile import timing
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import STALL_AFTER, Event, Failure, Outcome, Status

__all__ = [
    "Blocked",
    "Clock",
    "PassRecord",
    "build_outcome",
    "decide",
    "deleting_failed",
    "error_reason",
    "field_path",
    "previous_status",
    "utcnow",
    "validated",
    "warnings",
]

Clock = Callable[[], datetime]

Model = TypeVar("Model", bound=BaseModel)
StatusModel = TypeVar("StatusModel", ConfluentPrivateLinkStatus, ServerlessTransitStatus)


class Blocked(TransitError):
    """The pass cannot go on: a person must fix something (`stalled`: a `Stalled` condition), or it resolves
    by itself (`Reconciling`, looked at again after `retry_after`: a Secret can be fixed without any change
    to the object, so only looking again notices it). `reason` is the condition's."""

    def __init__(
        self, reason: Reason, message: str, *, retry_after: float | None = None, stalled: bool | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        self.stalled = retry_after is None if stalled is None else stalled

    def conditions(self, generation: int | None, prefix: str = "") -> list[Condition]:
        message = prefix + self.message
        if self.stalled:
            return cond.stalled(self.reason, message, generation)
        return cond.reconciling(self.reason, message, generation)


def utcnow() -> datetime:
    return datetime.now(UTC)


def error_reason(classified: Classified) -> Reason:
    """The condition reason of a classified cloud error."""
    if classified.code == "OwnershipConflict":
        return Reason.OWNERSHIP_CONFLICT
    if classified.retryable:
        return Reason.WAITING_FOR_PROPAGATION if classified.slow else Reason.TRANSIENT_ERROR
    return Reason.CLOUD_ERROR


def error_text(what: str, classified: Classified) -> str:
    """`what: Code: message`, the shape of every cloud error in a condition."""
    return f"{what}: {classified.code}: {classified.message}"


def field_path(loc: tuple[int | str, ...]) -> str:
    """`spec.databricks.extraDomainNames[0]` from a pydantic error location (aliases: camelCase)."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_message(exc: ValidationError) -> str:
    """`spec.x.y: what is wrong (and N more)`: the first error with its camelCase path."""
    errors = exc.errors()
    first = errors[0]
    message = f"{field_path(first['loc'])}: {first['msg'].removeprefix('Value error, ')}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return message


def validated(model: type[Model], body: Mapping[str, Any], *, with_status: bool = False) -> Model | str:
    """`body` through the kind's API model, or the message that names the first wrong field. The status is
    observed state and left out (older operator versions may have written other fields), unless
    `with_status`: another object's status whose values flow into our writes."""
    keys = ("apiVersion", "kind", "metadata", "spec", *(("status",) if with_status else ()))
    try:
        return model.model_validate({k: body[k] for k in keys if k in body})
    except ValidationError as exc:
        return validation_message(exc)


@dataclass
class PassRecord:
    """What one pass did and saw; `decide` turns it into conditions and a requeue delay."""

    in_flight: list[str] = field(default_factory=list)  # human: what is being written or provisioned
    errors: list[tuple[str, Classified]] = field(default_factory=list)  # (what, classified)
    events: list[Event] = field(default_factory=list)
    writes: int = 0
    failures: list[Failure] = field(default_factory=list)
    waiting: list[tuple[Reason, str, float]] = field(default_factory=list)  # (reason, message, requeue)
    stalled: list[tuple[Reason, str]] = field(default_factory=list)  # decided against: must be fixed

    def note(self, what: str, result: EnsureResult) -> None:
        if result.wrote:
            self.writes += 1
            verb = {"Started": "Created", "Adopted": "Adopted", "Updated": "Updated"}[result.action]
            self.events.append(Event("Normal", verb, f"{verb} {what}"))
        if result.in_flight:
            self.in_flight.append(what)
        if result.retried_failed:
            self.failures.append(
                Failure(
                    Reason.PROVISIONING_FAILED,
                    f"{what}: provisioningState Failed; written again",
                    key=f"{what}: provisioningState Failed",
                )
            )

    def fail(self, what: str, exc: TransitError) -> None:
        self.errors.append((what, classify(exc)))

    def wait(self, reason: Reason, message: str, requeue_after: float) -> None:
        """Nothing is wrong, something is awaited (an approval, an IP, a provisioning resource)."""
        self.waiting.append((reason, message, requeue_after))

    def stall(self, reason: Reason, message: str) -> None:
        """Someone decided against this (a rejected connection): retrying cannot help until they change it."""
        self.stalled.append((reason, message))

    @property
    def fatal(self) -> list[tuple[str, Classified]]:
        return [(w, c) for w, c in self.errors if not c.retryable]

    @property
    def retryable(self) -> list[tuple[str, Classified]]:
        return [(w, c) for w, c in self.errors if c.retryable]

    def retry_delay(self) -> float | None:
        """When to retry the retryable errors: the longest delay one asked for (Retry-After), capped."""
        if not self.retryable:
            return None
        return min(max(c.delay or timing.IN_FLIGHT for _, c in self.retryable), timing.MAX_RETRY)

    @property
    def failure(self) -> Failure | None:
        """What the runtime backs off from: the first recorded failure, else the first retryable error;
        with the longest `Retry-After` a server sent in this pass (the next pass makes the same calls)."""
        hints = [c.retry_after for _, c in self.retryable if c.retry_after is not None]
        retry_after = max(hints) if hints else None
        if self.failures:
            first = self.failures[0]
            return replace(first, retry_after=retry_after) if retry_after is not None else first
        if self.retryable:
            what, classified = self.retryable[0]
            return Failure(
                error_reason(classified),
                error_text(what, classified),
                key=f"{what}: {classified.code}",
                stall_after=None if classified.slow else STALL_AFTER,
                retry_after=retry_after,
            )
        return None


def decide(record: PassRecord, generation: int | None, ready_message: str) -> tuple[list[Condition], float | None]:
    """The kstatus triple and the requeue delay, by precedence:

        fatal error          Stalled      (the error's reason: CloudError, OwnershipConflict)
        decided against      Stalled      (ConnectionRejected, ProvisioningFailed, RegionMismatch, ...)
        retryable error      Reconciling  (TransientError, WaitingForPropagation)   after its delay
        in flight            Reconciling  (Provisioning)                            timing.IN_FLIGHT
        waiting              Reconciling  (the first wait's reason)                 its shortest delay
        none of these        Ready

    A Stalled object still comes back for what is moving: after a fatal error only for what is in flight
    (what it waits for most likely waits for what failed); after a decision against one part (a
    rejected zone) also for the other parts' retries and waits (the earliest delay). None when nothing is:
    the drift timer and spec changes re-run it."""
    in_flight = timing.IN_FLIGHT if record.in_flight else None
    if record.fatal:
        what, classified = record.fatal[0]
        return cond.stalled(error_reason(classified), error_text(what, classified), generation), in_flight
    moving = [d for d in (record.retry_delay(), in_flight, *(w[2] for w in record.waiting)) if d is not None]
    follow_up = min(moving) if moving else None
    if record.stalled:
        reason, message = record.stalled[0]
        return cond.stalled(reason, message, generation), follow_up
    if record.retryable:
        what, classified = record.retryable[0]
        return cond.reconciling(
            error_reason(classified), error_text(what, classified), generation
        ), record.retry_delay()
    if record.in_flight:
        in_flight_message = "in flight: " + "; ".join(record.in_flight)
        return cond.reconciling(Reason.PROVISIONING, in_flight_message, generation), timing.IN_FLIGHT
    if record.waiting:
        reason, message, _ = record.waiting[0]
        return cond.reconciling(reason, message, generation), follow_up
    return cond.ready(generation, ready_message), None


def warnings(previous_conditions: Sequence[Condition], new_conditions: Sequence[Condition]) -> list[Event]:
    """A Warning when the Ready condition reports a problem (`conditions.PROGRESS_REASONS` are not) that is
    new or different from the last pass's; nothing on a retry of the same one."""
    ready_now = cond.find(new_conditions, cond.READY)
    if ready_now is None or ready_now.status == "True" or ready_now.reason in cond.PROGRESS_REASONS:
        return []
    before = cond.find(previous_conditions, cond.READY)
    if before is not None and (before.reason, before.message) == (ready_now.reason, ready_now.message):
        return []
    return [Event("Warning", ready_now.reason, ready_now.message)]


def previous_status(model: type[StatusModel], body: Mapping[str, Any]) -> StatusModel:
    """The object's status as the last pass (or an older operator) wrote it: what does not validate is
    dropped, never used (`api.status.read_status`)."""
    return read_status(model, body.get("status"), drop_invalid=True)


def build_outcome(
    previous: StatusModel,
    generation: int | None,
    new_conditions: Sequence[Condition],
    now: datetime,
    *,
    fields: Mapping[str, Any] | None = None,
    events: Sequence[Event] = (),
    requeue_after: float | None = None,
    done: bool = False,
    failure: Failure | None = None,
) -> Outcome:
    """The complete status: the previous fields, overridden by `fields` (the status model's field names;
    validated like any write, so a misspelled one is an error); `observedGeneration`; conditions set
    (transition times kept unless a status changed). Events: the pass's own, then `warnings`."""
    status = type(previous).model_validate(
        {
            **{name: getattr(previous, name) for name in type(previous).model_fields},
            **(fields or {}),
            "observed_generation": generation,
            "conditions": cond.set_conditions(previous.conditions, new_conditions, now),
        }
    )
    return Outcome(
        status=status,
        requeue_after=requeue_after,
        done=done,
        events=[*events, *warnings(previous.conditions, new_conditions)],
        failure=failure,
    )


def deleting_failed(
    previous: Status,
    generation: int | None,
    exc: TransitError,
    now: datetime,
    *,
    events: Sequence[Event] = (),
) -> Outcome:
    """`finalize` hit an error: the condition names it (Reconciling when it is retried, Stalled when not),
    a Warning says it each time, and the runtime backs off. Retried after the error's own delay, else
    `timing.FAILED_DELETE` (a delete that failed for good is looked at again too: the finalizer stays)."""
    if isinstance(exc, Blocked):
        reason, detail, retryable, delay = exc.reason, exc.message, not exc.stalled, exc.retry_after
        key, slow = f"deleting: {exc.reason}", False
    else:
        classified = classify(exc)
        reason, detail = error_reason(classified), f"{classified.code}: {classified.message}"
        retryable, delay = classified.retryable, classified.delay if classified.retryable else None
        key, slow = f"deleting: {classified.code}", classified.slow
    message = f"deleting: {detail}"
    new = cond.reconciling(reason, message, generation) if retryable else cond.stalled(reason, message, generation)
    status = previous.model_copy(
        update={"observed_generation": generation, "conditions": cond.set_conditions(previous.conditions, new, now)}
    )
    return Outcome(
        status=status,
        requeue_after=delay or timing.FAILED_DELETE,
        done=False,
        events=[*events, Event("Warning", reason, message)],
        failure=Failure(reason, message, key=key, stall_after=None if slow else STALL_AFTER),
    )
