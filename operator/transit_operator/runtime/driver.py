"""One reconcile or finalize pass of one object, as kopf's handlers run it.

The handlers (`runtime.handlers`) only register; this module decides what a pass does around the
reconciler: serialise passes of one object, call the synchronous reconciler (kopf runs sync handlers in
its thread pool, `--max-workers`), write the **whole** status model the reconciler returned, dumped by alias
(`api.status.dump_status`; as a merge patch that also removes keys it dropped), post its Events, count
metrics, and turn `requeue_after` into `kopf.TemporaryError(delay=...)` so no worker ever sleeps.

Scheduling besides kopf's own change handling (resume, create, spec update, delete):

- **drift and requeues**: a timer per object whose handler first waits (`Runtime.turn`, on the event loop,
  no thread held) until the object's next pass is due - a requeue a timer pass asked for, or
  `spec.driftCheckIntervalSeconds` after its last completed pass (default 300 s) - and then reconciles: a
  pass runs when it is due, not at the next tick of a fixed period;
- **cross-object trigger**: when a ConfluentPrivateLink's `status` changes (endpoint IPs, Ready), the
  ServerlessTransits that reference it are *kicked* in memory: their waiting timer wakes at once and
  reconciles them with the fresh ConfluentPrivateLink body. One operator replica is active (kopf
  peering), so an in-memory kick reaches every object it must; after a restart, `resume` reconciles all.
  (Chosen over patching an annotation on each transit: no extra API writes, no second client.)
- **unclaimed objects**: a timer pass reconciles an object this replica has never passed over whose status does
  not show its generation observed. kopf (1.45) adds its finalizer with a JSON patch guarded by a `test`
  of resourceVersion; when another writer adds the same finalizer first — a second replica during the
  moment both act, before the older one has seen the newer one's keep-alive and paused — the patch fails
  with 422 and kopf keeps it as a "remaining patch". On the next event (the other writer's finalizer) that
  patch makes kopf skip the handlers as inconsistent, and applying it changes nothing on the server, so
  no further event comes: the object was handled by neither replica (kopf `_core/reactor/processing.py`
  `process_resource_causes`, `_cogs/clients/patching.py` `patch_obj`). Timers still run for it, so the
  tick claims it; its status write is an event again, and kopf's own handling resumes.

Repeated failures back off, per object: a pass that ends on a failure (`Outcome.failure`: a retryable
cloud error, a resource re-written out of `provisioningState: Failed`, a replaced NCC rule, a refused
config) is retried after `failure_delay`: the delay the reconciler asked for (at least `backoff_seconds`),
doubled for each identical failure in a row, with +-20 % jitter, capped at `MAX_BACKOFF_SECONDS` - and
never sooner than the `Retry-After` a server sent in that pass (`Failure.retry_after`, real seconds): until
then no pass of the object runs, whatever wakes it (a kick, a spec change, the timer). After
`Failure.stall_after` identical failures in a row the object is marked `Stalled` with the failure's reason
(`reconcile.outcome.stalled_after_repeats`) and still retried at that capped pace. A pass that settles (no
failure, nothing to come back for) or fails differently starts the count again; a pass that only waits
for something in flight keeps it. An exception that escapes a reconciler (a bug) backs off the same way.

Timing knobs: `time_scale` multiplies every delay the operator uses - requeues, backoff and its cap,
drift checks (not a server's Retry-After, which is the server's time) (`transit-operator run --time-scale`; the sandbox command and the end-to-end tests make an
emulated cloud, where minutes of Azure/Databricks progress take milliseconds, run in seconds). Two
more for tests: `max_requeue_seconds` caps a requeue a reconciler asks for (not the failure backoff), and
`drift_seconds` replaces every object's `spec.driftCheckIntervalSeconds` (the CRD's minimum is 30 s).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from transit_operator.api.kinds import CONFLUENT_PRIVATE_LINK, SERVERLESS_TRANSIT
from transit_operator.api.status import dump_status
from transit_operator.cloud.redact import scrub, scrub_tree
from transit_operator.reconcile import timing
from transit_operator.reconcile.outcome import Outcome, stalled_after_repeats
from transit_operator.runtime.metrics import Metrics

CONFLUENT = CONFLUENT_PRIVATE_LINK.kind
TRANSIT = SERVERLESS_TRANSIT.kind
DEFAULT_DRIFT_SECONDS = timing.DRIFT_CHECK
DEFAULT_TICK_SECONDS = 2.0  # how often the timer looks at an object not yet passed over here (unclaimed)
# How long a timer waits at most before looking again at an object it has passed over: every change of
# what it waits for (a requeue, a kick, a change handler's pass) wakes it earlier. A mechanism, not a cloud
# wait: it only bounds how stale a wait computed from an old body can get.
IDLE_SECONDS = 60.0
TIMER_INTERVAL = 0.01  # kopf's pause between two runs of the timer handler, which itself waits for its turn
MAX_BACKOFF_SECONDS = timing.BACKOFF_CAP
JITTER = 0.2  # failure delays are spread +-20 % so objects failing together do not retry together

Body = dict[str, Any]
ReconcileConfluent = Callable[[Body, Any], Outcome]
ReconcileTransit = Callable[[Body, "Body | None", Any], Outcome]
Finalize = Callable[[Body, Any], Outcome]
DiagnoseTransit = Callable[[Body, "Body | None", Any, str], Outcome]


@dataclass(frozen=True)
class Reconcilers:
    """The entry points of `transit_operator.reconcile` (a seam for tests, nothing else)."""

    reconcile_confluent: ReconcileConfluent
    finalize_confluent: Finalize
    reconcile_transit: ReconcileTransit
    finalize_transit: Finalize
    diagnose_transit: DiagnoseTransit | None = None  # body, ConfluentPrivateLink, cloud, annotation value

    @classmethod
    def load(cls) -> Reconcilers:
        """The real ones (imported here, not at module import: the SDKs they pull in are slow to load)."""
        from transit_operator.reconcile import confluent, transit

        def diagnose(body: Body, cpl: Body | None, cloud: Any, request: str) -> Outcome:
            return transit.diagnose(body, cpl, cloud, request=request)

        return cls(confluent.reconcile, confluent.finalize, transit.reconcile, transit.finalize, diagnose)


@dataclass
class ObjectState:
    """What the runtime remembers about one object between passes (in memory only)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    next_due: float | None = None  # monotonic time of the next timer-driven pass (a backstop while kopf owns a retry)
    kicked: bool = False  # a referenced object changed: reconcile at the next tick
    seen: bool = False  # this replica has run a pass (or kopf has started one) for the object
    failures: int = 0  # identical failures in a row (failed passes and escaped exceptions): the backoff
    failure_key: str | None = None  # what failed last (`Failure.key`, or the exception's type)
    not_before: float | None = None  # monotonic time before which no pass runs: a server's Retry-After
    wake: asyncio.Event | None = None  # set when what the timer waits for changed (`Runtime.turn`)
    diagnosing: threading.Lock = field(default_factory=threading.Lock)  # held while a diagnosis runs
    last_diagnosis: float | None = None  # monotonic time the last diagnosis started
    diagnosis_requests: set[str] = field(default_factory=set)  # annotation values answered or refused here
    # The statuses this replica wrote, as digests, oldest first (`WRITTEN_KEPT`), and the latest itself:
    # see `Runtime.fresh`.
    written: list[str] = field(default_factory=list)
    last_status: dict[str, Any] | None = None


# Distinct statuses kept per object: kopf's bodies lagged by minutes at 1,000 objects, i.e. dozens of
# passes (8 was too few: an older status of ours then looked foreign and was taken as it was). 16 hex
# digits each: ~1 KB per object.
WRITTEN_KEPT = 64


def status_digest(status: Any) -> str:
    return hashlib.sha256(json.dumps(status or {}, sort_keys=True, default=str).encode()).hexdigest()[:16]


def plain(value: Any) -> Any:
    """kopf's bodies are read-only views: a deep plain-dict copy for the reconcilers."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def status_patch(old: Mapping[str, Any] | None, new: Mapping[str, Any],
                 also: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A JSON merge patch turning `old` into `new` (None removes a key, and a None value in `new` is the
    same as a missing key); {} when equal. With `also` (another status the object may hold: the latest
    one this replica wrote, when kopf's body may lag behind it), the patch turns either into `new`."""
    olds = [old or {}] + ([also] if also is not None else [])
    patch: dict[str, Any] = {key: None for before in olds for key in before if key not in new}
    for key, value in new.items():
        befores = [before.get(key) for before in olds]
        if isinstance(value, Mapping) and all(isinstance(before, Mapping) for before in befores):
            nested = status_patch(befores[0], value, befores[1] if len(befores) > 1 else None)
            if nested:
                patch[key] = nested
        elif any(before != value or (key not in o and value is not None) for before, o in zip(befores, olds, strict=True)):
            patch[key] = plain(value)
    return patch


# How a requeue reads in kopf's log line "Handler 'X' failed temporarily: <message>". The runtime's log
# filter (`runtime.main.RequeueIsNotAnError`) recognises the prefix: a requeue is the normal wait for the
# cloud, not a failure.
REQUEUE_PREFIX = "requeue in "
FINALIZER_WAITING = "cloud resources are still being removed"


def requeue_message(delay: float, waiting: str | None = None) -> str:
    return f"{REQUEUE_PREFIX}{delay:g}s" + (f": {waiting}" if waiting else "")


async def _until(flag: Any) -> None:
    await flag.wait()


def backoff(failures: int, base: float = timing.BACKOFF_FIRST, cap: float = MAX_BACKOFF_SECONDS) -> float:
    """Delay before retry number `failures` (0-based): base, 2*base, 4*base, ... up to `cap`."""
    return float(min(cap, base * 2 ** min(failures, 20)))


def drift_interval(body: Mapping[str, Any]) -> float:
    spec = body.get("spec") or {}
    value = spec.get("driftCheckIntervalSeconds")
    return float(value) if isinstance(value, int | float) and value > 0 else DEFAULT_DRIFT_SECONDS


def observed(body: Mapping[str, Any]) -> bool:
    """Whether the object's status says its current generation was reconciled."""
    generation = (body.get("metadata") or {}).get("generation")
    return generation is not None and (body.get("status") or {}).get("observedGeneration") == generation


def confluent_revision(body: Mapping[str, Any] | None) -> str:
    """What transits depend on: the ConfluentPrivateLink's status (endpoint IPs, conditions)."""
    if body is None:
        return "absent"
    status = plain(body.get("status") or {})
    return hashlib.sha256(json.dumps(status, sort_keys=True).encode()).hexdigest()[:16]


class Runtime:
    """Everything the handlers share: cloud context, reconcilers, metrics, per-object state."""

    def __init__(self, cloud: Any, reconcilers: Reconcilers, metrics: Metrics | None = None, *,
                 tick_seconds: float = DEFAULT_TICK_SECONDS, backoff_seconds: float = timing.BACKOFF_FIRST,
                 max_requeue_seconds: float | None = None, drift_seconds: float | None = None,
                 time_scale: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self.cloud = cloud
        self.reconcilers = reconcilers
        self.metrics = metrics if metrics is not None else Metrics()
        self.tick_seconds = tick_seconds
        self.time_scale = time_scale
        self.backoff_seconds = backoff_seconds * time_scale
        self.max_backoff_seconds = MAX_BACKOFF_SECONDS * time_scale
        self.max_requeue_seconds = max_requeue_seconds
        self.drift_seconds = drift_seconds
        self.clock = clock
        self.rng = rng if rng is not None else random.Random()
        self._states: dict[tuple[str, str, str], ObjectState] = {}
        self._states_lock = threading.Lock()
        self._revisions: dict[tuple[str, str], str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        if cloud is not None and hasattr(cloud, "call_hook") and cloud.call_hook is None:
            cloud.call_hook = self.metrics.cloud_call
        if cloud is not None and hasattr(cloud, "response_hook") and cloud.response_hook is None:
            cloud.response_hook = self.metrics.arm_response

    def state(self, kind: str, namespace: str | None, name: str) -> ObjectState:
        with self._states_lock:
            return self._states.setdefault((kind, namespace or "", name), ObjectState())

    # ---------------------------------------------------------------------------- the timer's turn

    def due_in(self, state: ObjectState, body: Mapping[str, Any]) -> float:
        """Seconds until the object's timer should pass over it (0: now); see `turn`."""
        meta = body.get("metadata") or {}
        if state.lock.locked():  # a change handler's pass is running; it wakes the timer when done
            return self.tick_seconds
        hinted = self.hinted_wait(state)
        if hinted is not None:  # a server's Retry-After: `tick` would pass over the object until then
            return hinted
        if state.kicked or (not state.seen and not meta.get("deletionTimestamp") and not observed(body)):
            return 0.0
        cap = IDLE_SECONDS if state.seen else self.tick_seconds
        if state.next_due is None:
            return cap
        return max(0.0, min(cap, state.next_due - self.clock()))

    async def turn(self, kind: str, body: Mapping[str, Any], stopped: Any = None) -> None:
        """Wait, on the event loop, until the object's next timer pass is due (`due_in`) or what it waits
        for changes (`wake`): a kick or a requeue then runs at once, not at the next tick of a period.
        `stopped`: kopf's flag of the timer (the object is being deleted, the operator exits) ends the wait."""
        meta = body.get("metadata") or {}
        state = self.state(kind, meta.get("namespace"), meta.get("name", ""))
        self._loop = asyncio.get_running_loop()
        if state.wake is None:
            state.wake = asyncio.Event()
        state.wake.clear()
        wait = self.due_in(state, body)
        if wait <= 0:
            return
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(state.wake.wait())]
        if stopped is not None:
            waiters.append(asyncio.ensure_future(_until(stopped)))
        try:
            await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def wake(self, state: ObjectState) -> None:
        """Tell the object's waiting timer (from any thread) that what it waits for changed."""
        loop, event = self._loop, state.wake
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    def backstop(self, delay: float) -> float:
        """When the timer passes over an object whose retry kopf owns (a change handler's TemporaryError),
        should kopf's retry not have come by then: seen with a few hundred objects, kopf's `delayed`
        progress passed by minutes with no retry and no event. kopf's retry, when it comes, moves it on."""
        return self.clock() + delay + max(delay, self.tick_seconds)

    def requeue_delay(self, seconds: float) -> float:
        scaled = seconds * self.time_scale
        return scaled if self.max_requeue_seconds is None else min(scaled, self.max_requeue_seconds)

    def drift_delay(self, body: Mapping[str, Any]) -> float:
        return self.drift_seconds if self.drift_seconds is not None else drift_interval(body) * self.time_scale

    def failure_delay(self, state: ObjectState, key: str, asked: float | None) -> float:
        """Count one more failure of `state` (identical to the last when `key` is the same) and return the
        delay before the next attempt: see the module docstring."""
        if key == state.failure_key:
            state.failures += 1
        else:
            state.failure_key, state.failures = key, 1
        first = max(self.requeue_delay(asked) if asked is not None else 0.0, self.backoff_seconds)
        cap = max(self.max_backoff_seconds, first)
        delay = backoff(state.failures - 1, first, cap)
        return min(cap, delay * self.rng.uniform(1.0 - JITTER, 1.0 + JITTER))

    def settle(self, state: ObjectState, outcome: Outcome) -> tuple[Outcome, float | None]:
        """The outcome to write and the delay before the next pass (None: the drift check's), counting
        failures: a failed pass backs off (`failure_delay`) and stalls after repeats; a settled pass
        resets the count; a pass that waits for something in flight keeps it."""
        failure = outcome.failure
        hint = failure.retry_after if failure is not None else None
        # The server's Retry-After is real time: never scaled down, never capped (RFC 9110 10.2.3); and no
        # pass runs before it, whatever wakes the object up (a kick, a spec change).
        state.not_before = self.clock() + hint if hint else None
        if failure is not None:
            delay = max(self.failure_delay(state, failure.key, outcome.requeue_after), hint or 0.0)
            return stalled_after_repeats(outcome, state.failures, datetime.now(UTC)), delay
        if outcome.requeue_after is None:
            state.failures, state.failure_key = 0, None
            return outcome, None
        return outcome, self.requeue_delay(outcome.requeue_after)

    def hinted_wait(self, state: ObjectState) -> float | None:
        """Seconds until a server's Retry-After allows the next pass of `state`'s object; None: now."""
        if state.not_before is None:
            return None
        left = state.not_before - self.clock()
        return left if left > 0 else None

    def forget(self, kind: str, namespace: str | None, name: str) -> None:
        with self._states_lock:
            self._states.pop((kind, namespace or "", name), None)
        self.metrics.forget(kind, namespace or "", name)

    # ---------------------------------------------------------------------------- passes

    def reconcile(self, kind: str, body: Mapping[str, Any], patch: kopf.Patch, logger: logging.Logger | Any, *,
                  retry: int, confluent: Body | None = None) -> None:
        """A pass from kopf's change handling (resume, create, spec update): kopf owns retries."""
        meta = body.get("metadata") or {}
        state = self.state(kind, meta.get("namespace"), meta.get("name", ""))
        try:
            self._reconcile(kind, body, patch, logger, state, confluent)
        finally:
            self.wake(state)  # the timer waited for this pass to end (`due_in`)

    def _reconcile(self, kind: str, body: Mapping[str, Any], patch: kopf.Patch, logger: logging.Logger | Any,
                   state: ObjectState, confluent: Body | None) -> None:
        with state.lock:
            wait = self.hinted_wait(state)
            if wait is not None:
                raise kopf.TemporaryError(f"requeue in {wait:g}s (the server's Retry-After)", delay=wait)
            state.kicked = False
            state.seen = True
            try:
                outcome = self._call(kind, "reconcile", self.fresh(state, body), confluent)
            except Exception as exc:
                self._report(body, logger, kind, "reconcile", exc)
                backoff_delay = self.failure_delay(state, f"exception {type(exc).__name__}", None)
                state.next_due = self.backstop(backoff_delay)
                raise kopf.TemporaryError(scrub(f"reconcile failed: {type(exc).__name__}: {exc}"),
                                          delay=backoff_delay) from exc
            outcome, delay = self.settle(state, outcome)
            self._write(body, patch, outcome, state)
            if delay is not None:
                state.next_due = self.backstop(delay)
                raise kopf.TemporaryError(requeue_message(delay), delay=delay)
            state.next_due = self.clock() + self.drift_delay(body)

    def tick(self, kind: str, body: Mapping[str, Any], patch: kopf.Patch, logger: logging.Logger | Any, *,
             confluent: Body | None = None) -> None:
        """The periodic timer: reconcile when kicked, when the drift interval (or a requeue) is due, or when
        the object is unclaimed (never passed over here, its generation not observed: see the docstring)."""
        meta = body.get("metadata") or {}
        state = self.state(kind, meta.get("namespace"), meta.get("name", ""))
        now = self.clock()
        unclaimed = not state.seen and not meta.get("deletionTimestamp") and not observed(body)
        if not (state.kicked or unclaimed or (state.next_due is not None and now >= state.next_due)):
            return
        if self.hinted_wait(state) is not None:
            return  # a server asked for a pause: the kick stays for a tick after it
        if not state.lock.acquire(blocking=False):
            return  # a change-handler pass is running; the kick stays for the next tick
        try:
            state.kicked = False
            state.seen = True
            try:
                outcome = self._call(kind, "reconcile", self.fresh(state, body), confluent)
            except Exception as exc:
                self._report(body, logger, kind, "reconcile", exc)
                state.next_due = now + self.failure_delay(state, f"exception {type(exc).__name__}", None)
                return
            outcome, delay = self.settle(state, outcome)
            self._write(body, patch, outcome, state)
            state.next_due = self.clock() + (delay if delay is not None else self.drift_delay(body))
        finally:
            state.lock.release()

    def finalize(self, kind: str, body: Mapping[str, Any], patch: kopf.Patch, logger: logging.Logger | Any, *,
                 retry: int) -> None:
        """The delete handler: the finalizer stays until the reconciler says `done`."""
        meta = body.get("metadata") or {}
        state = self.state(kind, meta.get("namespace"), meta.get("name", ""))
        with state.lock:
            wait = self.hinted_wait(state)
            if wait is not None:
                raise kopf.TemporaryError(f"requeue in {wait:g}s (the server's Retry-After)", delay=wait)
            try:
                outcome = self._call(kind, "finalize", self.fresh(state, body), None)
            except Exception as exc:
                self._report(body, logger, kind, "finalize", exc)
                backoff_delay = self.failure_delay(state, f"exception {type(exc).__name__}", None)
                raise kopf.TemporaryError(scrub(f"finalize failed: {type(exc).__name__}: {exc}"),
                                          delay=backoff_delay) from exc
            if not outcome.done:
                outcome, delay = self.settle(state, outcome)
                self._post_events(body, outcome)
                self._write(body, patch, outcome, state, events=False)
                delay = delay if delay is not None else self.requeue_delay(timing.IN_FLIGHT)
                raise kopf.TemporaryError(requeue_message(delay, FINALIZER_WAITING), delay=delay)
            self._post_events(body, outcome)
        self.forget(kind, meta.get("namespace"), meta.get("name", ""))

    def diagnose(self, body: Mapping[str, Any], patch: kopf.Patch, logger: logging.Logger | Any, *,
                 request: str, confluent: Body | None = None) -> None:
        """The `transit.privatelink.io/diagnose` annotation changed to `request`: one diagnosis of the data
        path (`reconcile.transit.diagnosis`), written to `status.diagnosis` and `DataPathHealthy` with an
        Event. A value already answered is not asked again (kopf's resume). At most one diagnosis per
        object at a time and one per `timing.DIAGNOSIS_INTERVAL` (x `time_scale`); another request is
        refused with a Warning Event saying when to ask again (once per value: the handler sees every event
        of the object, and a refused value stays refused)."""
        diagnose = self.reconcilers.diagnose_transit
        if diagnose is None:
            return
        answered = ((body.get("status") or {}).get("diagnosis") or {}).get("request")
        meta = body.get("metadata") or {}
        state = self.state(TRANSIT, meta.get("namespace"), meta.get("name", ""))
        if answered == request or request in state.diagnosis_requests:
            return
        state.diagnosis_requests = {request}  # only the latest value can come again
        if not state.diagnosing.acquire(blocking=False):
            kopf.event(body, type="Warning", reason="DiagnosisRefused",  # type: ignore[arg-type]
                       message=f"diagnosis {request!r} refused: another diagnosis of this object is running")
            return
        try:
            interval = timing.DIAGNOSIS_INTERVAL * self.time_scale
            now = self.clock()
            if state.last_diagnosis is not None and now - state.last_diagnosis < interval:
                wait = interval - (now - state.last_diagnosis)
                kopf.event(body, type="Warning", reason="DiagnosisRefused",  # type: ignore[arg-type]
                           message=f"diagnosis {request!r} refused: at most one every {interval:g}s per object; "
                                   f"annotate again in {wait:.0f}s")
                return
            state.last_diagnosis = now
            with state.lock:  # never beside a reconcile pass of the object: both write its conditions
                try:
                    outcome = diagnose(self.fresh(state, body), confluent, self.cloud, request)
                except Exception as exc:
                    self._report(body, logger, TRANSIT, "diagnose", exc)
                    return
                self._write(body, patch, outcome, state)
        finally:
            state.diagnosing.release()

    def confluent_changed(self, namespace: str, name: str, body: Mapping[str, Any] | None,
                          event_type: str | None, transit_names: list[str]) -> None:
        """A ConfluentPrivateLink event: kick the transits referencing it when its status changed."""
        revision = confluent_revision(None if event_type == "DELETED" else body)
        key = (namespace, name)
        previous = self._revisions.get(key)
        self._revisions[key] = revision
        if event_type == "DELETED":
            self._revisions.pop(key, None)
        if previous == revision or event_type is None:  # None: the initial listing; resume covers it
            return
        for transit in transit_names:
            self.kick(TRANSIT, namespace, transit)

    def kick(self, kind: str, namespace: str | None, name: str) -> None:
        """Make the object's next timer pass due now, and wake its timer if it is waiting (any thread)."""
        state = self.state(kind, namespace, name)
        state.kicked = True
        self.wake(state)

    # ---------------------------------------------------------------------------- internals

    def _call(self, kind: str, operation: str, body: Body, confluent: Body | None) -> Outcome:
        started = time.monotonic()
        result = "error"
        try:
            if kind == CONFLUENT:
                fn = self.reconcilers.reconcile_confluent if operation == "reconcile" else \
                    self.reconcilers.finalize_confluent
                outcome = fn(body, self.cloud)
            elif operation == "reconcile":
                outcome = self.reconcilers.reconcile_transit(body, confluent, self.cloud)
            else:
                outcome = self.reconcilers.finalize_transit(body, self.cloud)
            if operation == "finalize":
                result = "done" if outcome.done else "requeue"
            else:
                result = "requeue" if outcome.requeue_after is not None else "synced"
            return outcome
        finally:
            self.metrics.observe(kind, operation, result, time.monotonic() - started)

    @staticmethod
    def fresh(state: ObjectState, body: Mapping[str, Any]) -> dict[str, Any]:
        """The object a pass works from: kopf's body, unless its status is one this replica wrote before its
        latest write - the watch has not delivered that write yet (at 1,000 objects kopf's bodies lagged
        by minutes) - in which case the latest status written takes its place. Without this, a pass on the
        stale body redid the work its predecessor had finished (a second run command) and wrote the older
        status back over the newer one (Ready True -> False). A status this replica did not write (another
        replica's, or from before a restart) is taken as it is."""
        fresh = plain(body)
        if state.last_status is not None and state.written:
            digest = status_digest(fresh.get("status"))
            if digest != state.written[-1] and digest in state.written:
                fresh["status"] = plain(state.last_status)
        return fresh

    def _write(self, body: Mapping[str, Any], patch: kopf.Patch, outcome: Outcome, state: ObjectState, *,
               events: bool = True) -> None:
        meta = body.get("metadata") or {}
        status = scrub_tree(dump_status(outcome.status))
        self.metrics.observe_status(str(body.get("kind", "")), meta.get("namespace") or "", meta.get("name", ""), status)
        changes = status_patch(body.get("status"), status, state.last_status)
        if changes:
            patch["status"] = changes
        digest = status_digest(status)
        if not state.written or state.written[-1] != digest:  # a status written again is kept once
            state.written = [*state.written, digest][-WRITTEN_KEPT:]
        state.last_status = status
        if events:
            self._post_events(body, outcome)

    @staticmethod
    def _report(body: Mapping[str, Any], logger: logging.Logger | Any, kind: str, operation: str,
                exc: Exception) -> None:
        """An exception escaped the reconciler (a bug: the project's own errors become conditions): log,
        tell, retry. The texts are scrubbed of credentials (`cloud.redact`)."""
        logger.error(f"{kind} {operation} raised; retrying with backoff", exc_info=exc)
        kopf.event(body, type="Warning", reason="ReconcileError",  # type: ignore[arg-type]
                   message=scrub(f"{operation} raised {type(exc).__name__}: {exc}"))

    @staticmethod
    def _post_events(body: Mapping[str, Any], outcome: Outcome) -> None:
        for event in outcome.events:
            kopf.event(body, type=event.type, reason=event.reason,  # type: ignore[arg-type]
                       message=scrub(event.message))
