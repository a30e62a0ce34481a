"""The whole hostile corpus (`corpus.py`, 100+ CRs and Secrets) through `transit-operator plan` and through
the operator in the sandbox: each input is refused with a field path and no cloud write, or accepted and
harmless; no canary secret shows anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from .corpus import CANARY, CASES
from .harness import ClusterRun, judge_plan, run_cluster


def test_the_corpus_is_large_and_every_case_says_what_it_expects() -> None:
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)
    assert all(c.path for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_plan_refuses_exactly_what_it_must_naming_the_field(case, tmp_path: Path) -> None:
    verdict = judge_plan(case, tmp_path)
    assert not verdict.leaked
    assert verdict.ok, f"{case.id}: plan exit {verdict.code}, expected {case.plan} naming {case.plan_path or case.path}:\n" \
                       f"{verdict.stderr[-2000:]}"


@pytest.fixture(scope="module")
def cluster() -> ClusterRun:
    return run_cluster()


@pytest.mark.slow
def test_no_canary_secret_reaches_status_events_or_logs(cluster: ClusterRun) -> None:
    assert cluster.observable  # statuses, Events and log records were captured
    assert cluster.leaks == 0, cluster.observable[max(0, cluster.observable.find(CANARY) - 500):][:1000]


@pytest.mark.slow
def test_no_cloud_write_outside_the_cases_own_resource_groups(cluster: ClusterRun) -> None:
    assert cluster.unattributed_writes == []


@pytest.mark.slow
def test_no_hostile_input_makes_a_reconciler_raise(cluster: ClusterRun) -> None:
    assert cluster.reconcile_errors == []


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_cluster_refuses_with_the_field_and_no_write_or_accepts_harmlessly(case, cluster: ClusterRun) -> None:
    verdict = cluster.verdicts[case.id]
    assert verdict.ok, (f"{case.id}: expected {case.cluster} naming {case.path!r}; API said {verdict.refused_by_api!r}, "
                        f"Ready={verdict.condition}, writes={verdict.arm_writes + verdict.databricks_writes}")
