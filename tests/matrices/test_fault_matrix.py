"""A sample of the fault matrix (`tests.matrices.fault`): one fault of each family injected into a cold start
or a delete - ARM and Databricks throttling with Retry-After (also sustained past the SDKs' own retries),
5xx, a connection reset mid-answer with the write applied, an LRO that ends Canceled, Kubernetes 409 on a
status patch and a watch ending 410 Expired - and the operator converges with nothing duplicated, leaked or
created twice, never coming back sooner than a server's Retry-After.

Every case: `python bench/fault_matrix.py`.
"""

from __future__ import annotations

import pytest

from .fault import CASES, FaultCase, run_matrix

pytestmark = pytest.mark.slow

SAMPLE_IDS = [
    "haproxy-create-ARM-read-429-Retry-After-sustained-x6",
    "haproxy-create-ARM-write-endpoint-reset-x1",
    "haproxy-create-ARM-LRO-Canceled-x1",
    "haproxy-create-Databricks-write-NCC-reset-x1",
    "haproxy-create-Databricks-write-503-Retry-After-x1",
    "haproxy-create-Kubernetes-status-patch-409-x1",
    "haproxy-create-Kubernetes-watch-410-Expired-x1",
    "haproxy-delete-ARM-write-429-Retry-After-x1",
]
SAMPLE: list[FaultCase] = [next(c for c in CASES if c.id == i) for i in SAMPLE_IDS]


def test_the_sample_names_cases_of_the_matrix() -> None:
    assert len({c.id for c in SAMPLE}) == len(SAMPLE_IDS)
    assert len({c.id for c in CASES}) == len(CASES), "case ids are unique"


def test_each_fault_is_hit_and_the_operator_converges_honouring_retry_after() -> None:
    verdicts = run_matrix(SAMPLE)
    assert [v.case.id for v in verdicts if not v.exercised] == []
    assert {v.case.id: v.problems for v in verdicts if v.problems} == {}
    hinted = [w for v in verdicts for w in v.waits]
    assert hinted and min(hinted) >= 2.0
