"""reconcile.pass_record: the one kstatus decision, the one Warning rule and the one spec-validation message
that both kinds use."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from transit_operator.api.v1alpha1 import (
    ConfluentPrivateLink,
    ConfluentPrivateLinkStatus,
    ServerlessTransit,
    ServerlessTransitStatus,
    ZoneStatus,
)
from transit_operator.cloud.errors import Classified, FatalError, RetryableError
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile import timing
from transit_operator.reconcile.conditions import Reason
from transit_operator.reconcile.pass_record import (
    Blocked,
    PassRecord,
    build_outcome,
    decide,
    deleting_failed,
    validated,
    warnings,
)

SOON = timing.IN_FLIGHT
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def fatal(code: str = "InvalidParameter") -> FatalError:
    return FatalError(Classified(False, code, "the request is wrong"))


def retryable(delay: float | None = 7.0, slow: bool = False) -> RetryableError:
    return RetryableError(Classified(True, "TooManyRequests", "slow down", delay, slow=slow))


def record(*steps: str) -> PassRecord:
    """A record with one entry of each named kind, in this order."""
    run = PassRecord()
    for step in steps:
        if step == "fatal":
            run.fail("thing A", fatal())
        elif step == "retryable":
            run.fail("thing B", retryable())
        elif step == "stalled":
            run.stall(Reason.CONNECTION_REJECTED, "zone az2 rejected")
        elif step == "in_flight":
            run.in_flight.append("thing C")
        elif step == "waiting":
            run.wait(Reason.WAITING_FOR_APPROVAL, "waiting for approval", 11.0)
    return run


@pytest.mark.parametrize(
    ("steps", "ready", "reason", "requeue"),
    [
        pytest.param((), ("True", "False", "False"), "Reconciled", None, id="nothing-ready"),
        pytest.param(("waiting",), ("False", "True", "False"), "WaitingForApproval", 11.0, id="waiting"),
        pytest.param(("waiting", "in_flight"), ("False", "True", "False"), "Provisioning", SOON, id="in-flight-first"),
        pytest.param(("in_flight", "retryable"), ("False", "True", "False"), "TransientError", 7.0,
                     id="retryable-before-in-flight"),
        pytest.param(("retryable", "stalled"), ("False", "False", "True"), "ConnectionRejected", 7.0,
                     id="decided-against-still-retries-the-rest"),
        pytest.param(("stalled", "waiting"), ("False", "False", "True"), "ConnectionRejected", 11.0,
                     id="decided-against-still-waits-for-the-rest"),
        pytest.param(("stalled",), ("False", "False", "True"), "ConnectionRejected", None,
                     id="decided-against-alone-no-requeue"),
        pytest.param(("stalled", "fatal", "waiting"), ("False", "False", "True"), "CloudError", None,
                     id="fatal-first-and-no-waiting-on-it"),
        pytest.param(("fatal", "in_flight"), ("False", "False", "True"), "CloudError", SOON,
                     id="fatal-still-follows-what-is-in-flight"),
    ],
)
def test_the_kstatus_decision_table(
    steps: tuple[str, ...], ready: tuple[str, str, str], reason: str, requeue: float | None
) -> None:
    conditions, delay = decide(record(*steps), 4, "all good")
    assert tuple(cond.find(conditions, t).status for t in (cond.READY, cond.RECONCILING, cond.STALLED)) == ready
    assert cond.find(conditions, cond.READY).reason == reason
    assert all(c.observed_generation == 4 for c in conditions)
    assert delay == requeue


def test_retry_delay_is_the_longest_asked_for_and_capped() -> None:
    run = PassRecord()
    run.fail("a", retryable(30.0))
    run.fail("b", retryable(None))  # no hint: IN_FLIGHT
    assert decide(run, 1, "")[1] == 30.0
    run.fail("c", retryable(10_000.0))
    assert decide(run, 1, "")[1] == timing.MAX_RETRY


def test_messages_name_what_failed_with_the_cloud_code() -> None:
    conditions, _ = decide(record("fatal"), 1, "")
    assert cond.find(conditions, cond.STALLED).message == "thing A: InvalidParameter: the request is wrong"


def test_a_slow_retryable_error_never_stalls_by_repetition() -> None:
    run = PassRecord()
    run.fail("role", retryable(120.0, slow=True))
    assert run.failure is not None and run.failure.stall_after is None
    assert cond.find(decide(run, 1, "")[0], cond.READY).reason == Reason.WAITING_FOR_PROPAGATION


@pytest.mark.parametrize(
    ("before", "now", "warned"),
    [
        pytest.param(None, cond.stalled(Reason.CLOUD_ERROR, "x: Code: m", 1), True, id="new-problem"),
        pytest.param(cond.stalled(Reason.CLOUD_ERROR, "x: Code: m", 1), cond.stalled(Reason.CLOUD_ERROR, "x: Code: m", 2),
                     False, id="same-problem-again"),
        pytest.param(cond.stalled(Reason.CLOUD_ERROR, "x: Code: m", 1),
                     cond.stalled(Reason.CLOUD_ERROR, "y: Code: m", 1), True, id="problem-changed"),
        pytest.param(None, cond.reconciling(Reason.PROVISIONING, "creating", 1), False, id="progress"),
        pytest.param(None, cond.reconciling(Reason.WAITING_FOR_DEPENDENCY, "subnet missing", 1), False,
                     id="waiting-for-a-dependency"),
        pytest.param(None, cond.reconciling(Reason.TRANSIENT_ERROR, "x: 429", 1), True, id="retryable-error"),
        pytest.param(None, cond.stalled(Reason.INVALID_SPEC, "spec.x: bad", 1), True, id="invalid-spec"),
        pytest.param(None, cond.ready(1), False, id="ready"),
    ],
)
def test_one_warning_rule(before: list | None, now: list, warned: bool) -> None:
    events = warnings(cond.set_conditions([], before, NOW) if before else [], now)
    assert bool(events) is warned
    if warned:
        ready = cond.find(now, cond.READY)
        assert (events[0].type, events[0].reason, events[0].message) == ("Warning", ready.reason, ready.message)


def test_build_outcome_keeps_fields_it_is_not_told_about_and_stamps_the_generation() -> None:
    previous = ConfluentPrivateLinkStatus(
        zones=[ZoneStatus(name="az1")], observed_generation=1, dns_zone_id=None,
        conditions=cond.set_conditions([], cond.ready(1), NOW),
    )
    outcome = build_outcome(previous, 2, cond.reconciling(Reason.PROVISIONING, "x", 2), NOW,
                            fields={"retiring_dns_zone_ids": []}, requeue_after=3.0)
    assert outcome.status.zones == [ZoneStatus(name="az1")] and outcome.status.dns_zone_id is None
    assert outcome.status.observed_generation == 2 and outcome.requeue_after == 3.0
    assert cond.find(outcome.status.conditions, cond.READY).status == "False"


def test_build_outcome_refuses_a_misspelled_field() -> None:
    with pytest.raises(ValidationError, match="dns_zone_iD"):
        build_outcome(ConfluentPrivateLinkStatus(), 1, cond.ready(1), NOW, fields={"dns_zone_iD": None})


@pytest.mark.parametrize(
    ("exc", "stalled", "requeue"),
    [
        pytest.param(retryable(7.0), False, 7.0, id="retryable"),
        pytest.param(fatal(), True, timing.FAILED_DELETE, id="fatal"),
        pytest.param(Blocked(Reason.WAITING_FOR_DEPENDENCY, "Secret ns/x does not exist", retry_after=30.0),
                     False, 30.0, id="blocked-waiting"),
        pytest.param(Blocked(Reason.REGION_MISMATCH, "NCC in the wrong region"), True, timing.FAILED_DELETE, id="blocked-stalled"),
    ],
)
def test_deleting_failed_says_what_and_backs_off(exc: Exception, stalled: bool, requeue: float) -> None:
    outcome = deleting_failed(ServerlessTransitStatus(), 3, exc, NOW)  # type: ignore[arg-type]
    stalled_condition = cond.find(outcome.status.conditions, cond.STALLED)
    assert (stalled_condition.status == "True") is stalled
    assert outcome.requeue_after == requeue and not outcome.done and outcome.failure is not None
    assert [e.type for e in outcome.events] == ["Warning"] and outcome.events[0].message.startswith("deleting: ")


@pytest.mark.parametrize("model", [ConfluentPrivateLink, ServerlessTransit])
def test_an_invalid_body_gives_one_message_with_the_camel_case_path(model: type) -> None:
    body = {"apiVersion": "transit.privatelink.io/v1alpha1", "kind": model.__name__, "metadata": {"name": "x"},
            "spec": {"azure": {"subscriptionId": "not-a-guid", "resourceGroup": "rg", "location": "westeurope"}},
            "status": {"anything": "is not validated"}}
    message = validated(model, body)
    assert isinstance(message, str)
    assert message.startswith("spec.") and message.endswith(" more)")


def test_a_validator_message_is_shown_without_pydantic_s_prefix() -> None:
    domain = "n-abc.westeurope.azure.confluent.cloud"
    body = {"apiVersion": "transit.privatelink.io/v1alpha1", "kind": "ConfluentPrivateLink", "metadata": {"name": "x"},
            "spec": {"azure": {"subscriptionId": "11111111-2222-3333-4444-555555555555", "resourceGroup": "rg",
                               "location": "westeurope"},
                     "confluent": {"networkId": "n-abc", "dnsDomain": domain, "bootstrapServer": "lkc.other.cloud:9092",
                                   "zones": [{"name": "az1", "privateLinkServiceAlias":
                                              "s-a.0b0b0b0b-2222-4222-8222-000000000001.westeurope.azure.privatelinkservice"}]},
                     "privateEndpoints": {"subnetId": "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/"
                                          "rg/providers/Microsoft.Network/virtualNetworks/v/subnets/pe"}}}
    message = validated(ConfluentPrivateLink, body)
    assert isinstance(message, str)
    assert message.startswith("spec.confluent: bootstrapServer host 'lkc.other.cloud' is ")
    assert f"dnsDomain '{domain}'" in message and "Value error" not in message


def test_waits_are_real_cloud_seconds_whatever_the_sdk_polling_interval() -> None:
    # Issue 17: the requeue unit was max(polling_interval, 1 s); the runtime's --time-scale compresses
    # these waits, the SDK's polling knob no longer does.
    run = PassRecord()
    run.in_flight.append("x")
    assert decide(run, 1, "")[1] == timing.IN_FLIGHT
    assert timing.IN_FLIGHT < timing.APPROVAL < timing.GATEWAY_LRO <= timing.MAX_RETRY == timing.BACKOFF_CAP
