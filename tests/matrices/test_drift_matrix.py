"""The drift matrix (`tests.matrices.drift`), every case: each managed resource type deleted and modified out
of band through the sandbox's admin operations, repaired in the first pass with an Event (then Ready again,
the cloud as it was), reported in a condition where repair would be unsafe, or refused by Azure itself.

One test runs the whole table on as few sandboxes as it can (a case that leaves its world unready hands the
next one a fresh world); each case's verdict is in the failure message. `python bench/drift_matrix.py`
prints the same table and the ratio lines.
"""

from __future__ import annotations

import pytest

from .drift import CASES, DriftVerdict, run_matrix

pytestmark = pytest.mark.slow


def describe(verdict: DriftVerdict) -> str:
    problems = "; ".join(verdict.problems)
    return f"{verdict.case.id}: expected {verdict.case.expect}, got {verdict.outcome}: {problems}"


def test_every_out_of_band_delete_and_modification_is_repaired_in_one_pass_or_reported_or_refused() -> None:
    verdicts = run_matrix()
    assert [v.case.id for v in verdicts] == [c.id for c in CASES]
    assert [describe(v) for v in verdicts if not v.ok] == []
    # The table covers every managed resource type, each deleted and modified where Azure allows it.
    assert {(c.resource, c.change) for c in CASES} >= {
        (resource, change) for resource in ("endpoint", "DNS zone", "record set", "VNet link", "NSG rule",
                                            "load balancer", "private link service", "application gateway",
                                            "NCC rule", "workspace binding") for change in ("delete", "modify")
    } | {("NIC IP", "modify"), ("scale set", "delete"), ("scale set model", "modify")}
