"""reconcile.conditions: the kstatus triple, domain conditions, and the one setter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from transit_operator.api.v1alpha1 import Condition
from transit_operator.reconcile import conditions as cond
from transit_operator.reconcile.conditions import Reason

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def docs(conditions: list[Condition]) -> list[dict]:
    """The conditions as written (camelCase)."""
    return [c.model_dump(by_alias=True) for c in conditions]


def by_type(conditions: list[Condition]) -> dict[str, dict]:
    return {c["type"]: c for c in docs(conditions)}


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        pytest.param(cond.ready(3), {"Ready": "True", "Reconciling": "False", "Stalled": "False"}, id="ready"),
        pytest.param(
            cond.reconciling(Reason.PROVISIONING, "creating", 3),
            {"Ready": "False", "Reconciling": "True", "Stalled": "False"},
            id="reconciling",
        ),
        pytest.param(
            cond.stalled(Reason.INVALID_SPEC, "spec.x: bad", 3),
            {"Ready": "False", "Reconciling": "False", "Stalled": "True"},
            id="stalled",
        ),
    ],
)
def test_named_constructors_give_a_consistent_kstatus_triple(conditions: list[dict], expected: dict) -> None:
    assert {c["type"]: c["status"] for c in docs(conditions)} == expected
    assert all(c["observedGeneration"] == 3 for c in docs(conditions))


def test_reason_and_message_reach_ready_and_the_active_condition() -> None:
    found = by_type(cond.stalled(Reason.CONNECTION_REJECTED, "zone az1 rejected", 1))
    assert found["Ready"]["reason"] == found["Stalled"]["reason"] == "ConnectionRejected"
    assert found["Stalled"]["message"] == "zone az1 rejected"


def test_reasons_are_camel_case() -> None:
    for reason in Reason:
        assert reason.value[0].isupper() and "_" not in reason.value and " " not in reason.value


@pytest.mark.parametrize(
    ("ok", "status"), [pytest.param(True, "True", id="true"), pytest.param(False, "False", id="false"),
                       pytest.param(None, "Unknown", id="unknown")]
)
def test_domain_condition_status(ok: bool | None, status: str) -> None:
    assert cond.domain(cond.DNS_READY, ok, Reason.RECORDS_PUBLISHED, "m", 2).status == status


def test_domain_condition_type_is_a_closed_set() -> None:
    with pytest.raises(ValueError, match="unknown domain condition"):
        cond.domain("Whatever", True, Reason.RECONCILED, "", 1)


def test_set_condition_stamps_a_new_condition() -> None:
    out = cond.set_condition([], cond.ready(1)[0], T0)
    assert docs(out)[0]["lastTransitionTime"] == "2026-11-23T12:00:00Z"


def test_set_condition_keeps_transition_time_when_status_is_unchanged() -> None:
    first = cond.set_conditions([], cond.reconciling(Reason.PROVISIONING, "a", 1), T0)
    second = cond.set_conditions(first, cond.reconciling(Reason.WAITING_FOR_APPROVAL, "b", 2), T1)
    ready = by_type(second)["Ready"]
    assert ready["lastTransitionTime"] == "2026-11-23T12:00:00Z"
    assert (ready["reason"], ready["message"], ready["observedGeneration"]) == ("WaitingForApproval", "b", 2)


def test_set_condition_moves_transition_time_when_status_changes() -> None:
    first = cond.set_conditions([], cond.reconciling(Reason.PROVISIONING, "a", 1), T0)
    second = cond.set_conditions(first, cond.ready(1), T1)
    assert by_type(second)["Ready"]["lastTransitionTime"] == "2026-11-23T12:05:00Z"
    assert by_type(second)["Stalled"]["lastTransitionTime"] == "2026-11-23T12:00:00Z"  # False -> False


def test_set_condition_replaces_in_place_and_keeps_other_types() -> None:
    other = Condition(type="DnsReady", status="True", reason="RecordsPublished", last_transition_time="x")
    out = cond.set_conditions([other], cond.ready(1), T0)
    assert [c.type for c in out] == ["DnsReady", "Ready", "Reconciling", "Stalled"]
    assert out[0] is other


def test_set_condition_is_pure() -> None:
    before = cond.set_conditions([], cond.ready(1), T0)
    snapshot = [c.model_copy(deep=True) for c in before]
    cond.set_conditions(before, cond.stalled(Reason.CLOUD_ERROR, "x", 1), T1)
    assert before == snapshot


def test_is_true_and_find() -> None:
    out = cond.set_conditions([], cond.ready(1), T0)
    assert cond.is_true(out, "Ready") and not cond.is_true(out, "Stalled") and not cond.is_true(out, "DnsReady")
    assert cond.find(out, "Missing") is None
