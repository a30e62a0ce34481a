"""The bookkeeping of one reconcile pass, the same for every kind.

A pass records what it wrote (`note`: one Normal event per write, and what is still in flight) and which
cloud calls failed (`fail`: classified once, by `cloud.errors`). Each kind turns the record into conditions
and a requeue delay its own way: `reconcile.confluent`, and `reconcile.transit_common.TransitPass` (which
adds what a ServerlessTransit pass waits for or has decided against).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from transit_operator.cloud.arm import EnsureResult
from transit_operator.cloud.errors import Classified, classify
from transit_operator.reconcile.outcome import Event

__all__ = ["MAX_RETRY_DELAY", "Clock", "PassRecord", "field_path", "utcnow"]

Clock = Callable[[], datetime]
# The longest requeue a retryable error gets, whatever Retry-After said.
MAX_RETRY_DELAY = 300.0


def utcnow() -> datetime:
    return datetime.now(UTC)


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

    def note(self, what: str, result: EnsureResult) -> None:
        if result.wrote:
            self.writes += 1
            verb = {"Started": "Created", "Adopted": "Adopted", "Updated": "Updated"}[result.action]
            self.events.append(Event("Normal", verb, f"{verb} {what}"))
        if result.in_flight:
            self.in_flight.append(what)

    def fail(self, what: str, exc: BaseException) -> None:
        self.errors.append((what, classify(exc)))

    @property
    def fatal(self) -> list[tuple[str, Classified]]:
        return [(w, c) for w, c in self.errors if not c.retryable]

    @property
    def retryable(self) -> list[tuple[str, Classified]]:
        return [(w, c) for w, c in self.errors if c.retryable]
