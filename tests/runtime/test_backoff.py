"""The runtime's per-object backoff: repeated failures space passes out exponentially, with jitter, capped,
and stall after a bounded number of identical ones; progress starts the count again."""

from __future__ import annotations

import random
from typing import Any

import pytest

from transit_operator.api.v1alpha1 import ConfluentPrivateLinkStatus, ServerlessTransitStatus
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.outcome import STALL_AFTER, Failure, Outcome
from transit_operator.runtime.driver import JITTER, MAX_BACKOFF_SECONDS, ObjectState, Runtime


def runtime(**kwargs: Any) -> Runtime:
    return Runtime(None, None, rng=random.Random(7), **kwargs)  # type: ignore[arg-type]


def failed(key: str = "endpoint: Failed", asked: float | None = 5.0, stall_after: int | None = STALL_AFTER) -> Outcome:
    status = ConfluentPrivateLinkStatus(observed_generation=3)
    return Outcome(status=status, requeue_after=asked,
                   failure=Failure(Reason.PROVISIONING_FAILED, "endpoint failed", key=key, stall_after=stall_after))


def stalled(outcome: Outcome) -> bool:
    return any(c.type == "Stalled" and c.status == "True" for c in outcome.status.conditions)


def test_identical_failures_double_the_delay_within_the_jitter_up_to_the_cap() -> None:
    rt, state = runtime(), ObjectState()
    delays = [rt.settle(state, failed())[1] for _ in range(12)]
    for n, delay in enumerate(delays):
        nominal = min(5.0 * 2**n, MAX_BACKOFF_SECONDS)
        assert nominal * (1 - JITTER) <= delay <= min(nominal * (1 + JITTER), MAX_BACKOFF_SECONDS)  # type: ignore[operator]
    assert max(delays) <= MAX_BACKOFF_SECONDS  # type: ignore[type-var]
    assert len({round(d, 6) for d in delays[:4]}) == 4  # jittered, not one fixed schedule


def test_stalled_after_the_bounded_number_of_identical_failures_with_one_event() -> None:
    rt, state = runtime(), ObjectState()
    outcomes = [rt.settle(state, failed())[0] for _ in range(STALL_AFTER + 2)]
    assert [stalled(o) for o in outcomes] == [False] * (STALL_AFTER - 1) + [True] * 3
    assert [e.reason for o in outcomes for e in o.events] == ["Stalled"]
    condition = next(c for c in outcomes[-1].status.conditions if c.type == "Stalled")
    assert condition.reason == "ProvisioningFailed" and condition.observed_generation == 3


def test_failures_that_resolve_by_themselves_back_off_but_never_stall() -> None:
    rt, state = runtime(), ObjectState()
    outcomes = [rt.settle(state, failed(asked=120.0, stall_after=None)) for _ in range(8)]
    assert not any(stalled(o) for o, _ in outcomes)
    assert outcomes[0][1] >= 120 * (1 - JITTER) and outcomes[-1][1] == MAX_BACKOFF_SECONDS  # type: ignore[operator]


def test_a_different_failure_or_a_settled_pass_starts_again_and_waiting_keeps_the_count() -> None:
    rt, state = runtime(), ObjectState()
    for _ in range(3):
        rt.settle(state, failed())
    assert state.failures == 3
    rt.settle(state, Outcome(status=ConfluentPrivateLinkStatus(), requeue_after=1.0))  # in flight: neither progress nor failure
    assert state.failures == 3
    rt.settle(state, failed(key="another"))
    assert state.failures == 1
    rt.settle(state, Outcome(status=ConfluentPrivateLinkStatus()))  # settled
    assert (state.failures, state.failure_key) == (0, None)


def test_time_scale_scales_every_delay_and_the_cap() -> None:
    rt, state = runtime(time_scale=0.01), ObjectState()
    delays = [rt.settle(state, failed())[1] for _ in range(12)]
    assert max(delays) <= MAX_BACKOFF_SECONDS * 0.01  # type: ignore[type-var]
    assert rt.requeue_delay(10.0) == pytest.approx(0.1)
    assert rt.drift_delay({"spec": {"driftCheckIntervalSeconds": 300}}) == pytest.approx(3.0)


def test_a_servers_retry_after_is_never_scaled_down_or_capped() -> None:
    """The fault matrix found it: 429s beyond azure-core's own retries came back 0.05 s later at
    `--time-scale 0.01`, because the Retry-After the classifier passed on was scaled like the operator's own
    delays. The server's hint is the server's time: a floor for the next attempt."""
    rt, state = runtime(time_scale=0.01), ObjectState()
    hinted = Outcome(status=ConfluentPrivateLinkStatus(observed_generation=1), requeue_after=2.0, failure=Failure(
        Reason.TRANSIENT_ERROR, "throttled", key="GET pls: TooManyRequests", retry_after=2.0))
    delays = [rt.settle(state, hinted)[1] for _ in range(8)]
    assert min(delays) >= 2.0  # type: ignore[type-var]
    assert rt.settle(ObjectState(), failed())[1] < 0.1  # the operator's own delays still scale


def test_the_longest_retry_after_of_a_pass_goes_with_its_failure() -> None:
    from transit_operator.cloud.errors import Classified, RetryableError
    from transit_operator.reconcile.pass_record import PassRecord

    record = PassRecord()
    record.fail("GET lb", RetryableError(Classified(True, "TooManyRequests", "slow", 2.0, 429, retry_after=2.0)))
    record.fail("GET pls", RetryableError(Classified(True, "ServiceUnavailable", "busy", 5.0, 503, retry_after=5.0)))
    record.fail("GET nic", RetryableError(Classified(True, "InternalServerError", "oops", 15.0, 500)))
    assert record.failure is not None and record.failure.retry_after == 5.0
    record.failures.append(Failure(Reason.PROVISIONING_FAILED, "endpoint failed", key="endpoint"))
    assert record.failure.reason == Reason.PROVISIONING_FAILED and record.failure.retry_after == 5.0


def test_no_pass_runs_before_a_servers_retry_after_whatever_wakes_the_object() -> None:
    """The fault matrix found it: a PUT answered 503 with Retry-After 2 was sent again 0.05 s later, because
    the referenced ConfluentPrivateLink's status changed and kicked the transit: a kick ran a pass at the
    next tick, ahead of the server's hint. Kicks and timers now wait for it; kopf's own retries are told to."""
    import kopf

    from transit_operator.runtime.driver import TRANSIT, Reconcilers

    now = [100.0]
    passes: list[float] = []

    def throttled(body: dict[str, Any], cpl: Any, ctx: Any) -> Outcome:
        passes.append(now[0])
        return Outcome(status=ServerlessTransitStatus(observed_generation=1), requeue_after=15.0, failure=Failure(
            Reason.TRANSIENT_ERROR, "PUT lb: ServiceUnavailable", key="PUT lb: ServiceUnavailable", retry_after=2.0))

    unused = lambda *args: Outcome(status=ServerlessTransitStatus())  # noqa: E731
    rt = Runtime(None, Reconcilers(unused, unused, throttled, unused), clock=lambda: now[0], time_scale=0.01,  # type: ignore[arg-type]
                 rng=random.Random(7))
    body = {"metadata": {"namespace": "ns", "name": "t", "generation": 1}, "spec": {}}

    class Log:
        def error(self, *args: Any, **kwargs: Any) -> None: ...

    with pytest.raises(kopf.TemporaryError) as first:
        rt.reconcile(TRANSIT, body, kopf.Patch(), Log(), retry=0)
    assert first.value.delay >= 2.0
    state = rt.state(TRANSIT, "ns", "t")
    state.kicked = True  # the ConfluentPrivateLink's status changed
    now[0] += 0.05
    rt.tick(TRANSIT, body, kopf.Patch(), Log())
    with pytest.raises(kopf.TemporaryError) as early:  # kopf retrying (or a spec change) meanwhile
        rt.reconcile(TRANSIT, body, kopf.Patch(), Log(), retry=1)
    assert passes == [100.0] and early.value.delay == pytest.approx(1.95) and state.kicked
    now[0] += 2.0
    rt.tick(TRANSIT, body, kopf.Patch(), Log())
    assert passes == [100.0, 102.05]
