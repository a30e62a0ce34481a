"""The benchmarks in bench/ still run: each with `--quick` completes and prints its `ratio ...` lines.

No timing is asserted (these machines are noisy: speed and memory targets are read off the benchmarks'
own same-run ratios, see bench/README.md). The data-plane benchmark may print `skipped: <reason>` instead
when the machine has no root, network namespaces, haproxy, nft, dnsmasq or Java with the Kafka jars, and the
hand-over benchmark when kube-apiserver and etcd are not built.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
RATIO = re.compile(r"^ratio [^:]+: (n/a|inf|[-0-9.e+]+)", re.M)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "ratios", "may_skip"),
    [
        pytest.param("steady_state_calls.py", 5, False, id="steady_state_calls"),
        pytest.param("ip_change_rollout.py", 4, False, id="ip_change_rollout"),
        pytest.param("dataplane.py", 6, True, id="dataplane"),
        pytest.param("memory.py", 4, False, id="memory"),
        pytest.param("hostile_inputs.py", 4, False, id="hostile_inputs"),
        pytest.param("ha_handover.py", 2, True, id="ha_handover"),
        # The matrices' samples run in tests/matrices; here one case each, through the script.
        pytest.param("drift_matrix.py --only NSG-rule-modify", 3, False, id="drift_matrix"),
        pytest.param("fault_matrix.py --only Kubernetes-watch-410", 2, False, id="fault_matrix"),
        pytest.param("crash_matrix.py --only haproxy-create-kubernetes-1-after", 1, False, id="crash_matrix"),
        pytest.param("time_to_ready.py", 3, False, id="time_to_ready"),
        pytest.param("scale.py", 3, False, id="scale"),
    ],
)
def test_benchmark_completes_with_its_ratio_lines(script: str, ratios: int, may_skip: bool) -> None:
    name, *flags = script.split()
    proc = subprocess.run(
        [sys.executable, str(BENCH / name), "--quick", *flags],
        capture_output=True,
        text=True,
        timeout=480,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    if may_skip and proc.stdout.startswith("skipped: "):
        return
    found = RATIO.findall(proc.stdout)
    assert len(found) >= ratios, proc.stdout[-3000:]
