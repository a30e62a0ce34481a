"""Write traps: act (kill the operator) at exactly the Nth write a server receives, before or after applying it.

The crash matrix (tests/matrices, bench/crash_matrix.py) kills the operator process at every write of a
cold start, a delete and a config rollout, once just before the write is applied and once just after (the
write done, its answer never read). The servers the operator writes to call the trap around each write:

```python
trap = WriteTrap(n=3, when="before", action=lambda write: operator.kill())
cloud.set_write_trap(trap)                  # ARM and Databricks writes, counted together
ticket = trap.arrive(Write("arm", "PUT", path))
if ticket.dropped:                          # fired before: the write is never applied
    ...answer nothing...
apply the write
ticket.applied()                            # fired after: the write is applied, its answer not yet sent
```
`SandboxCloud` (ARM and Databricks) and `transit_sandbox.kube_proxy.KubeProxy` (Kubernetes) call it; the
action runs in the server's thread, so once it returns (the operator's process is gone) nothing the
operator sent after the trapped write can be applied. A trap fires once; `match` narrows what counts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

When = Literal["before", "after"]
WRITE_METHODS = frozenset({"PUT", "PATCH", "POST", "DELETE"})


@dataclass(frozen=True)
class Write:
    """One write request as a server received it."""

    service: str  # "arm", "databricks", "kubernetes"
    method: str
    path: str

    def __str__(self) -> str:
        return f"{self.service} {self.method} {self.path}"


@dataclass(frozen=True)
class Ticket:
    """What `WriteTrap.arrive` decided for one write: its number, and whether it must not be applied."""

    trap: WriteTrap
    number: int
    write: Write
    dropped: bool = False
    fire_after: bool = False

    def applied(self) -> None:
        """The write is applied (or refused by the server's logic), its answer not sent yet."""
        self.trap.applied(self)


@dataclass
class WriteTrap:
    """Counts the writes that `match`; at the `n`th (1-based) calls `action` once, `when` it is applied."""

    n: int
    when: When
    action: Callable[[Write], None]
    match: Callable[[Write], bool] = field(default=lambda write: True)
    count: int = 0
    seen: list[Write] = field(default_factory=list)  # every counted write, in order of arrival
    fired: Write | None = None  # the trapped write, once the action has run (returned)
    _hit: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def arrive(self, write: Write) -> Ticket:
        """Count `write` (when it matches); fire now if it is the `n`th and `when` is before."""
        if not self.match(write):
            return Ticket(self, 0, write)
        with self._lock:
            self.count += 1
            number = self.count
            self.seen.append(write)
            hit = number == self.n and not self._hit
            self._hit = self._hit or hit
        if hit and self.when == "before":
            self._fire(write)
            return Ticket(self, number, write, dropped=True)
        return Ticket(self, number, write, fire_after=hit)

    def applied(self, ticket: Ticket) -> None:
        """The write of `ticket` is applied (its answer not sent yet): fire now if it is the trapped one."""
        if ticket.fire_after:
            self._fire(ticket.write)

    def _fire(self, write: Write) -> None:
        self.action(write)
        self.fired = write  # only now: whoever waits for `fired` acts after the action, never during it


class WriteCounter(WriteTrap):
    """A trap that never fires: counts and lists the writes (the reference run of a matrix)."""

    def __init__(self, match: Callable[[Write], bool] = lambda write: True) -> None:
        super().__init__(n=0, when="before", action=lambda write: None, match=match)
