"""What a reconcile pass returns to the runtime (kopf wiring), and what repeated failures turn into."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from transit_operator.api.v1alpha1 import ConfluentPrivateLinkStatus, ServerlessTransitStatus
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile.conditions import Reason

__all__ = ["STALL_AFTER", "Event", "Failure", "Outcome", "Status", "stalled_after_repeats"]

# The status a reconciler builds: the kind's status model (`api.status.dump_status` writes it).
Status = ConfluentPrivateLinkStatus | ServerlessTransitStatus

# Identical failures in a row after which an object is `Stalled` (it is still retried, at the runtime's
# capped backoff): a failure that five passes in a row could not get past needs a person to look.
STALL_AFTER = 5


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event the runtime posts on the object."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class Failure:
    """The pass ended on a failure: the runtime backs off (exponentially, with jitter, capped) while the
    same failure repeats, and after `stall_after` identical ones in a row marks the object `Stalled`.

    reason:      the condition reason to stall with
    message:     what failed, for the condition
    key:         what makes two failures "the same": what failed and how (no ids that change per attempt)
    stall_after: identical failures before `Stalled`; None for failures that resolve by themselves
                 (`cloud.errors` SLOW: a permission or resource group that appears later)
    retry_after: the server's `Retry-After` (real seconds): the runtime comes back no sooner, at any time
                 scale
    """

    reason: Reason
    message: str
    key: str
    stall_after: int | None = STALL_AFTER
    retry_after: float | None = None


@dataclass
class Outcome:
    """Result of `reconcile()` or `finalize()`.

    status:        the complete `.status` to write (conditions, observedGeneration, cloud facts), as the
                   kind's status model; the runtime dumps it by alias.
    requeue_after: seconds until the runtime should call again (an operation is in flight, or we wait
                   for an approval); None means in sync (the drift timer will look again).
    done:          for `finalize()`: True once every cloud resource is removed or released, so the
                   finalizer may go.
    events:        Events to post, oldest first.
    failure:       set when the pass ended on a failure (see `Failure`); None when it made progress.
    """

    status: Status
    requeue_after: float | None = None
    done: bool = False
    events: list[Event] = field(default_factory=list)
    failure: Failure | None = None


def stalled_after_repeats(outcome: Outcome, repeats: int, now: datetime) -> Outcome:
    """`outcome` with `Stalled=True` (the failure's reason) once its failure repeated `stall_after` times
    in a row; the unchanged outcome otherwise. The first time it stalls, a Warning Event says so."""
    failure = outcome.failure
    if failure is None or failure.stall_after is None or repeats < failure.stall_after:
        return outcome
    generation = outcome.status.observed_generation
    message = f"{failure.message} ({repeats} identical failures in a row; retried less and less often)"
    conditions = cond.set_conditions(
        outcome.status.conditions, cond.stalled(failure.reason, message, generation), now
    )
    status = outcome.status.model_copy(update={"conditions": conditions})
    events = list(outcome.events)
    if repeats == failure.stall_after:
        events.append(Event("Warning", "Stalled", message))
    return replace(outcome, status=status, events=events)
