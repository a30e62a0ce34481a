"""Apache Kafka through the whole Databricks Serverless client path, and what the operator's changes cost it.

    python bench/dataplane.py [--quick]

Needs root, `ip`, `unshare`, haproxy, nft, dnsmasq, Java 17 with the Apache Kafka jars (scripts/dev
bootstrap) and confluent-kafka; otherwise it prints `skipped: <reason>` and exits 0.

Set-up: what `transit-operator sandbox --dataplane` builds, with the operator running throughout
(`_operated.OperatedSandbox`): examples/01 (3 zones, a haproxy transit of 3 VMSS instances, the default
`runCommandConcurrency` 5) applied and reconciled to Ready against the sandbox cloud, whose VMSS instances
are network namespaces running real HAProxy (`NetnsExecutor`); then, from what the operator wrote into
the cloud (`transit_sandbox.data_path`): 3 Apache Kafka brokers (KRaft, TLS, one per zone) behind the
zones' private endpoints with Confluent's SNI proxy, and a serverless client whose resolver answers the
NCC rule's domain names with the NCC endpoint IP, in front of Private Link + Standard LB (the operator's
LB body: rules, probe, interval, threshold). The *direct* client sits in the customer VNet and resolves
through the private DNS zone the operator wrote: straight to the zones' private endpoints. Every producer
is idempotent with acks=all; every run under load is read back by a consumer that checks each partition
holds every message once and in order.

- throughput: N messages as fast as the producer goes, direct and proxied interleaved (ABBA), R rounds
  (20: one round's ratio swings by +-0.2 on 2 shared cores, so 10 rounds left the median +-0.07);
  the ratio is the median of the per-round ratios (the spread is printed); CPU is accounted per part of
  the path for every run (client, transit HAProxy, endpoint SNI proxies, brokers, kernel softirq, and
  what the rest of the machine used meanwhile); latency p50 of one message at a time
- endpoint IP change, the operator's rollout: a producer at a fixed rate through the serverless path
  while a zone's endpoint moves K times, out of band as Azure would do it (the endpoint's NIC gets a new
  IP in the ARM emulator; the endpoint namespace answers on both addresses); the operator sees it at its
  next drift check, re-renders haproxy.cfg and rolls it out with managed run commands (its default:
  every instance at once); once every instance runs the new config, the old address disappears. Then
  the same K changes again after `runCommandConcurrency: 1` (a spec patch): one instance at a time. The
  stall is the longest any message waited for its delivery report
- instance loss: the same producer while the HAProxy of the instance carrying most flows is killed, and
  (a new run) while that instance's namespace disappears (the VM is gone; Standard LB keeps established
  flows on it), once with librdkafka's defaults and once with the client settings docs/options.md gives
- lost or duplicated: over every run under load, (lost + duplicated) / sent

Every namespace is removed at the end, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from _bodies import div, ratio, table
from _operated import OperatedSandbox, ready
from transit_operator.plan.haproxy_config import parse_apply_result, render_apply_script
from transit_operator.runtime.sandbox import accounts_of, kafka_clusters_of, load_documents, status_names_of
from transit_sandbox import kafka_client
from transit_sandbox.client_path import client_path_unavailable_reason
from transit_sandbox.confluent_zones import kafka_unavailable_reason
from transit_sandbox.data_path import SANDBOX_VNET, CloudApi, SandboxDataPath, Transit
from transit_sandbox.dataplane import (
    NetnsExecutor,
    VNet,
    dataplane_unavailable_reason,
    iter_prefixed_namespaces,
    remove_stale_namespaces,
)
from transit_sandbox.executor import apply_parameters

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = [ROOT / "examples/00-databricks-credentials-secret/secret.yaml",
           ROOT / "examples/01-three-zone-haproxy/transit.yaml"]  # fmt: skip
BOUNDED_CLIENT = kafka_client.LOST_INSTANCE_SETTINGS  # what docs/options.md tells users to set


def unavailable() -> str | None:
    return dataplane_unavailable_reason() or client_path_unavailable_reason() or kafka_unavailable_reason()


def _documents() -> list[dict[str, Any]]:
    documents = load_documents(EXAMPLE)
    for doc in documents:
        doc.pop("status", None)
    return documents


class World:
    """The operated sandbox and the data path built from it (see the module docstring)."""

    def __init__(self, vnet: VNet, executor: NetnsExecutor, op: OperatedSandbox, work: Path) -> None:
        self.vnet, self.executor, self.op, self.work = vnet, executor, op, work
        documents = op.documents
        self.cpl = next(d for d in documents if d["kind"] == "ConfluentPrivateLink")
        self.sxt = next(d for d in documents if d["kind"] == "ServerlessTransit")
        cloud = op.cloud
        api = CloudApi(cloud.arm_url, cloud.databricks_url, cloud.ca_bundle, cloud.token,
                       [cloud.subscription_id, self.cpl["spec"]["azure"]["subscriptionId"]])  # fmt: skip
        self.data = SandboxDataPath(api, executor, account_ids=accounts_of(documents),
                                    clusters=kafka_clusters_of(documents),
                                    status_names=status_names_of(documents))  # fmt: skip
        self.lines = self.data.build()
        self.transit: Transit = self.data.transits[0]
        assert self.transit.zones is not None
        self.zones = self.transit.zones
        self.path = self.transit.path
        self.serverless = self.transit.client
        self.domain = self.cpl["spec"]["confluent"]["dnsDomain"].lower()
        self.direct = self.data.vnet_client(self.domain)
        self.checks: list[dict[str, Any]] = []
        if self.transit.status_url is not None:  # examples/01 has one: what a notebook's curl gets
            self.lines.append(f"curl {self.transit.status_url} -> {json.dumps(self.data.status(self.transit))}")

    # -- the operator's objects ------------------------------------------------------------------------
    def transit_object(self) -> dict[str, Any]:
        meta = self.sxt["metadata"]
        obj = self.op.get("ServerlessTransit", meta["name"], meta["namespace"])
        assert obj is not None
        return obj

    def cpl_object(self) -> dict[str, Any]:
        meta = self.cpl["metadata"]
        obj = self.op.get("ConfluentPrivateLink", meta["name"], meta["namespace"])
        assert obj is not None
        return obj

    def instances(self) -> list[tuple[str, str]]:
        return sorted(self.executor.instances(), key=lambda i: int(i[1]))

    # -- Kafka -------------------------------------------------------------------------------------------
    def kafka(self, ns: str, mode: str, *args: object, topic: str | None = None,
              client: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        argv = kafka_client.argv(mode, self.zones.bootstrap(), str(self.zones.ca_file),
                                 topic or f"bench-{uuid.uuid4().hex[:8]}", *args)  # fmt: skip
        env = {**os.environ, "TRANSIT_KAFKA_CONFIG": json.dumps(client or {})}
        proc = self.vnet.exec(ns, argv, timeout=600, env=env)
        if proc.returncode != 0:
            probe = [e for e in self.path.probe_events() if e.get("event") != "pool"][-6:]
            raise SystemExit(f"kafka {mode} failed: {proc.stdout[-1000:]}{proc.stderr[-1500:]}\nLB probe: {probe}")
        return dict(json.loads(proc.stdout.splitlines()[-1]))

    def under_load(self, seconds: float, rate: int, scenario: Callable[[float], object],
                   client: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        """A producer through the serverless path (librdkafka defaults, or `client` on top) while
        `scenario(start)` runs in this thread (`start`: when the producer began, CLOCK_MONOTONIC). The topic
        is then read back and checked (kept in `checks`)."""
        topic = f"load-{uuid.uuid4().hex[:8]}"
        log = self.work / f"{topic}.log"
        argv = kafka_client.argv("produce", self.zones.bootstrap(), str(self.zones.ca_file), topic, seconds, rate)
        env = {**os.environ, "TRANSIT_KAFKA_CONFIG": json.dumps(client or {})}
        producer = self.vnet.popen(self.serverless, argv, log=log, env=env)
        try:
            deadline = time.monotonic() + 90
            while '"producing"' not in (log.read_text() if log.exists() else ""):
                if time.monotonic() > deadline or producer.poll() is not None:
                    raise SystemExit(f"the producer did not start: {log.read_text()[-2000:]}")
                time.sleep(0.05)
            start = next(json.loads(line) for line in log.read_text().splitlines() if '"producing"' in line)["at"]
            scenario(start)
            producer.wait(seconds + 300)
        finally:
            if producer.poll() is None:
                producer.kill()
        produced = json.loads(log.read_text().splitlines()[-1])
        consumed = self.kafka(self.serverless, "consume", produced["sent"], topic=topic)
        self.checks.append({"sent": produced["sent"], **consumed})
        return {**produced, **{k: consumed[k] for k in ("lost", "duplicated", "out_of_order")}}

    # -- endpoint IP change, rolled out by the operator ----------------------------------------------------
    def change_endpoint_ip(self, zone: str, timeout: float = 120) -> dict[str, Any]:
        """Azure gives the zone's private endpoint a new IP (both addresses answer meanwhile); the operator
        sees it, re-renders haproxy.cfg and rolls it out; then the old address goes away. What the rollout
        did: seconds until every instance ran the new config, run commands started and how far apart,
        what the apply script did on each instance."""
        cloud = self.op.cloud
        status = {z["name"]: z for z in self.cpl_object()["status"]["zones"]}
        endpoint_id = status[zone]["privateEndpointId"]
        new_ip = self.vnet.allocate()
        puts_before = len(cloud.admin.requests("PUT", "/runCommands/"))
        lists_before = len(cloud.admin.requests("GET", "/runCommands"))
        old_ip = self.zones.change_endpoint_ip(zone, new_ip, keep_old=True)
        changed = time.monotonic()
        cloud.admin.set_private_endpoint_ip(endpoint_id, new_ip)

        def rolled_out() -> bool:
            obj = self.transit_object()
            haproxy = (obj.get("status") or {}).get("haproxy") or {}
            desired = haproxy.get("desiredConfigHash")
            return bool(
                ready(obj) and new_ip in (obj["status"].get("backendIps") or [])
                and haproxy.get("instances")
                and all(i.get("appliedConfigHash") == desired for i in haproxy["instances"])
            )

        self.op.wait(rolled_out, timeout, f"rollout of {zone}'s new endpoint IP {new_ip}")
        took = time.monotonic() - changed
        self.zones.remove_address(zone, old_ip)
        puts = cloud.admin.requests("PUT", "/runCommands/")[puts_before:]
        details = []
        for record in cloud.admin.requests("GET", "/runCommands")[lists_before:]:
            for item in (record.response or {}).get("value") or []:
                output = ((item.get("properties") or {}).get("instanceView") or {}).get("output") or ""
                result = parse_apply_result(output)
                if result.result != "unknown":
                    details.append(result.detail)
        times = [r.time for r in puts]
        return {"seconds": took, "commands": len(puts), "spread": (max(times) - min(times)) if times else 0.0,
                "details": sorted(set(details))}  # fmt: skip

    def one_instance_at_a_time(self) -> None:
        """`runCommandConcurrency: 1` on the transit (a spec change: the operator reconciles it to Ready)."""
        meta = self.sxt["metadata"]
        generation = self.transit_object()["metadata"]["generation"]
        self.op.patch_spec("ServerlessTransit", meta["name"], meta["namespace"], {"haproxy": {"runCommandConcurrency": 1}})
        self.op.wait(lambda: (obj := self.transit_object())["metadata"]["generation"] > generation and ready(obj),
                     120, "the transit Ready with runCommandConcurrency 1")  # fmt: skip

    # -- instance loss --------------------------------------------------------------------------------------
    def busiest_instance(self) -> tuple[str, str]:
        """The instance that carries most of the client's Kafka flows now (conntrack's reply tuple)."""
        flows = [f for f in self.path.flows() if "dport=9092" in f and "ESTABLISHED" in f]
        counts = {i: sum(f"src={self.executor.address(*i)} " in f for f in flows) for i in self.instances()}
        return max(counts, key=lambda i: counts[i])

    def kill_haproxy(self, instance: tuple[str, str]) -> None:
        """SIGKILL the instance's HAProxy master and workers (by pid: nothing else on the machine)."""
        master = self.executor.haproxy_master_pid(*instance)
        if master is None:
            raise SystemExit(f"no HAProxy on instance {instance[1]}")
        workers = self.executor.exec(*instance, ["pgrep", "-P", str(master)])[1].split()
        for pid in [master, *(int(w) for w in workers)]:
            os.kill(pid, signal.SIGKILL)

    def restart(self, instance: tuple[str, str], *, new_vm: bool) -> None:
        """HAProxy back on the instance with the config it had (the apply script starts it), or a new VM
        in its place (`new_vm`: a new namespace and address, in the backend pool); in rotation again."""
        config = self.executor.read_file(*instance, "/etc/haproxy/haproxy.cfg").decode()
        if new_vm:
            self.executor.instance_deleted(*instance)
            self.executor.instance_created(*instance, None)
        _, out, err = self.executor.run_command(*instance, render_apply_script(), apply_parameters(config))
        result = parse_apply_result(f"[stdout]\n{out}\n[stderr]\n{err}")
        if not result.ok:
            raise SystemExit(f"restart of instance {instance[1]}: {result}")
        addresses = [self.executor.address(*i) for i in self.instances()]
        self.path.set_backends(addresses)
        self.path.wait_in_rotation(addresses, timeout=60)


# --- CPU accounting ----------------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pids: list[str]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / _TICK


def _machine() -> tuple[float, float]:
    """(busy CPU seconds, softirq CPU seconds) of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = values[:7]
    steal = values[7] if len(values) > 7 else 0
    return (user + nice + system + irq + softirq + steal) / _TICK, softirq / _TICK


class CpuMeter:
    """CPU seconds used by each part of the data path over one run (the client's own CPU comes from
    the client: `kafka_client` reports its process time)."""

    def __init__(self, world: World) -> None:
        vnet = world.vnet
        inst = [world.executor.namespace(*i) for i in world.instances()]
        self.groups = {
            "transit": inst,
            "sni": [world.zones.namespace(z) for z in world.zones.zones],
            "brokers": [ns for ns in vnet._namespaces if "-kafka" in ns],
        }

    def _pids(self, namespaces: list[str]) -> list[str]:
        pids: list[str] = []
        for ns in namespaces:
            pids += subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, check=False).stdout.split()
        return pids

    def sample(self) -> dict[str, float]:
        taken = {name: _cpu_of(self._pids(nss)) for name, nss in self.groups.items()}
        taken["machine"], taken["softirq"] = _machine()
        taken["self"] = sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
                            for who in (resource.RUSAGE_SELF,))  # fmt: skip
        return taken

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before[k] for k in before}


def run(args: argparse.Namespace, world: World) -> int:
    quick = args.quick
    count, size, rounds, samples = (20000, 512, 2, 100) if quick else (200000, 512, 20, 500)
    load_before = os.getloadavg()
    rate, changes = (300, 1) if quick else (500, 3)
    loss_s = 8.0 if quick else 15.0

    meter = CpuMeter(world)
    # warm-up: the brokers' JIT, connections, topic metadata. A full run per path: after half a run the
    # first round's direct run (always first) still ran ~25 % slower than the next ones, which biased the
    # first round's ratio upwards (1.2-1.4 in every run of 2026-11-27).
    for ns in (world.direct, world.serverless):
        world.kafka(ns, "throughput", count, size)
    rows: list[tuple[object, ...]] = []
    cpu_rows: list[tuple[object, ...]] = []
    tput, lat = [], []
    for r in range(rounds):
        got: dict[str, dict[str, Any]] = {}
        for path in ("direct", "proxied") if r % 2 == 0 else ("proxied", "direct"):
            ns = world.direct if path == "direct" else world.serverless
            before, wall = meter.sample(), time.monotonic()
            got[path] = world.kafka(ns, "throughput", count, size)
            used, wall = CpuMeter.delta(before, meter.sample()), time.monotonic() - wall
            ours = used["transit"] + used["sni"] + used["brokers"] + got[path]["cpu_s"] + used["self"]
            per_k = 1000 / count * 1000  # CPU ms per 1000 messages
            cpu_rows.append((r + 1, path, got[path]["cpu_s"] * per_k, used["transit"] * per_k, used["sni"] * per_k,
                             used["brokers"] * per_k, used["softirq"] * per_k,
                             max(0.0, used["machine"] - used["softirq"] - ours) / wall))  # fmt: skip
            got[path + "-lat"] = world.kafka(ns, "latency", samples)
        for path in ("direct", "proxied"):
            t, lt = got[path], got[path + "-lat"]
            rows.append((r + 1, path, t["msgs_per_s"], t["mb_per_s"], t["failed"], lt["p50_ms"], lt["p90_ms"]))
        tput.append(div(got["proxied"]["msgs_per_s"], got["direct"]["msgs_per_s"]))
        lat.append(got["proxied-lat"]["p50_ms"] - got["direct-lat"]["p50_ms"])
    print(f"broker: Apache Kafka {world.zones.version} (KRaft, {len(world.zones.brokers)} brokers, TLS)")
    print("load average (1, 5, 15 min) before the throughput rounds: " + ", ".join(f"{x:.2f}" for x in load_before)
          + "; after: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + f" ({os.cpu_count()} CPUs)\n")  # fmt: skip
    print("\n".join(world.lines) + "\n")
    print(f"throughput: {count} x {size} B per run, idempotent, acks=all; direct = customer-VNet client to the "
          f"private endpoints, proxied = serverless client via NCC endpoint, LB, HAProxy; latency: {samples} "
          "messages one at a time\n")  # fmt: skip
    table(("round", "path", "msgs/s", "MB/s", "failed", "p50 ms", "p90 ms"), rows)
    print("\nCPU ms per 1000 messages, by part of the path; others: CPUs the rest of the machine kept busy "
          "meanwhile (of 2)")
    table(("round", "path", "client", "transit", "SNI proxies", "brokers", "softirq", "others"), cpu_rows)

    control = world.under_load(10 if quick else 20, rate, lambda start: None)  # the noise floor
    rollouts: list[dict[str, Any]] = []

    def move_az2(start: float) -> None:
        for _ in range(changes):
            time.sleep(2)
            rollouts.append(world.change_endpoint_ip("az2"))

    ip = world.under_load(8 + changes * 12, rate, move_az2)
    default_rollouts = list(rollouts)
    rollouts.clear()
    world.one_instance_at_a_time()  # the other rollout order: runCommandConcurrency 1
    ip_seq = world.under_load(8 + changes * 16, rate, move_az2)

    instance_box: list[tuple[str, str]] = []

    def lose(how: str) -> Callable[[float], None]:
        def scenario(start: float) -> None:
            time.sleep(max(0.0, start + 3 - time.monotonic()))
            instance = world.busiest_instance()
            instance_box.append(instance)
            if how == "haproxy":
                world.kill_haproxy(instance)
            else:
                world.vnet.remove_member(world.executor.namespace(*instance), silently=True)
        return scenario

    kill = world.under_load(loss_s, rate, lose("haproxy"))
    kafka_probe = world.path.lb.probe().name
    down_kill = [e for e in world.path.probe_events() if e.get("event") == "down" and e.get("probe") == kafka_probe]
    world.restart(instance_box[-1], new_vm=False)
    gone = world.under_load(loss_s, rate, lose("namespace"))
    world.restart(instance_box[-1], new_vm=True)
    bounded = world.under_load(loss_s, rate, lose("namespace"), client=BOUNDED_CLIENT)

    print(f"\nunder load: {rate} msg/s through the serverless path; probe every {world.path.lb.probe_interval_s:g} s, "
          f"threshold {world.path.lb.probe_threshold} (the operator's LB body)")  # fmt: skip
    def rollout_note(done: list[dict[str, Any]]) -> str:
        return "; ".join(f"{r['seconds']:.1f} s to roll out, {r['commands']} run commands within "
                         f"{r['spread']:.2f} s, apply: " + ",".join(r["details"]) for r in done)  # fmt: skip

    runs = [
        ("control: no change", control, "the machine's own noise"),
        (f"endpoint IP change x{changes}, operator default (concurrency 5)", ip, rollout_note(default_rollouts)),
        (f"endpoint IP change x{changes}, runCommandConcurrency 1", ip_seq, rollout_note(rollouts)),
        (f"HAProxy killed on instance {instance_box[0][1]}", kill, f"probe down events: {len(down_kill)}"),
        (f"instance {instance_box[1][1]} gone, librdkafka defaults", gone, "its flows wait for a client timeout"),
        (f"instance {instance_box[2][1]} gone, LOST_INSTANCE_SETTINGS", bounded, json.dumps(BOUNDED_CLIENT)),
    ]
    table(
        ("run", "sent", "failed", "max wait s", "max gap s", "reconnects", "lost", "duplicated", "out of order", "note"),
        [(name, r["sent"], r["failed"], r["max_wait_s"], r["max_stall_s"], r["disconnects"], r["lost"],
          r["duplicated"], r["out_of_order"], note) for name, r, note in runs],
    )  # fmt: skip
    print("max wait: the longest any message waited for its delivery report; max gap: the longest time "
          "without any delivery report; reconnects: broker connections the producer lost")
    bound = world.path.lb.probe_interval_s * world.path.lb.probe_threshold + 1
    sent = sum(c["sent"] for c in world.checks)
    bad = sum(c["lost"] + c["duplicated"] for c in world.checks)
    spread = sorted(tput)
    print()
    ratio("throughput proxied/direct", statistics.median(tput),
          f"median of {rounds} interleaved rounds; min {spread[0]:.3g}, max {spread[-1]:.3g}; "
          + "per round: " + ", ".join(f"{x:.3g}" for x in tput))  # fmt: skip
    ratio("added latency p50 ms (proxied - direct)", statistics.median(lat))
    ratio("max stall s on endpoint IP change", ip["max_wait_s"],
          f"{changes} changes rolled out by the operator (runCommandConcurrency 5: every instance at once), old "
          f"address removed each time; {ip['disconnects']} reconnects; {control['max_wait_s']:.3g} s with no change")  # fmt: skip
    ratio("max stall s on endpoint IP change, runCommandConcurrency 1", ip_seq["max_wait_s"],
          f"{ip_seq['disconnects']} reconnects for {changes} changes")  # fmt: skip
    ratio("failed deliveries per IP change", (ip["failed"] + ip_seq["failed"]) / (2 * changes),
          f"{ip['failed'] + ip_seq['failed']} failed of {ip['sent'] + ip_seq['sent']} sent")  # fmt: skip
    ratio("max stall s on instance loss", max(kill["max_wait_s"], gone["max_wait_s"]),
          f"librdkafka defaults: HAProxy killed {kill['max_wait_s']:.3g} s, instance gone {gone['max_wait_s']:.3g} s; "
          f"probe interval x threshold + 1 = {bound:g} s")  # fmt: skip
    ratio("max stall s on instance loss with client timeouts", bounded["max_wait_s"],
          "instance gone; " + ", ".join(f"{k}={v}" for k, v in BOUNDED_CLIENT.items()))
    ratio("lost or duplicated messages", div(bad, sent), f"{bad} of {sent} sent, {len(world.checks)} runs read back")
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
    vnet = VNet(SANDBOX_VNET)
    executor = NetnsExecutor(vnet, owns_vnet=False)
    world: World | None = None
    try:
        with OperatedSandbox(_documents(), executor, drift_seconds=1.0) as op:
            op.wait(op.all_ready, 300, "every example object Ready")
            work = Path(op.cloud.dir) / "bench"
            work.mkdir(exist_ok=True)
            world = World(vnet, executor, op, work)
            return run(args, world)
    finally:
        if world is not None:
            world.data.close()
        executor.close()
        vnet.close()
        left = list(iter_prefixed_namespaces(vnet.prefix + "-"))
        if left:
            print(f"error: namespaces left behind: {left}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
