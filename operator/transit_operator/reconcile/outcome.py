"""What a reconcile pass returns to the runtime (kopf wiring)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event the runtime posts on the object."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass
class Outcome:
    """Result of `reconcile()` or `finalize()`.

    status:        the complete `.status` to write (conditions, observedGeneration, cloud facts).
    requeue_after: seconds until the runtime should call again (an operation is in flight, or we wait
                   for an approval); None means in sync (the drift timer will look again).
    done:          for `finalize()`: True once every cloud resource is removed or released, so the
                   finalizer may go.
    events:        Events to post, oldest first.
    """

    status: dict[str, Any]
    requeue_after: float | None = None
    done: bool = False
    events: list[Event] = field(default_factory=list)
