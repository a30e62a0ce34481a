"""One operator process with hundreds of objects: time to Ready, memory, CPU, and the subscription's budgets.

    python bench/scale.py [--quick] [--sizes 100,500] [--time-scale F]

Per size N: a fresh sandbox cloud (fast timing), an embedded Kubernetes API and ONE `transit-operator run
--time-scale F` process (default F = 0.2); N ConfluentPrivateLinks and N haproxy ServerlessTransits (examples/02-single-zone-
haproxy, renamed per pair; 50 pairs per VNet, each transit with its own NCC and workspace) are applied at once.
Measured:

- the time until every object is Ready (wall seconds: the fast cloud's operations take 50 ms; this is the
  operator's own throughput, not Azure's);
- the operator's RSS (`/proc/<pid>/status`): peak (VmHWM, cold start included) and steady (after a steady
  window), and its CPU time over the steady window, as CPU seconds per steady-state minute at full speed:
  the window spans `window / F` seconds of cloud time, in which every object's drift check runs as often as
  in that much real time (`driftCheckIntervalSeconds` 300 s x F);
- from the emulators' request logs over the steady window: ARM GETs, Private DNS GETs and ARM writes per 5
  minutes per subscription, and Databricks calls per minute, at the default drift interval (every figure
  divided by the cloud time the window spans), against the limits of docs/platform-rules.md#read-budget
  (Microsoft.Network 10,000 GETs and 1,000 writes per 5 minutes, Azure Private DNS 500 GETs per 5 minutes,
  per subscription: MicrosoftDocs azure-resource-manager/management/request-limits-and-throttling.md);
- how many objects (ConfluentPrivateLinks + ServerlessTransits, in pairs) one subscription holds within all
  three limits at the default drift interval, and which limit binds.
- whether the operator kept up: drift checks made over the checks due in the window (each
  ConfluentPrivateLink's check reads Private DNS exactly once); below 1.0 the rates above undercount what
  the objects would cost at that interval.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from _bodies import div, ratio, table
from transit_operator.api.crd import render_crds_yaml
from transit_operator.runtime.sandbox import load_documents, prepare_customer_side
from transit_sandbox.executor import ConfigExecutor
from transit_sandbox.kube import start_server
from transit_sandbox.operators import OperatorProcess
from transit_sandbox.server import SandboxCloud

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "02-single-zone-haproxy" / "transit.yaml"
KINDS = ("ConfluentPrivateLink", "ServerlessTransit")
PAIRS_PER_VNET = 50
DRIFT = 300.0  # spec.driftCheckIntervalSeconds default (s)
ARM_GETS, ARM_WRITES, DNS_GETS = 10_000, 1_000, 500  # per 5 minutes per subscription (docs/platform-rules.md#read-budget)
WRITES = ("PUT", "PATCH", "POST", "DELETE")


def documents_for(pairs: int) -> list[dict[str, Any]]:
    """`pairs` copies of the single-zone example, each pair with its own names, DNS domain, NCC, workspace."""
    template = load_documents([EXAMPLE])
    out = []
    for i in range(pairs):
        vnet = f"vnet-scale-{i // PAIRS_PER_VNET}"
        for doc in copy.deepcopy(template):
            doc.pop("status", None)
            meta = doc["metadata"]
            meta["namespace"] = "scale"
            text = yaml.safe_dump(doc)
            text = (text.replace("vnet-hub-weu", vnet).replace("n-dev42", f"n-s{i:04d}")
                    .replace("confluent-dev", f"confluent-{i:04d}").replace("transit-dev", f"transit-{i:04d}")
                    .replace("ncc-westeurope-confluent", f"ncc-scale-{i:04d}")
                    .replace("2345678901234567", str(2345678901230000 + i)))
            out.append(yaml.safe_load(text))
    return out


def _proc(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM in KiB, and CPU ticks (utime + stime) of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    values = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines()
              if line.startswith(("VmRSS", "VmHWM"))}
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    values["ticks"] = int(fields[11]) + int(fields[12])
    return values


def _ready_count(cluster: Any) -> int:
    count = 0
    for kind in KINDS:
        for obj in cluster.list_objects("transit.privatelink.io/v1alpha1", kind, "scale"):
            conditions = (obj.get("status") or {}).get("conditions") or []
            count += any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return count


def run_size(pairs: int, scale: float, window: float, logs: Path) -> dict[str, Any]:
    documents = documents_for(pairs)
    kube = start_server("embedded")
    try:
        with SandboxCloud(executor=ConfigExecutor()) as cloud:
            cluster = kube.client()
            cluster.install_crds(list(yaml.safe_load_all(render_crds_yaml())))
            secret = load_documents(sorted((EXAMPLE.parents[1] / "00-databricks-credentials-secret").glob("*.yaml")))
            for doc in secret:
                doc["metadata"]["namespace"] = "scale"
            documents = prepare_customer_side(cloud, cluster, [*secret, *documents])
            kubeconfig = kube.write_kubeconfig(logs / f"scale-{pairs}.kubeconfig")
            with OperatorProcess([f"--kubeconfig={kubeconfig}", "--no-peering", "--namespace=scale",
                                  "--log-level=warning"], cloud=cloud, log=logs / f"scale-{pairs}.log",
                                 time_scale=scale) as operator:
                operator.wait_healthy(120)
                assert operator.process is not None
                pid = operator.process.pid
                started = time.monotonic()
                for doc in documents:
                    cluster.apply(doc)
                applied = time.monotonic() - started
                deadline = started + 900 + pairs * 6
                while _ready_count(cluster) < 2 * pairs:
                    if time.monotonic() > deadline or not operator.running:
                        raise TimeoutError(f"{_ready_count(cluster)} of {2 * pairs} Ready:\n{operator.log()[-3000:]}")
                    # a list of every object costs the embedded API server a copy of each: poll less often
                    # when there are many (5 s at 1,000 objects)
                    time.sleep(max(1.0, pairs / 100))
                ready_s = time.monotonic() - started
                # Settle: the passes Ready triggered are done; then the steady window.
                time.sleep(DRIFT * scale)
                cloud.admin.clear_requests()
                cloud.databricks.clear_request_log()
                before, t0 = _proc(pid), time.monotonic()
                time.sleep(window)
                after, elapsed = _proc(pid), time.monotonic() - t0
                arm = cloud.admin.requests()
                dbx = cloud.databricks.requests()
                if not operator.running:
                    raise RuntimeError(f"the operator exited:\n{operator.log()[-3000:]}")
    finally:
        kube.stop()
    cloud_seconds = elapsed / scale  # the cloud time the window spans, as the operator's waits see it
    per_5min = 300.0 / cloud_seconds
    gets = sum(1 for r in arm if r.method == "GET")
    dns = sum(1 for r in arm if r.method == "GET" and "/providers/microsoft.network/privatednszones" in r.path.lower())
    writes = sum(1 for r in arm if r.method in WRITES)
    cpu = (after["ticks"] - before["ticks"]) / os.sysconf("SC_CLK_TCK")
    return {
        "pairs": pairs, "objects": 2 * pairs, "apply_s": applied, "ready_s": ready_s,
        "rss_peak_mb": after["VmHWM"] / 1024, "rss_steady_mb": after["VmRSS"] / 1024,
        "cpu_per_min": cpu / (cloud_seconds / 60.0),
        "arm_gets_5min": gets * per_5min, "dns_gets_5min": dns * per_5min, "arm_writes_5min": writes * per_5min,
        "dbx_per_min": len(dbx) * 60.0 / cloud_seconds,
        # every ConfluentPrivateLink's drift check reads Private DNS once: checks made / checks due in the
        # window (1.0: the operator kept up with the drift interval; below: the rates above undercount)
        "checks_done": dns / (pairs * cloud_seconds / DRIFT),
    }


def budget(result: dict[str, Any]) -> tuple[float, str]:
    """Objects per subscription within every limit at the default drift interval, and the binding limit."""
    pairs = result["pairs"]
    limits = []
    for name, used, limit in (("Microsoft.Network GETs (10,000 per 5 min)", result["arm_gets_5min"] - result["dns_gets_5min"], ARM_GETS),
                              ("Private DNS GETs (500 per 5 min)", result["dns_gets_5min"], DNS_GETS),
                              ("ARM writes (1,000 per 5 min)", result["arm_writes_5min"], ARM_WRITES)):
        per_pair = used / pairs
        limits.append((2 * limit / per_pair if per_pair > 0 else float("inf"), name))
    return min(limits)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 pairs at time scale 0.1, one drift interval (a smoke run)")
    parser.add_argument("--sizes", default=None, help="pairs per run, comma-separated (default 100,500)")
    parser.add_argument("--time-scale", type=float, default=None, metavar="F",
                        help="the operator's waits times F (drift checks every 300 s x F); default 0.2: much "
                             "smaller asks for passes faster than one process can make them at a few hundred "
                             "objects (a 1 s requeue becomes 50 ms at 0.05), which is no steady state")
    parser.add_argument("--window", type=float, default=None, help="steady window, wall seconds (default 2 drift intervals)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in (args.sizes or ("10" if args.quick else "100,500")).split(",")]
    scale = args.time_scale or (0.1 if args.quick else 0.2)
    window = args.window or (1 if args.quick else 2) * DRIFT * scale
    results = []
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        for pairs in sizes:
            result = run_size(pairs, scale, window, Path(tmp))
            results.append(result)
            print(f"{2 * pairs} objects: Ready after {result['ready_s']:.1f} s", flush=True)
    print()
    table(["objects", "Ready s", "RSS peak MB", "RSS steady MB", "CPU s/min", "ARM GET/5min", "DNS GET/5min",
           "ARM write/5min", "Databricks/min", "drift checks done/due"],
          [[r["objects"], round(r["ready_s"], 1), round(r["rss_peak_mb"], 1), round(r["rss_steady_mb"], 1),
            round(r["cpu_per_min"], 2), round(r["arm_gets_5min"]), round(r["dns_gets_5min"]),
            round(r["arm_writes_5min"]), round(r["dbx_per_min"], 1), round(r["checks_done"], 2)] for r in results])
    print(f"\nsteady state at the default drift interval ({DRIFT:g} s), measured at time scale {scale:g} over "
          f"{window:g} s of wall time; limits per subscription (docs/platform-rules.md#read-budget)")
    for result in results:
        ratio(f"RSS MB at {result['objects']} objects", round(result["rss_peak_mb"], 1),
              f"peak; steady {result['rss_steady_mb']:.1f}; target < 250 at 200")
    fits, name = budget(results[-1])
    ratio("objects per subscription within ARM limits at default drift", round(fits), f"limited by {name}; target >= 1000")
    ratio(f"Ready s per object at {results[-1]['objects']} objects", div(results[-1]["ready_s"], results[-1]["objects"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
