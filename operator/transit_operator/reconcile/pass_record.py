"""The bookkeeping of one reconcile pass, the same for every kind.

A pass records what it wrote (`note`: one Normal event per write, and what is still in flight) and which
cloud calls failed (`fail`: classified once, by `cloud.errors`), and what failed in a way the runtime
should back off from (`failures`: a resource re-PUT out of `provisioningState: Failed`, a replaced NCC rule,
a refused config; `failure` adds the retryable cloud errors). Each kind turns the record into conditions
and a requeue delay its own way: `reconcile.confluent`, and `reconcile.transit_common.TransitPass` (which
adds what a ServerlessTransit pass waits for or has decided against).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from transit_operator.cloud.arm import EnsureResult
from transit_operator.cloud.errors import Classified, TransitError, classify
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import STALL_AFTER, Event, Failure

__all__ = ["MAX_RETRY_DELAY", "Clock", "PassRecord", "error_reason", "field_path", "utcnow"]

Clock = Callable[[], datetime]
# The longest requeue a retryable error gets, whatever Retry-After said.
MAX_RETRY_DELAY = 300.0


def utcnow() -> datetime:
    return datetime.now(UTC)


def error_reason(classified: Classified) -> Reason:
    """The condition reason of a classified cloud error."""
    if classified.code == "OwnershipConflict":
        return Reason.OWNERSHIP_CONFLICT
    if classified.retryable:
        return Reason.WAITING_FOR_PROPAGATION if classified.slow else Reason.TRANSIENT_ERROR
    return Reason.CLOUD_ERROR


def field_path(loc: tuple[int | str, ...]) -> str:
    """`spec.databricks.extraDomainNames[0]` from a pydantic error location (aliases: camelCase)."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class PassRecord:
    """What one pass wrote, what is in flight and which cloud calls failed; the events to post."""

    in_flight: list[str] = field(default_factory=list)  # human: what is being written or provisioned
    errors: list[tuple[str, Classified]] = field(default_factory=list)  # (what, classified)
    events: list[Event] = field(default_factory=list)
    writes: int = 0
    failures: list[Failure] = field(default_factory=list)

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

    @property
    def fatal(self) -> list[tuple[str, Classified]]:
        return [(w, c) for w, c in self.errors if not c.retryable]

    @property
    def retryable(self) -> list[tuple[str, Classified]]:
        return [(w, c) for w, c in self.errors if c.retryable]

    @property
    def failure(self) -> Failure | None:
        """What the runtime backs off from: the first recorded failure, else the first retryable error."""
        if self.failures:
            return self.failures[0]
        if self.retryable:
            what, classified = self.retryable[0]
            return Failure(
                error_reason(classified),
                f"{what}: {classified.code}: {classified.message}",
                key=f"{what}: {classified.code}",
                stall_after=None if classified.slow else STALL_AFTER,
            )
        return None
