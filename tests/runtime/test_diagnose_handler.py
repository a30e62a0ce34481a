"""`Runtime.diagnose`: the `transit.privatelink.io/diagnose` annotation's handler runs one diagnosis per new
value, never two of one object at once, at most one per `timing.DIAGNOSIS_INTERVAL` x time scale, and
refuses the others with a Warning Event saying why."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from transit_operator.api.v1alpha1 import DiagnosisStatus, ServerlessTransitStatus
from transit_operator.reconcile import timing
from transit_operator.reconcile.outcome import Outcome
from transit_operator.runtime import driver
from transit_operator.runtime.driver import Reconcilers, Runtime

LOGGER = logging.getLogger("test")


def transit(answered: str | None = None) -> dict[str, Any]:
    status = {"diagnosis": {"time": "2026-01-01T00:00:00Z", "trigger": "annotation", "request": answered}} \
        if answered else {}
    return {"apiVersion": "transit.privatelink.io/v1alpha1", "kind": "ServerlessTransit",
            "metadata": {"name": "t1", "namespace": "default", "generation": 1}, "spec": {}, "status": status}


class Diagnoses:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.gate: threading.Event | None = None
        self.started = threading.Event()

    def diagnose(self, body: dict[str, Any], cpl: Any, cloud: Any, request: str) -> Outcome:
        self.requests.append(request)
        self.started.set()
        if self.gate is not None:
            self.gate.wait(10)
        diagnosis = DiagnosisStatus(time="2026-01-01T00:00:01Z", trigger="annotation", request=request)
        return Outcome(status=ServerlessTransitStatus(diagnosis=diagnosis))

    def reconcilers(self) -> Reconcilers:
        def unused(*args: Any) -> Outcome:
            raise AssertionError("no reconcile here")

        return Reconcilers(unused, unused, unused, unused, self.diagnose)


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    seen: list[tuple[str, str, str]] = []
    monkeypatch.setattr(driver.kopf, "event",
                        lambda body, *, type, reason, message: seen.append((type, reason, message)))
    return seen


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_diagnosis_per_new_value_and_rate_limited(events: list[tuple[str, str, str]]) -> None:
    diagnoses, clock = Diagnoses(), Clock()
    runtime = Runtime(None, diagnoses.reconcilers(), clock=clock, time_scale=0.5)
    patch: dict[str, Any] = {}

    runtime.diagnose(transit(), patch, LOGGER, request="a")
    assert diagnoses.requests == ["a"]
    assert patch["status"]["diagnosis"]["request"] == "a"
    assert events == []  # the reconciler's outcome has no event: none is made up

    runtime.diagnose(transit(answered="a"), {}, LOGGER, request="a")  # kopf's resume: answered already
    assert diagnoses.requests == ["a"] and events == []

    clock.now += timing.DIAGNOSIS_INTERVAL * 0.5 - 1
    runtime.diagnose(transit(answered="a"), {}, LOGGER, request="b")
    assert diagnoses.requests == ["a"]
    ((kind, reason, message),) = events
    assert (kind, reason) == ("Warning", "DiagnosisRefused")
    assert "at most one every 30s" in message and "annotate again in 1s" in message

    runtime.diagnose(transit(answered="a"), {}, LOGGER, request="b")  # the next event of the object
    assert len(events) == 1  # refused once, not on every event

    clock.now += 1
    runtime.diagnose(transit(answered="a"), {}, LOGGER, request="b")
    assert diagnoses.requests == ["a"]  # a refused value stays refused: annotate again
    runtime.diagnose(transit(answered="a"), {}, LOGGER, request="c")
    assert diagnoses.requests == ["a", "c"]


def test_never_two_diagnoses_of_one_object_at_once(events: list[tuple[str, str, str]]) -> None:
    diagnoses = Diagnoses()
    diagnoses.gate = threading.Event()
    runtime = Runtime(None, diagnoses.reconcilers())
    first = threading.Thread(target=runtime.diagnose, args=(transit(), {}, LOGGER), kwargs={"request": "a"})
    first.start()
    try:
        assert diagnoses.started.wait(10)
        runtime.diagnose(transit(), {}, LOGGER, request="b")
    finally:
        diagnoses.gate.set()
        first.join(10)
    assert diagnoses.requests == ["a"]
    ((kind, reason, message),) = events
    assert (kind, reason) == ("Warning", "DiagnosisRefused") and "another diagnosis" in message
