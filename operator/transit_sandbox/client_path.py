"""The path of a Databricks Serverless client to the transit, in network namespaces.

    client namespace (resolver: dnsmasq answering the NCC rule's domain names with the NCC endpoint IP)
      │  "Databricks serverless" segment (its own bridge; the VNet is not reachable from it)
      ▼
    NCC private endpoint IP ══ Private Link ══ PLS NAT IP ─▶ Standard LB ─▶ VMSS instances (HAProxy)
    └──────────────── one "private link" namespace: nftables ────────────────┘

- `ServerlessPath` is the Private Link hop and the Standard Load Balancer behind the PLS, as one namespace
  with a leg on each segment. nftables DNATs a new flow to the NCC endpoint IP onto a healthy instance
  chosen by a hash of its 5-tuple (`jhash ip saddr . tcp sport . ip daddr . tcp dport . meta l4proto`,
  Azure LB's default distribution) and SNATs it to the PLS NAT IP (instances see the NAT IP, as behind
  a PLS). A flow stays on its instance for its lifetime (conntrack), also when the instance goes
  unhealthy: Standard LB keeps established flows ("All probes down, all TCP flows continue"; Azure LB
  health probe docs) and only sends new flows elsewhere. No healthy instance: new flows are dropped
  (`noHealthyBackendsBehavior` AllProbedDown, the default).
- The health probes (`python -m transit_sandbox.client_path probe SPEC`, run inside that namespace) are
  the LB body's probes, each for the rules that name it: HTTP GET `requestPath` (or a TCP connect) on
  `port` every `intervalInSeconds`; `probeThreshold` consecutive failures take an instance out of that
  probe's rules, as many successes put it back (the probe's REST doc). At start every instance is probed
  once and the answering ones are in rotation at once. It rewrites the nftables chain atomically and
  logs each change as a JSON line (`probe_events()`).
- Private Link's idle timeout: a flow idle longer than `idle_timeout_s` is forgotten (conntrack's
  established timeout in that namespace) and its later packets are dropped silently (`ct state invalid
  drop`, no loose pick-up), as Azure drops idle PLS flows after ~4-5 minutes (Private Link service
  overview: "must leverage TCP Keep Alives lower than that time").
- `Resolver` runs dnsmasq in a client namespace on 127.0.0.1:53 (`/etc/netns/<ns>/resolv.conf`) with
  records given as DNS names and wildcards (`DnsRecords`): the NCC rule's domain names for a
  serverless client (`ncc_records`), or a private DNS zone's record sets plus Confluent's public CNAMEs
  for glb names for a client in the customer VNet (`private_zone_records`).

All of it needs root, `ip`, `nft` and `dnsmasq` (`client_path_unavailable_reason`).
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transit_sandbox.dataplane import DataplaneError, VNet, _Bridge

__all__ = [
    "DnsRecords",
    "LoadBalancerSpec",
    "ProbeSpec",
    "Resolver",
    "ServerlessPath",
    "client_path_unavailable_reason",
    "ncc_records",
    "private_zone_records",
]

_SERVERLESS_SUBNET = ipaddress.IPv4Network("10.250.0.0/24")  # Databricks' side: NCC endpoints, compute
_NCC_ENDPOINT_IP = "10.250.0.5"
_NFT_TABLE = "transit_lb"


def client_path_unavailable_reason() -> str | None:
    for tool in ("nft", "dnsmasq"):
        if shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
            return f"needs the `{tool}` command (Debian nftables, dnsmasq-base)"
    return None


# ---------------------------------------------------------------------------------------------------
# The load balancer's settings, from its ARM body


@dataclass(frozen=True)
class ProbeSpec:
    """One health probe of the LB body: HTTP GET `path` (or a TCP connect) on `port`."""

    name: str
    protocol: str  # "Http", "Https" (probed as HTTP here) or "Tcp"
    port: int
    path: str
    interval_s: float
    threshold: int


@dataclass(frozen=True)
class LoadBalancerSpec:
    """What the emulated Standard LB takes from the ARM body the operator planned."""

    ports: tuple[tuple[int, int], ...]  # (frontendPort, backendPort) per TCP rule
    rule_probes: tuple[str, ...]  # the probe (name) of each rule, in the order of `ports`
    probes: tuple[ProbeSpec, ...]
    idle_timeout_s: float  # the LB rule's idleTimeoutInMinutes (the PLS hop's own is shorter)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> LoadBalancerSpec:
        props = body["properties"]
        probes = tuple(
            ProbeSpec(
                name=str(p["name"]),
                protocol=str(p["properties"].get("protocol", "Tcp")),
                port=int(p["properties"]["port"]),
                path=str(p["properties"].get("requestPath") or "/"),
                interval_s=float(p["properties"].get("intervalInSeconds", 5)),
                threshold=int(p["properties"].get("probeThreshold") or p["properties"].get("numberOfProbes") or 1),
            )
            for p in props["probes"]
        )
        rules = sorted((int(r["properties"]["frontendPort"]), int(r["properties"]["backendPort"]),
                        str(r["properties"]["probe"]["id"]).rsplit("/", 1)[-1]) for r in props["loadBalancingRules"])  # fmt: skip
        return cls(
            ports=tuple((front, back) for front, back, _ in rules),
            rule_probes=tuple(probe for _, _, probe in rules),
            probes=probes,
            idle_timeout_s=60.0 * min(int(r["properties"].get("idleTimeoutInMinutes", 4)) for r in props["loadBalancingRules"]),
        )

    def probe(self, name: str | None = None) -> ProbeSpec:
        """The probe called `name`; by default the body's first (the operator's: the Kafka rules' `/healthz`)."""
        return next(p for p in self.probes if p.name == (name or self.probes[0].name))

    @property
    def probe_interval_s(self) -> float:
        return self.probe().interval_s

    @property
    def probe_threshold(self) -> int:
        return self.probe().threshold


# ---------------------------------------------------------------------------------------------------
# DNS


@dataclass
class DnsRecords:
    """A/`*` records by owner name (`*.x` is a wildcard), what a resolver answers."""

    records: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, ips: Iterable[str]) -> None:
        self.records.setdefault(name.lower().rstrip("."), []).extend(ip for ip in ips if ip)

    def answer(self, name: str) -> list[str]:
        """RFC 4592 in short: the exact name, else the closest enclosing `*.` owner."""
        name = name.lower().rstrip(".")
        if name in self.records:
            return list(self.records[name])
        labels = name.split(".")
        for i in range(1, len(labels)):
            wildcard = "*." + ".".join(labels[i:])
            if wildcard in self.records:
                return list(self.records[wildcard])
        return []

    def dnsmasq_lines(self) -> list[str]:
        """`host-record` for exact names, `address=/<suffix>/` (longest suffix wins) for wildcards."""
        lines = []
        for name, ips in sorted(self.records.items()):
            for ip in sorted(set(ips)):
                if name.startswith("*."):
                    lines.append(f"address=/{name[2:]}/{ip}")
                else:
                    lines.append(f"host-record={name},{ip}")
        return lines


def ncc_records(domain_names: Iterable[str], endpoint_ip: str) -> DnsRecords:
    """What Databricks Serverless resolves: every domain name of the NCC rule to the NCC endpoint's IP."""
    records = DnsRecords()
    for name in domain_names:
        records.add(name, [endpoint_ip])
    return records


def private_zone_records(
    zone: str, record_sets: Iterable[Mapping[str, Any]], *, public_cnames: Callable[[str], str] | None = None,
    names: Iterable[str] = (),
) -> DnsRecords:  # fmt: skip
    """A client in the customer VNet: the private DNS zone `zone` (record sets as ARM returns them, `name`
    relative to the zone; A records and CNAMEs to names in the zone). `public_cnames` maps a name to what
    public DNS CNAMEs it to (Confluent's glb names: CHASED_PRIVATE); the `names` given are resolved
    through it and added as exact records."""
    zone = zone.lower().rstrip(".")
    records = DnsRecords()
    cnames: dict[str, str] = {}
    for record_set in record_sets:
        relative = str(record_set["name"]).lower()
        owner = zone if relative == "@" else f"{relative}.{zone}"
        props = record_set.get("properties") or {}
        if props.get("aRecords"):
            records.add(owner, [a["ipv4Address"] for a in props["aRecords"]])
        elif props.get("cnameRecord"):
            cnames[owner] = str(props["cnameRecord"]["cname"]).lower().rstrip(".")
    for owner, target in cnames.items():
        records.add(owner, records.answer(target))
    for name in names:
        target = public_cnames(name) if public_cnames else name
        if target != name:
            records.add(name, records.answer(target))
    return records


class Resolver:
    """dnsmasq on 127.0.0.1:53 inside `ns`, the namespace's only name server. `update` restarts it when
    the records change (a restart takes milliseconds; clients retry a failed lookup)."""

    def __init__(self, vnet: VNet, ns: str, work: Path) -> None:
        self.vnet, self.ns, self._work = vnet, ns, work
        self._proc: subprocess.Popen[bytes] | None = None
        self._lines: list[str] | None = None
        etc = Path("/etc/netns") / ns
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:3\n")
        (etc / "hosts").write_text("127.0.0.1 localhost\n")

    def update(self, records: DnsRecords) -> None:
        lines = records.dnsmasq_lines()
        if lines == self._lines and self._proc is not None and self._proc.poll() is None:
            return
        conf = self._work / f"dnsmasq-{self.ns}.conf"
        conf.write_text("\n".join(lines) + "\n")
        self.stop()
        self._proc = self.vnet.popen(
            self.ns,
            ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces",
             "--listen-address=127.0.0.1", "--user=root", "--group=root", "--pid-file=", f"--conf-file={conf}",
             "--log-facility=-"],
            log=self._work / f"dnsmasq-{self.ns}.log",
        )  # fmt: skip
        self._lines = lines
        _wait(self._listening, timeout=5, what=f"dnsmasq in {self.ns}")

    def _listening(self) -> bool:
        if self._proc is None or self._proc.poll() is not None:
            raise DataplaneError(f"dnsmasq in {self.ns} exited: {(self._work / f'dnsmasq-{self.ns}.log').read_text()[-500:]}")
        return "127.0.0.1:53" in self.vnet.exec(self.ns, ["ss", "-Hlun"]).stdout

    def resolve(self, name: str) -> list[str]:
        """What a client in the namespace gets for `name` (getaddrinfo, IPv4)."""
        proc = self.vnet.exec(self.ns, ["getent", "ahostsv4", name], timeout=10)
        return sorted({line.split()[0] for line in proc.stdout.splitlines() if line.strip()})

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(5)
            self._proc = None


def _wait(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise DataplaneError(f"{what}: not ready after {timeout} s")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------------
# NCC endpoint + Private Link + Standard Load Balancer


class ServerlessPath:
    """The serverless side of a transit on `vnet`: clients, the NCC endpoint, Private Link and the LB.

    `lb` comes from the load balancer's ARM body (ports, probe, interval, threshold). `set_backends`
    puts VMSS instance addresses in the backend pool (NIC-based pool membership); the probe decides
    which of them get new flows. `idle_timeout_s`: the Private Link hop's idle timeout (Azure: ~240-300 s,
    not configurable there; tests scale it down). Close it (or use it as a context manager).
    """

    def __init__(
        self,
        vnet: VNet,
        lb: LoadBalancerSpec,
        *,
        idle_timeout_s: float = 240,
        endpoint_ip: str = _NCC_ENDPOINT_IP,
    ) -> None:
        reason = client_path_unavailable_reason()
        if reason is not None:
            raise DataplaneError(reason)
        self.vnet, self.lb, self.endpoint_ip = vnet, lb, endpoint_ip
        self.idle_timeout_s = idle_timeout_s
        self._work = Path(tempfile.mkdtemp(prefix=f"{vnet.prefix}-serverless-"))
        self._namespaces: list[str] = []
        self._resolvers: dict[str, Resolver] = {}
        self._clients = 0
        self._prober: subprocess.Popen[bytes] | None = None
        try:
            self._segment: _Bridge = vnet.add_bridge("dbx")
            self.ns = vnet.add_member("pl")
            self.nat_ip = vnet.members[self.ns][0]
            self._segment.plug(self.ns, "eth1", [endpoint_ip], _SERVERLESS_SUBNET.prefixlen)
            self._sysctl("net.ipv4.ip_forward=1")
            self._sysctl(f"net.netfilter.nf_conntrack_tcp_timeout_established={max(1, round(idle_timeout_s))}")
            self._sysctl("net.netfilter.nf_conntrack_tcp_loose=0")
            self._backends_file = self._work / "backends.json"
            self._backends_file.write_text("[]")
            self._nft(self._ruleset({}))
            self._start_prober()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> ServerlessPath:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- clients ---------------------------------------------------------------------------------------
    def add_client(self, records: DnsRecords | None = None) -> str:
        """A serverless compute namespace on the Databricks segment, with its own resolver."""
        self._clients += 1
        ns = self.vnet.add_namespace(f"dbxc{self._clients}-")
        self._namespaces.append(ns)
        self._segment.plug(ns, "eth0", [str(_SERVERLESS_SUBNET.network_address + 100 + self._clients)],
                           _SERVERLESS_SUBNET.prefixlen)  # fmt: skip
        self._resolvers[ns] = Resolver(self.vnet, ns, self._work)
        self._resolvers[ns].update(records or DnsRecords())
        return ns

    def resolver(self, ns: str) -> Resolver:
        return self._resolvers[ns]

    # -- the load balancer ---------------------------------------------------------------------------------
    def set_backends(self, addresses: Sequence[str]) -> None:
        """The backend pool: instance addresses (the probe picks them up within one interval)."""
        tmp = self._backends_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(addresses)))
        tmp.replace(self._backends_file)

    def probe_events(self) -> list[dict[str, Any]]:
        """The probe's log: `{"event": "up"|"down"|"pool", "backend": ip, "at": monotonic s, ...}`."""
        path = self._work / "probe.log"
        events = []
        for line in (path.read_text().splitlines() if path.exists() else []):
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
        return events

    def in_rotation(self, probe: str | None = None) -> list[str]:
        """The instances that get new flows now (from the probe's log) on the rules of `probe` (by
        default the first rule's: the Kafka ports)."""
        name = self.lb.probe(probe).name
        healthy: list[str] = []
        for event in self.probe_events():
            if "healthy" in event:
                healthy = list(event["healthy"].get(name, []))
        return healthy

    def wait_in_rotation(self, addresses: Iterable[str], timeout: float) -> None:
        want = sorted(addresses)
        _wait(lambda: sorted(self.in_rotation()) == want, timeout=timeout, what=f"LB rotation {want}")

    def flows(self) -> list[str]:
        """conntrack's flows through the Private Link hop (for failure messages)."""
        return self.vnet.exec(self.ns, ["conntrack", "-L", "-p", "tcp"]).stdout.splitlines()

    def _ruleset(self, healthy: Mapping[str, Sequence[str]]) -> str:
        return render_ruleset(self.endpoint_ip, self._rules(), healthy)

    def _rules(self) -> list[tuple[int, int, str]]:
        return [(front, back, probe) for (front, back), probe in zip(self.lb.ports, self.lb.rule_probes, strict=True)]

    def _nft(self, ruleset: str) -> None:
        proc = subprocess.run(["ip", "netns", "exec", self.ns, "nft", "-f", "-"], input=ruleset,
                              capture_output=True, text=True, timeout=10, check=False)  # fmt: skip
        if proc.returncode != 0:
            raise DataplaneError(f"nft: {proc.stderr.strip()}\n{ruleset}")

    def _sysctl(self, setting: str) -> None:
        proc = self.vnet.exec(self.ns, ["sysctl", "-qw", setting])
        if proc.returncode != 0:
            raise DataplaneError(f"sysctl {setting} in {self.ns}: {proc.stderr.strip()}")

    def _start_prober(self) -> None:
        spec = {
            "endpoint_ip": self.endpoint_ip,
            "rules": self._rules(),
            "probes": [vars(p) for p in self.lb.probes if p.name in self.lb.rule_probes],
            "backends_file": str(self._backends_file),
        }
        spec_file = self._work / "probe.json"
        spec_file.write_text(json.dumps(spec))
        self._prober = self.vnet.popen(
            self.ns, [sys.executable, "-m", "transit_sandbox.client_path", "probe", str(spec_file)],
            log=self._work / "probe.log",
        )  # fmt: skip

    def close(self) -> None:
        if self._prober is not None:
            self._prober.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._prober.wait(5)
            self._prober = None
        for resolver in self._resolvers.values():
            resolver.stop()
        self._resolvers.clear()
        own = [self.ns] if hasattr(self, "ns") else []
        own += [self._segment.ns] if hasattr(self, "_segment") else []
        for ns in [*self._namespaces, *own]:
            self.vnet.remove_member(ns)
        self._namespaces.clear()
        shutil.rmtree(self._work, ignore_errors=True)


def render_ruleset(
    endpoint_ip: str, rules: Sequence[tuple[int, int, str]], healthy: Mapping[str, Sequence[str]]
) -> str:
    """The nftables table of the Private Link + LB namespace: each rule `(frontend port, backend port,
    probe)` spreads new flows over the instances its probe has in rotation (`healthy[probe]`)."""
    lines = [
        f"table ip {_NFT_TABLE}",
        f"delete table ip {_NFT_TABLE}",
        f"table ip {_NFT_TABLE} {{",
        # After conntrack (-200): a packet of a forgotten (idle-expired) flow is invalid; drop it silently.
        "  chain pre_filter { type filter hook prerouting priority -150; policy accept; ct state invalid drop; }",
        "  chain pre_nat {",
        "    type nat hook prerouting priority dstnat; policy accept;",
    ]
    for frontend, backend, probe in rules:
        backends = sorted(healthy.get(probe, ()), key=lambda a: ipaddress.IPv4Address(a))
        match = f"ip daddr {endpoint_ip} tcp dport {frontend}"
        if not backends:
            lines.append(f"    {match} drop")  # AllProbedDown: no new flows
            continue
        targets = ", ".join(f"{i} : {a}" for i, a in enumerate(backends))
        lines.append(
            f"    {match} dnat to jhash ip saddr . tcp sport . ip daddr . tcp dport . meta l4proto "
            f"mod {len(backends)} seed 0x7a11 map {{ {targets} }} : {backend}"
        )
    lines += [
        "  }",
        "  chain post_nat { type nat hook postrouting priority srcnat; policy accept; oifname \"eth0\" masquerade; }",
        "}",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# The health probe (a process inside the Private Link namespace)


def _probe_once(address: str, probe: Mapping[str, Any], timeout: float) -> bool:
    if probe["protocol"].lower() == "tcp":
        try:
            socket.create_connection((address, int(probe["port"])), timeout=timeout).close()
            return True
        except OSError:
            return False
    conn = http.client.HTTPConnection(address, int(probe["port"]), timeout=timeout)
    try:
        conn.request("GET", str(probe["path"]), headers={"User-Agent": "Load Balancer Agent"})
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def run_probe(spec_file: str) -> None:
    spec = json.loads(Path(spec_file).read_text())
    probes = {p["name"]: p for p in spec["probes"]}
    interval = min(float(p["interval_s"]) for p in probes.values())
    rules = [tuple(r) for r in spec["rules"]]
    backends_file = Path(spec["backends_file"])
    state: dict[tuple[str, str], bool] = {}  # (probe, backend) -> up
    streak: dict[tuple[str, str], int] = {}  # consecutive results against the current state
    applied: dict[str, list[str]] | None = None

    def log(**event: Any) -> None:
        print(json.dumps({**event, "at": round(time.monotonic(), 3)}), flush=True)

    while True:
        started = time.monotonic()
        try:
            pool = sorted(json.loads(backends_file.read_text()))
        except (OSError, ValueError):
            pool = sorted({address for _, address in state})
        for key in [k for k in state if k[1] not in pool]:
            del state[key]
            streak.pop(key, None)
            if key[0] == next(iter(probes)):
                log(event="pool", backend=key[1], member=False)
        for name, probe in probes.items():
            for address in pool:
                key = (name, address)
                ok = _probe_once(address, probe, min(float(probe["interval_s"]), 3.0))
                if key not in state:
                    state[key], streak[key] = ok, 0  # first probe of a pool member decides at once
                    log(event="up" if ok else "down", backend=address, probe=name, first=True)
                    continue
                if ok == state[key]:
                    streak[key] = 0
                    continue
                streak[key] += 1
                if streak[key] >= int(probe["threshold"]):
                    state[key], streak[key] = ok, 0
                    log(event="up" if ok else "down", backend=address, probe=name)
        healthy = {name: [a for a in pool if state.get((name, a))] for name in probes}
        if healthy != applied:
            proc = subprocess.run(["nft", "-f", "-"], input=render_ruleset(spec["endpoint_ip"], rules, healthy),
                                  capture_output=True, text=True, check=False)  # fmt: skip
            log(event="rotation", healthy=healthy, rc=proc.returncode, error=proc.stderr.strip()[-300:])
            applied = healthy
        time.sleep(max(0.0, interval - (time.monotonic() - started)))


if __name__ == "__main__":
    if sys.argv[1:2] == ["probe"]:
        run_probe(sys.argv[2])
    else:
        raise SystemExit("usage: python -m transit_sandbox.client_path probe SPEC.json")
