"""`Runtime.tick` claims objects no pass has reached in this replica (the finalizer race with a second
replica, see `runtime.driver`), and leaves alone the ones kopf's own handling owns."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import kopf
import pytest

from transit_operator.api.v1alpha1 import ConfluentPrivateLinkStatus
from transit_operator.reconcile.outcome import Outcome
from transit_operator.runtime.driver import Reconcilers, Runtime

LOGGER = logging.getLogger("test")


def cpl(generation: int, observed: int | None, **metadata: Any) -> dict[str, Any]:
    status = {"observedGeneration": observed} if observed is not None else {}
    return {"apiVersion": "transit.privatelink.io/v1alpha1", "kind": "ConfluentPrivateLink",
            "metadata": {"name": "c1", "namespace": "default", "generation": generation, **metadata},
            "spec": {"zones": ["1"]}, "status": status}


class Counting:
    """Reconcilers that count passes and write only observedGeneration (no Events: no kopf context here)."""

    def __init__(self, requeue_after: float | None = None) -> None:
        self.passes = 0
        self.requeue_after = requeue_after

    def reconcile(self, body: dict[str, Any], ctx: Any) -> Outcome:
        self.passes += 1
        return Outcome(status=ConfluentPrivateLinkStatus(observed_generation=body["metadata"]["generation"]),
                       requeue_after=self.requeue_after)

    def reconcilers(self) -> Reconcilers:
        return Reconcilers(self.reconcile, self.reconcile, lambda body, cpl, ctx: self.reconcile(body, ctx),
                           self.reconcile)


@pytest.mark.parametrize(("body", "claimed"), [
    pytest.param(cpl(1, None), True, id="never-reconciled"),
    pytest.param(cpl(2, 1), True, id="generation-not-observed"),
    pytest.param(cpl(1, 1), False, id="observed"),
    pytest.param(cpl(1, None, deletionTimestamp="2026-01-01T00:00:00Z"), False, id="being-deleted"),
])
def test_a_tick_claims_an_object_no_pass_has_reached(body: dict[str, Any], claimed: bool) -> None:
    counting = Counting()
    runtime = Runtime(None, counting.reconcilers())
    runtime.tick("ConfluentPrivateLink", body, {}, LOGGER)  # type: ignore[arg-type]
    assert counting.passes == (1 if claimed else 0)
    runtime.tick("ConfluentPrivateLink", body, {}, LOGGER)  # type: ignore[arg-type]
    assert counting.passes == (1 if claimed else 0)  # claimed once; then the drift interval rules


def test_an_object_kopf_has_passed_over_is_not_claimed_again() -> None:
    counting = Counting(requeue_after=5.0)
    runtime = Runtime(None, counting.reconcilers())
    with pytest.raises(kopf.TemporaryError):  # kopf's change handling, asked to come back in 5 s
        runtime.reconcile("ConfluentPrivateLink", cpl(1, None), {}, LOGGER, retry=0)  # type: ignore[arg-type]
    runtime.tick("ConfluentPrivateLink", cpl(1, None), {}, LOGGER)  # type: ignore[arg-type]
    assert counting.passes == 1  # kopf owns the retry it was asked for


# --- the timer's turn: requeues when due, kicks at once -------------------------------------------------------


def transit(name: str = "t1") -> dict[str, Any]:
    return {"apiVersion": "transit.privatelink.io/v1alpha1", "kind": "ServerlessTransit",
            "metadata": {"name": name, "namespace": "default", "generation": 1},
            "spec": {}, "status": {"observedGeneration": 1}}


async def timed_turn(runtime: Runtime, body: dict[str, Any], stopped: Any = None) -> float:
    started = time.monotonic()
    await runtime.turn("ServerlessTransit", body, stopped)
    return time.monotonic() - started


def passed_over(runtime: Runtime, body: dict[str, Any], due_in: float | None) -> Any:
    state = runtime.state("ServerlessTransit", "default", body["metadata"]["name"])
    state.seen = True
    state.next_due = None if due_in is None else time.monotonic() + due_in
    return state


def test_a_requeue_runs_when_it_is_due_not_at_the_next_tick() -> None:
    runtime = Runtime(None, Counting().reconcilers(), tick_seconds=30.0)
    body = transit()
    passed_over(runtime, body, due_in=0.3)
    waited = asyncio.run(timed_turn(runtime, body))
    assert 0.25 <= waited < 5.0


def test_a_kick_from_another_thread_wakes_the_waiting_transit_at_once() -> None:
    runtime = Runtime(None, Counting().reconcilers(), tick_seconds=30.0)
    body = transit()
    passed_over(runtime, body, due_in=None)  # nothing due: the timer would wait IDLE_SECONDS

    async def kicked_while_waiting() -> float:
        waiting = asyncio.create_task(timed_turn(runtime, body))
        await asyncio.sleep(0.2)
        cpl_body = cpl(1, 1)
        cpl_body["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
        # kopf runs the event handler in a worker thread
        await asyncio.to_thread(runtime.confluent_changed, "default", "c1", cpl_body, "MODIFIED", ["t1"])
        return await waiting

    runtime._revisions[("default", "c1")] = "before"
    waited = asyncio.run(kicked_while_waiting())
    assert 0.15 <= waited < 5.0
    assert runtime.state("ServerlessTransit", "default", "t1").kicked


def test_kopf_stopping_the_timer_ends_its_wait() -> None:
    runtime = Runtime(None, Counting().reconcilers(), tick_seconds=30.0)
    body = transit()
    passed_over(runtime, body, due_in=None)

    class Flag:
        def __init__(self) -> None:
            self.event = asyncio.Event()

        async def wait(self) -> None:
            await self.event.wait()

    async def stopped_while_waiting() -> float:
        flag = Flag()
        waiting = asyncio.create_task(timed_turn(runtime, body, flag))
        await asyncio.sleep(0.2)
        flag.event.set()
        return await waiting

    assert asyncio.run(stopped_while_waiting()) < 5.0


def test_the_timer_takes_over_a_retry_kopf_does_not_make() -> None:
    """A change handler's requeue is kopf's retry; should it not come, the timer passes over the object a
    little later (a backstop), and not before."""
    now = [100.0]
    counting = Counting(requeue_after=5.0)
    runtime = Runtime(None, counting.reconcilers(), tick_seconds=2.0, clock=lambda: now[0])
    body = cpl(1, None)
    with pytest.raises(kopf.TemporaryError):
        runtime.reconcile("ConfluentPrivateLink", body, {}, LOGGER, retry=0)  # type: ignore[arg-type]
    assert counting.passes == 1
    now[0] += 6.0  # kopf's retry (5 s) is due: the timer leaves it to kopf
    runtime.tick("ConfluentPrivateLink", body, {}, LOGGER)  # type: ignore[arg-type]
    assert counting.passes == 1
    now[0] += 5.0  # 11 s and still no retry from kopf: the timer makes it
    runtime.tick("ConfluentPrivateLink", body, {}, LOGGER)  # type: ignore[arg-type]
    assert counting.passes == 2


def test_a_kick_during_a_servers_retry_after_waits_for_it() -> None:
    # the timer's pass would be skipped until Retry-After passed (`tick`): waiting 0 s would spin on it
    runtime = Runtime(None, Counting().reconcilers(), tick_seconds=30.0)
    body = transit()
    state = passed_over(runtime, body, due_in=None)
    state.kicked = True
    state.not_before = time.monotonic() + 0.4
    waited = asyncio.run(timed_turn(runtime, body))
    assert 0.3 <= waited < 5.0
    state.not_before = None
    assert asyncio.run(timed_turn(runtime, body)) < 0.3  # the kick, once the pause is over, runs at once


class Sequenced:
    """Reconcilers that record the status each pass is given and write a new one every pass."""

    def __init__(self) -> None:
        self.given: list[Any] = []
        self.passes = 0

    def reconcile(self, body: dict[str, Any], ctx: Any) -> Outcome:
        self.given.append(body.get("status"))
        self.passes += 1
        return Outcome(status=ConfluentPrivateLinkStatus(observed_generation=self.passes))

    def reconcilers(self) -> Reconcilers:
        return Reconcilers(self.reconcile, self.reconcile, lambda body, cpl, ctx: self.reconcile(body, ctx),
                           self.reconcile)


def kicked_pass(runtime: Runtime, body: dict[str, Any]) -> dict[str, Any]:
    runtime.kick("ConfluentPrivateLink", "default", "c1")
    patch: dict[str, Any] = {}
    runtime.tick("ConfluentPrivateLink", body, patch, LOGGER)  # type: ignore[arg-type]
    return patch


def test_a_pass_on_a_body_the_watch_has_not_caught_up_with_works_from_the_latest_status_written() -> None:
    """At 1,000 objects kopf's bodies lagged minutes behind the status patches: a pass on a body still
    holding an older status of ours redid finished work and wrote that older state back (bench/scale.py:
    Ready transits went back to Provisioning)."""
    sequenced = Sequenced()
    runtime = Runtime(None, sequenced.reconcilers())
    body = cpl(1, None)
    first = kicked_pass(runtime, body)["status"]
    assert first["observedGeneration"] == 1
    delivered = {**body, "status": first}  # the watch delivers the first write...
    assert kicked_pass(runtime, delivered)["status"] == {"observedGeneration": 2}
    patch = kicked_pass(runtime, delivered)  # ...but not yet the second
    assert sequenced.given[-1]["observedGeneration"] == 2  # the pass works from the latest written
    assert patch["status"] == {"observedGeneration": 3}
    for _ in range(40):  # dozens of passes later the watch still has not caught up: the same
        kicked_pass(runtime, delivered)
    assert sequenced.given[-1]["observedGeneration"] == sequenced.passes - 1
    # a status this replica never wrote (another replica's, an earlier process's) is taken as it is
    foreign = {**body, "status": {**first, "observedGeneration": 4200}}
    patch = kicked_pass(runtime, foreign)
    assert sequenced.given[-1]["observedGeneration"] == 4200
    assert patch["status"] == {"observedGeneration": sequenced.passes}


@pytest.mark.parametrize(("old", "also", "new", "patch"), [
    pytest.param({"a": 1}, None, {"a": 2}, {"a": 2}, id="one-old"),
    pytest.param({"a": 1, "x": 1}, {"a": 2}, {"a": 2}, {"x": None, "a": 2}, id="key-only-in-the-stale-one"),
    pytest.param({"a": 2}, {"a": 2, "y": {"z": 1}}, {"a": 2}, {"y": None}, id="key-only-in-the-latest"),
    pytest.param({"n": {"p": 1}}, {"n": {"p": 2}}, {"n": {"p": 2}}, {"n": {"p": 2}}, id="nested-differs-from-one"),
    pytest.param({"a": 2}, {"a": 2}, {"a": 2}, {}, id="equal"),
])
def test_the_status_patch_turns_either_status_the_object_may_hold_into_the_new_one(
        old: dict[str, Any], also: dict[str, Any] | None, new: dict[str, Any], patch: dict[str, Any]) -> None:
    from transit_operator.runtime.driver import status_patch

    assert status_patch(old, new, also) == patch
