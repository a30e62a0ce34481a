"""A sample of the crash matrix (`tests.matrices.crash`): `transit-operator run` killed with SIGKILL at a cloud
or Kubernetes write of a cold start, a delete and a config rollout, before or after the write applied, then
started again - the phase ends as an uninterrupted run ends it, nothing duplicated, leaked or created twice.

The sample runs on the embedded Kubernetes emulator, and its points where the API server's own behaviour
decides most (a finalizer written and its answer lost, a delete, a rollout's status writes) also on a
real kube-apiserver of the test's own (`[real]`: the operator watches every namespace of an empty cluster).

The whole matrix (every write of every phase, both options, both sides of each write) is a benchmark:
`python bench/crash_matrix.py --full`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .crash import CrashPoint, Phase, run_phase, run_point
from .world import Snapshot

pytestmark = pytest.mark.slow

# One point per kind of moment, spread over the phases (n counts writes from the phase's start; the
# writes' order varies a little between runs, so a point names a moment, not a request).
SAMPLE = [
    CrashPoint("haproxy", "create", "cloud", 1, "after"),  # the first endpoint PUT applied, its answer lost
    CrashPoint("haproxy", "create", "cloud", 9, "before"),  # mid cold start: NCC, binding, PLS or scale set
    CrashPoint("haproxy", "create", "kubernetes", 1, "after"),  # the finalizer added, the answer lost
    CrashPoint("haproxy", "delete", "cloud", 2, "after"),  # a delete started, nothing recorded
    CrashPoint("haproxy", "rollout", "cloud", 4, "before"),  # a config push to an instance on the wire
    CrashPoint("applicationGateway", "create", "cloud", 6, "after"),
]


# The points run on a real kube-apiserver too (each costs a server start, ~6 s, on top of the point).
ON_REAL_SERVER = [SAMPLE[2], SAMPLE[3], SAMPLE[4]]
CASES = [pytest.param(point, "embedded", id=f"{point.id}-embedded") for point in SAMPLE] + [
    pytest.param(point, "real", id=f"{point.id}-real", marks=pytest.mark.real_kube) for point in ON_REAL_SERVER]


@pytest.fixture(scope="module")
def reference() -> Callable[[CrashPoint], Snapshot | None]:
    """What the cloud holds after each phase without a kill (one uninterrupted run per phase, shared)."""
    runs: dict[tuple[str, Phase], Snapshot] = {}

    def of(point: CrashPoint) -> Snapshot | None:
        if point.phase == "rollout":
            return None  # the point's own cold start is its reference
        key = (point.option, point.phase)
        if key not in runs:
            runs[key] = run_phase(*key).snapshot
        return runs[key]

    return of


@pytest.mark.parametrize(("point", "server"), CASES)
def test_operator_killed_at_a_write_converges_after_a_restart_with_nothing_duplicated_or_leaked(
        point: CrashPoint, server: str, reference: Callable[[CrashPoint], Snapshot | None],
        request: pytest.FixtureRequest) -> None:
    kube = request.getfixturevalue("fresh_real_kube_server") if server == "real" else None
    verdict = run_point(point, reference(point), kube=kube)
    assert verdict.reached, f"the phase made fewer than {point.n} {point.channel} writes"
    assert verdict.problems == [], f"killed at {verdict.killed_at}"
