"""Apache Kafka through the whole Databricks Serverless client path, and what the operator's changes cost it.

    python bench/dataplane.py [--quick]

Needs root, `ip`, `unshare`, haproxy, nft, dnsmasq, Java 17 with the Apache Kafka jars (scripts/dev
bootstrap) and confluent-kafka; otherwise it prints `skipped: <reason>` and exits 0.

Set-up (`transit_sandbox`, the pieces tests/dataplane uses): 3 Kafka brokers (KRaft, TLS, one per zone)
behind per-zone private endpoints with Confluent's SNI proxy (`confluent_zones`); 2 VMSS instances
(`NetnsExecutor`) running the operator's haproxy.cfg, applied with the operator's apply script; the
serverless path (`client_path`): a client whose resolver answers the NCC rule's domain names (the
operator's `rule_domain_names`) with the NCC endpoint IP, Private Link + Standard LB (the operator's
planned LB body: probe interval, threshold) in front of the instances. The *direct* client sits in the
customer VNet and resolves through the private DNS zone records the operator plans (`build_dns_records`):
straight to the zones' private endpoints. Every producer is idempotent with acks=all; every run is read
back by a consumer that checks each partition holds every message once and in order.

- throughput: N messages as fast as the producer goes, direct vs proxied, alternating, R rounds; the
  ratio is the median of the per-round ratios; latency p50 of one message at a time
- endpoint IP change: a producer at a fixed rate through the serverless path while a zone's endpoint
  moves K times (new address added, the config applied on every instance, the old address removed);
  the stall is the producer's longest time without a delivery report
- instance loss: the same producer while one instance's HAProxy is killed, then (a new run) while one
  instance's namespace disappears; the LB probe takes it out
- lost or duplicated: over every run, (lost + duplicated) / sent

Every namespace is removed at the end, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from _bodies import div, ratio, table
from transit_operator.api.v1alpha1 import ConfluentPrivateLink, ServerlessTransit
from transit_operator.plan.confluent import build_dns_records, owner_of_object
from transit_operator.plan.haproxy_config import (
    ZoneBackend,
    parse_apply_result,
    render_apply_script,
    render_haproxy_config,
)
from transit_operator.plan.haproxy_transit import build_load_balancer
from transit_operator.plan.ncc import rule_domain_names
from transit_sandbox import kafka_client
from transit_sandbox.client_path import (
    LoadBalancerSpec,
    Resolver,
    ServerlessPath,
    client_path_unavailable_reason,
    ncc_records,
    private_zone_records,
)
from transit_sandbox.confluent_zones import ConfluentZones, kafka_unavailable_reason
from transit_sandbox.dataplane import (
    NetnsExecutor,
    VNet,
    dataplane_unavailable_reason,
    iter_prefixed_namespaces,
    remove_stale_namespaces,
)
from transit_sandbox.executor import apply_parameters

DOMAIN = "n1bench.westeurope.azure.confluent.cloud"
SUBNET = "10.214.0.0/24"  # only ever exists inside the namespaces
ENDPOINTS = {"az1": "10.214.0.201", "az2": "10.214.0.202", "az3": "10.214.0.203"}
VMSS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/bench"
INSTANCES = ("0", "1")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples/01-three-zone-haproxy/transit.yaml"


def unavailable() -> str | None:
    return dataplane_unavailable_reason() or client_path_unavailable_reason() or kafka_unavailable_reason()


def example_models(zones: ConfluentZones) -> tuple[ConfluentPrivateLink, ServerlessTransit]:
    """examples/01's objects, pointed at this sandbox's Confluent network and endpoint IPs."""
    docs = {d["kind"]: d for d in yaml.safe_load_all(EXAMPLE.read_text())}
    cpl = docs["ConfluentPrivateLink"]
    cpl["spec"]["confluent"].update(dnsDomain=DOMAIN, bootstrapServer=zones.bootstrap())
    cpl["status"] = {"zones": [{"name": z, "privateIp": ip, "connectionState": "Approved"}
                               for z, ip in zones.endpoint_ips().items()]}  # fmt: skip
    return ConfluentPrivateLink.model_validate(cpl), ServerlessTransit.model_validate(docs["ServerlessTransit"])


class Bench:
    def __init__(self, vnet: VNet, zones: ConfluentZones, executor: NetnsExecutor, work: Path) -> None:
        self.vnet, self.zones, self.executor, self.work = vnet, zones, executor, work
        self.cpl, self.sxt = example_models(zones)
        lb_body = build_load_balancer(self.sxt.spec, owner=owner_of_object(self.sxt, uid="bench")).body
        self.lb = LoadBalancerSpec.from_body(lb_body)
        for instance in INSTANCES:
            executor.instance_created(VMSS, instance, None)
            self.apply(instance)
        self.path = ServerlessPath(vnet, self.lb)
        self.path.set_backends(self.addresses())
        names = rule_domain_names(self.cpl.spec.confluent, self.sxt.spec.databricks)
        self.serverless = self.path.add_client(ncc_records(names, self.path.endpoint_ip))
        self.path.wait_in_rotation(self.addresses(), timeout=15)
        self.direct = vnet.add_member("direct")
        self.direct_dns = Resolver(vnet, self.direct, work)
        self.update_direct_dns()
        self.checks: list[dict[str, Any]] = []
        self.details: set[str] = set()  # what the apply script did on IP changes

    def addresses(self) -> list[str]:
        return [self.executor.address(VMSS, i) for i in INSTANCES]

    def config(self) -> str:
        return render_haproxy_config(
            domain=DOMAIN,
            bootstrap_host=self.zones.bootstrap_host,
            zones=[ZoneBackend(z, ip) for z, ip in sorted(self.zones.endpoint_ips().items())],
            ports=[9092],
        )

    def apply(self, instance: str) -> str:
        _, out, err = self.executor.run_command(VMSS, instance, render_apply_script(), apply_parameters(self.config()))
        result = parse_apply_result(f"[stdout]\n{out}\n[stderr]\n{err}"[-4096:])  # action run-command's 4 KB
        if not result.ok:
            raise SystemExit(f"apply on instance {instance}: {result}")
        return result.detail

    def update_direct_dns(self) -> None:
        owner = owner_of_object(self.cpl, uid="bench")
        sets = [{"name": r.id.rsplit("/", 1)[-1], "properties": r.body["properties"]}
                for r in build_dns_records(self.cpl.spec, self.zones.endpoint_ips(), owner=owner)]  # fmt: skip
        self.direct_dns.update(private_zone_records(DOMAIN, sets))

    def kafka(self, ns: str, mode: str, *args: object, topic: str | None = None) -> dict[str, Any]:
        argv = kafka_client.argv(mode, self.zones.bootstrap(), str(self.zones.ca_file),
                                 topic or f"bench-{uuid.uuid4().hex[:8]}", *args)  # fmt: skip
        proc = self.vnet.exec(ns, argv, timeout=600)
        if proc.returncode != 0:
            probe = [e for e in self.path.probe_events() if e.get("event") != "pool"][-6:]
            raise SystemExit(f"kafka {mode} failed: {proc.stdout[-1000:]}{proc.stderr[-1500:]}\nLB probe: {probe}")
        return dict(json.loads(proc.stdout.splitlines()[-1]))

    def under_load(self, seconds: float, rate: int, events: list[tuple[float, Callable[[], object]]],
                   client: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        """A producer through the serverless path (librdkafka defaults, or `client` on top); `events` run at
        their offsets (s) after it starts. The topic is then read back and checked (kept in `checks`)."""
        topic = f"load-{uuid.uuid4().hex[:8]}"
        log = self.work / f"{topic}.log"
        argv = kafka_client.argv("produce", self.zones.bootstrap(), str(self.zones.ca_file), topic, seconds, rate)
        env = {**os.environ, "TRANSIT_KAFKA_CONFIG": json.dumps(client or {})}
        producer = self.vnet.popen(self.serverless, argv, log=log, env=env)
        try:
            deadline = time.monotonic() + 60
            while '"producing"' not in (log.read_text() if log.exists() else ""):
                if time.monotonic() > deadline or producer.poll() is not None:
                    raise SystemExit(f"the producer did not start: {log.read_text()[-2000:]}")
                time.sleep(0.05)
            start = next(json.loads(line) for line in log.read_text().splitlines() if '"producing"' in line)["at"]
            for offset, action in events:
                time.sleep(max(0.0, start + offset - time.monotonic()))
                action()
            producer.wait(400)
        finally:
            if producer.poll() is None:
                producer.kill()
        produced = json.loads(log.read_text().splitlines()[-1])
        consumed = self.kafka(self.serverless, "consume", produced["sent"], topic=topic)
        self.checks.append({"sent": produced["sent"], **consumed})
        return {**produced, **{k: consumed[k] for k in ("lost", "duplicated", "out_of_order")}}

    def lose_busiest(self, how: str) -> str:
        """Lose the instance that carries most of the client's flows now: its HAProxy is killed, or its
        whole namespace disappears (the VM is gone; its NIC stays in the pool until the probe says so)."""
        flows = [f for f in self.path.flows() if "dport=9092" in f and "ESTABLISHED" in f]
        by_instance = {i: sum(f"src={self.executor.address(VMSS, i)} " in f for f in flows) for i in INSTANCES}
        instance = max(by_instance, key=lambda i: by_instance[i])
        if how == "haproxy":
            kill_haproxy(self.executor, instance)
        else:
            self.vnet.remove_member(self.executor.namespace(VMSS, instance))
        return instance

    def replace_instance(self, instance: str) -> None:
        self.executor.instance_deleted(VMSS, instance)
        self.executor.instance_created(VMSS, instance, None)
        self.apply(instance)
        self.path.set_backends(self.addresses())
        self.path.wait_in_rotation(self.addresses(), timeout=30)

    def change_endpoint_ip(self, zone: str, concurrency: int) -> None:
        """Azure re-creates the zone's endpoint with a new IP; the operator applies on every instance,
        `concurrency` at a time (`runCommandConcurrency`); the old address goes away."""
        old = self.zones.change_endpoint_ip(zone, self.vnet.allocate(), keep_old=True)
        with ThreadPoolExecutor(concurrency) as pool:
            details = set(pool.map(self.apply, INSTANCES))
        self.update_direct_dns()
        self.zones.remove_address(zone, old)
        self.details |= details


def kill_haproxy(executor: NetnsExecutor, instance: str) -> None:
    """SIGKILL the instance's HAProxy master and workers (by pid: nothing else on the machine)."""
    master = executor.haproxy_master_pid(VMSS, instance)
    if master is None:
        raise SystemExit(f"no HAProxy on instance {instance}")
    workers = executor.exec(VMSS, instance, ["pgrep", "-P", str(master)])[1].split()
    for pid in [master, *(int(w) for w in workers)]:
        os.kill(pid, signal.SIGKILL)


def run(args: argparse.Namespace, bench: Bench) -> int:
    quick = args.quick
    count, size, rounds, samples = (20000, 512, 2, 100) if quick else (100000, 512, 9, 500)
    load_s, rate, changes = (8.0, 300, 2) if quick else (20.0, 500, 5)
    loss_s = 8.0 if quick else 15.0

    for ns in (bench.direct, bench.serverless):  # warm-up: the brokers' JIT, connections, topic metadata
        bench.kafka(ns, "throughput", count // 2, size)
    rows: list[tuple[object, ...]] = []
    tput, lat = [], []
    for r in range(rounds):
        got: dict[str, dict[str, Any]] = {}
        for path in ("direct", "proxied") if r % 2 == 0 else ("proxied", "direct"):
            ns = bench.direct if path == "direct" else bench.serverless
            got[path] = bench.kafka(ns, "throughput", count, size)
            got[path + "-lat"] = bench.kafka(ns, "latency", samples)
        for path in ("direct", "proxied"):
            t, lt = got[path], got[path + "-lat"]
            rows.append((r + 1, path, t["msgs_per_s"], t["mb_per_s"], t["failed"], lt["p50_ms"], lt["p90_ms"]))
        tput.append(div(got["proxied"]["msgs_per_s"], got["direct"]["msgs_per_s"]))
        lat.append(got["proxied-lat"]["p50_ms"] - got["direct-lat"]["p50_ms"])
    print(f"broker: Apache Kafka {bench.zones.version} (KRaft, {len(bench.zones.brokers)} brokers, TLS)\n")
    print(f"throughput: {count} x {size} B per run, idempotent, acks=all; direct = customer-VNet client to the "
          f"private endpoints, proxied = serverless client via NCC endpoint, LB, HAProxy; latency: {samples} "
          "messages one at a time\n")  # fmt: skip
    table(("round", "path", "msgs/s", "MB/s", "failed", "p50 ms", "p90 ms"), rows)

    control = bench.under_load(load_s, rate, [])  # the same producer with nothing happening: the noise floor
    gap = (load_s - 4) / changes
    ip = bench.under_load(load_s, rate, [(2 + i * gap, lambda: bench.change_endpoint_ip("az2", 1)) for i in range(changes)])
    ip_all = bench.under_load(
        load_s, rate, [(2 + i * gap, lambda: bench.change_endpoint_ip("az2", len(INSTANCES))) for i in range(changes)]
    )

    lost: list[str] = []
    kill = bench.under_load(loss_s, rate, [(3, lambda: lost.append(bench.lose_busiest("haproxy")))])
    down_kill = [e for e in bench.path.probe_events() if e.get("event") == "down"]
    bench.replace_instance(lost[-1])  # a new VM in its place
    gone = bench.under_load(loss_s, rate, [(3, lambda: lost.append(bench.lose_busiest("namespace")))])

    print(f"\nunder load: {rate} msg/s through the serverless path; probe every {bench.lb.probe_interval_s:g} s, "
          f"threshold {bench.lb.probe_threshold} (the planned LB body)")  # fmt: skip
    runs = [
        ("control: no change", control, "the machine's own noise"),
        (f"endpoint IP change x{changes}, 1 instance at a time", ip, "apply: " + ",".join(sorted(bench.details))),
        (f"endpoint IP change x{changes}, all instances at once", ip_all, "clients may reconnect twice"),
        (f"HAProxy killed on instance {lost[0]}", kill, f"probe down events: {len(down_kill)}"),
        (f"instance {lost[1]} gone", gone, "its flows wait for the client's request timeout"),
    ]
    table(
        ("run", "sent", "failed", "max wait s", "max gap s", "lost", "duplicated", "out of order", "note"),
        [(name, r["sent"], r["failed"], r["max_wait_s"], r["max_stall_s"], r["lost"], r["duplicated"],
          r["out_of_order"], note) for name, r, note in runs],
    )  # fmt: skip
    print("max wait: the longest any message waited for its delivery report; max gap: the longest time "
          "without any delivery report")
    bound = bench.lb.probe_interval_s * bench.lb.probe_threshold + 1
    sent = sum(c["sent"] for c in bench.checks)
    bad = sum(c["lost"] + c["duplicated"] for c in bench.checks)
    print()
    ratio("throughput proxied/direct", statistics.median(tput), "per-round: " + ", ".join(f"{x:.3g}" for x in tput))
    ratio("added latency p50 ms (proxied - direct)", statistics.median(lat))
    ratio("max stall s on endpoint IP change", ip["max_wait_s"],
          f"{changes} changes applied one instance at a time, old address removed each time; "
          f"{control['max_wait_s']:.3g} s with no change")  # fmt: skip
    ratio("max stall s on endpoint IP change, all instances at once", ip_all["max_wait_s"])
    ratio("failed deliveries per IP change", (ip["failed"] + ip_all["failed"]) / (2 * changes),
          f"{ip['failed'] + ip_all['failed']} failed of {ip['sent'] + ip_all['sent']} sent")  # fmt: skip
    ratio("max stall s on instance loss", max(kill["max_wait_s"], gone["max_wait_s"]),
          f"librdkafka defaults: HAProxy killed {kill['max_wait_s']:.3g} s, instance gone {gone['max_wait_s']:.3g} s; "
          f"probe interval x threshold + 1 = {bound:g} s")  # fmt: skip
    ratio("lost or duplicated messages", div(bad, sent), f"{bad} of {sent} sent, {len(bench.checks)} runs read back")
    return 0


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
    parts: list[Any] = []
    try:
        zones = ConfluentZones(vnet, domain=DOMAIN, endpoint_ips=ENDPOINTS)
        parts.append(zones)
        executor = NetnsExecutor(vnet)
        parts.append(executor)
        with tempfile.TemporaryDirectory(prefix=f"{vnet.prefix}-bench-") as work:
            bench = Bench(vnet, zones, executor, Path(work))
            parts.append(bench.path)
            try:
                return run(args, bench)
            finally:
                bench.direct_dns.stop()
    finally:
        for part in reversed(parts):
            part.close()
        vnet.close()
        left = list(iter_prefixed_namespaces(vnet.prefix + "-"))
        if left:
            print(f"error: namespaces left behind: {left}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
