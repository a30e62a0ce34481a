"""Run every benchmark in bench/ one after the other, each with `--quick` (or the flags given).

    python bench/run_all.py            # --quick: small sizes and the matrices' samples, a few minutes in all
    python bench/run_all.py --full     # the sizes bench/README.md's figures come from, every crash point of
                                       # the crash matrix (hours on a busy 2-core machine)

Exit status: the number of benchmarks that failed (0 = all completed).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("steady_state_calls.py", "ip_change_rollout.py", "dataplane.py", "memory.py", "hostile_inputs.py",
              "ha_handover.py", "drift_matrix.py", "fault_matrix.py", "crash_matrix.py",
              "time_to_ready.py", "scale.py")


def main(argv: list[str]) -> int:
    flags = [] if "--full" in argv else ["--quick"]
    failed = 0
    for name in BENCHMARKS:
        print(f"=== {name} {' '.join(flags)}", flush=True)
        started = time.perf_counter()
        rc = subprocess.run([sys.executable, str(HERE / name), *flags], check=False).returncode
        print(f"=== {name}: exit {rc} in {time.perf_counter() - started:.1f} s\n", flush=True)
        failed += rc != 0
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
