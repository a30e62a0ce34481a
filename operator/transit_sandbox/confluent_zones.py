"""Confluent Cloud as the transit sees it: Apache Kafka (KRaft) behind per-zone private endpoints.

    VNet ── zone endpoint namespace (the private endpoint IP) ── Confluent SNI proxy ──┐
                                                                    "Confluent side" bridge
                                          broker 1 (az1)   broker 2 (az2)   broker 3 (az3)

- One Apache Kafka broker per zone (combined KRaft controller + broker, one cluster; a 1-zone network has
  one broker), from the Maven Central jars `scripts/dev bootstrap` caches under
  `~/.cache/transit-operator/kafka-<version>/libs` (`find_kafka`). The brokers sit on a bridge the VNet
  cannot reach: clients get to them only through a zone's private endpoint.
- Each broker has TLS client listeners advertised under both of Confluent's hostname shapes (Confluent's
  ccloud-connectivity `privatelink/azure/debug-connectivity.sh`):
  `e-000N.azN.<domain>` and, for CHASED_PRIVATE (`glb`) networks, `e-000N-azN-<net>.<region>.azure.glb.
  confluent.cloud` (`ConfluentNames`). A client that bootstraps with one shape gets broker names of that
  shape back, so it comes back through the transit to the broker's zone. Bootstrap names:
  `lkc-sandbox.<domain>` and `lkc-sandbox-<net>.<glb domain>`. Certificates come from one CA (`ca_file`).
- Each zone's endpoint namespace carries the private endpoint IP and runs Confluent's SNI proxy
  (HAProxy, TLS passed through): a broker name goes to that broker, a bootstrap name to any broker, and
  any other name in the network's domains to a TLS endpoint whose certificate's CN is `<zone>.terminator`
  (so a probe can tell which zone's endpoint it went through; the tests' `tls_probe.py`).

Everything needs root, `ip`, `haproxy`, Java 17 and the Kafka jars; `kafka_unavailable_reason()` says
what is missing.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from transit_sandbox.dataplane import DataplaneError, VNet, wait_listening

__all__ = [
    "ConfluentNames",
    "ConfluentZones",
    "KafkaDistribution",
    "find_kafka",
    "kafka_unavailable_reason",
]

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "transit-operator"
_KAFKA_JAR = re.compile(r"^kafka_2\.13-(\d+\.\d+\.\d+)\.jar$")
_CC_SUBNET = ipaddress.IPv4Network("172.31.255.0/24")  # the "Confluent side": unreachable from the VNet
_PRIVATE_PORT, _GLB_PORT, _INTERNAL_PORT, _CONTROLLER_PORT = 9092, 9094, 9091, 9093
_PROBE_PORT = 9443


@dataclass(frozen=True)
class KafkaDistribution:
    """Apache Kafka's jars (`libs/*.jar`) and the `java` that runs them."""

    version: str
    libs: Path
    java: str

    def classpath(self) -> str:
        return str(self.libs / "*")


def find_kafka() -> KafkaDistribution | None:
    """The Kafka jars: `$TRANSIT_KAFKA_LIBS`, else the newest complete `kafka-<version>` cache directory."""
    java = shutil.which("java")
    if java is None:
        return None
    candidates = [Path(os.environ["TRANSIT_KAFKA_LIBS"])] if os.environ.get("TRANSIT_KAFKA_LIBS") else [
        d / "libs" for d in CACHE.glob("kafka-*") if (d / "complete").exists()
    ]
    found = []
    for libs in candidates:
        for jar in libs.glob("kafka_2.13-*.jar"):
            if m := _KAFKA_JAR.match(jar.name):
                found.append((tuple(int(x) for x in m.group(1).split(".")), m.group(1), libs))
    if not found:
        return None
    _, version, libs = max(found)
    return KafkaDistribution(version, libs, java)


def kafka_unavailable_reason() -> str | None:
    if shutil.which("java") is None:
        return "needs Java 17 (`java` on PATH)"
    if find_kafka() is None:
        return f"needs the Apache Kafka jars under {CACHE}/kafka-<version>/libs (scripts/dev bootstrap)"
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        return "needs confluent-kafka (a test dependency)"
    return None


@dataclass(frozen=True)
class ConfluentNames:
    """Host names of one Confluent network, in both shapes Confluent serves.

    `domain` is the network's DNS domain `<net>.<region>.azure.confluent.cloud`; the glb domain drops
    `<net>` and puts `glb` before `confluent.cloud` (`<region>.azure.glb.confluent.cloud`), and a glb name
    is the private name with the dots below `<region>` turned into dashes: `e-0001.az1.<net>.<region>...`
    is `e-0001-az1-<net>.<region>.azure.glb...` (debug-connectivity.sh, which maps one to the other).
    """

    domain: str
    cluster: str = "lkc-sandbox"

    @property
    def network_label(self) -> str:
        return self.domain.split(".", 1)[0]

    @property
    def glb_domain(self) -> str:
        rest = self.domain.split(".")[1:]
        return ".".join([*rest[:-2], "glb", *rest[-2:]])

    def bootstrap(self, *, glb: bool = False) -> str:
        if glb:
            return f"{self.cluster}-{self.network_label}.{self.glb_domain}"
        return f"{self.cluster}.{self.domain}"

    def broker(self, node_id: int, zone: str, *, glb: bool = False) -> str:
        if glb:
            return f"e-{node_id:04d}-{zone}-{self.network_label}.{self.glb_domain}"
        return f"e-{node_id:04d}.{zone}.{self.domain}"

    def chased(self, name: str) -> str:
        """What Confluent's public DNS answers for a glb name (CHASED_PRIVATE): a CNAME to the private
        name, which the customer's private DNS zone resolves. Other names are returned unchanged."""
        suffix = f"-{self.network_label}.{self.glb_domain}"
        if not name.endswith(suffix):
            return name
        head = name[: -len(suffix)]
        m = re.match(r"^(.*)-(az\d+)$", head)
        return f"{m.group(1)}.{m.group(2)}.{self.domain}" if m else f"{head}.{self.domain}"


def _make_certs(work: Path, names: ConfluentNames, zones: Sequence[str], brokers: int) -> tuple[Path, dict[str, Path]]:
    """A CA, one certificate per broker (`broker-N`) and per zone probe (`probe-azN`, CN `azN.terminator`),
    all valid for every name of the network (`*.<domain>`, `*.azN.<domain>`, `*.<glb domain>`)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "transit sandbox Confluent CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = work / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    sans = [names.domain, f"*.{names.domain}", *(f"*.{z}.{names.domain}" for z in zones), f"*.{names.glb_domain}"]
    subjects = {f"broker-{n}": f"e-{n:04d}" for n in range(1, brokers + 1)}
    subjects |= {f"probe-{z}": f"{z}.terminator" for z in zones}
    pems = {}
    for key_name, common_name in subjects.items():
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        pem = work / f"{key_name}.pem"
        # Kafka's PEM key store and HAProxy's `crt` both read key + chain from one file (PKCS#8 key).
        pem.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            + cert.public_bytes(serialization.Encoding.PEM)
            + ca.public_bytes(serialization.Encoding.PEM)
        )
        pem.chmod(0o600)
        pems[key_name] = pem
    return ca_path, pems


_LOG4J2 = """Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaRaftServer
        level: INFO
"""


def _kafka_uuid() -> str:
    """A Kafka `Uuid` as its tools print it: URL-safe base64 of 16 random bytes, no padding; never one that
    starts with `-`, which `kafka-storage format -t` would read as an option (1 in 64 draws did: the
    dataplane fixtures then failed with "argument --cluster-id/-t: expected one argument")."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


class ConfluentZones:
    """Confluent Cloud zones behind private endpoints on a `VNet`, with Apache Kafka brokers.

    `endpoint_ips` maps zone (`az1`...) to the zone's private endpoint IP on the VNet. Broker N (1-based,
    in zone order) lives in zone N. Topics default to one partition per broker, replication factor = the
    number of brokers and `min.insync.replicas` 2 (1 for one broker), as Confluent's multi-zone clusters.
    `heap` is each broker's JVM heap (2 cores and several brokers: keep it small). `cluster` is the first
    label of the bootstrap name (`lkc-xxxxx`).
    """

    def __init__(
        self,
        vnet: VNet,
        *,
        domain: str,
        endpoint_ips: Mapping[str, str],
        kafka: KafkaDistribution | None = None,
        port: int = 9092,
        heap: str = "256m",
        start_timeout: float = 90,
        cluster: str = "lkc-sandbox",
    ) -> None:
        self.vnet = vnet
        self.names = ConfluentNames(domain, cluster)
        self.domain = domain
        self.port = port
        self.zones = sorted(endpoint_ips)
        self.kafka = kafka or find_kafka()
        if self.kafka is None:
            raise DataplaneError(kafka_unavailable_reason() or "Apache Kafka not found")
        self.version = self.kafka.version
        self.bootstrap_host = self.names.bootstrap()
        self.glb_bootstrap_host = self.names.bootstrap(glb=True)
        self.brokers = {n: zone for n, zone in enumerate(self.zones, start=1)}
        self._heap = heap
        self._work = Path(tempfile.mkdtemp(prefix=f"{vnet.prefix}-confluent-"))
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._ns: dict[str, str] = {}
        self._broker_ns: dict[int, str] = {}
        self._ips = dict(endpoint_ips)
        self._broker_ips = {n: str(_CC_SUBNET.network_address + 10 + n) for n in self.brokers}
        try:
            self.ca_file, self._pems = _make_certs(self._work, self.names, self.zones, len(self.brokers))
            (self._work / "log4j2.yaml").write_text(_LOG4J2)
            self._cc = vnet.add_bridge("cc")
            for n in self.brokers:
                ns = vnet.add_namespace(f"kafka{n}-")
                self._cc.plug(ns, "eth0", [self._broker_ips[n]], _CC_SUBNET.prefixlen)
                self._broker_ns[n] = ns
            self._start_brokers(start_timeout)
            for i, zone in enumerate(self.zones):
                ns = vnet.add_member(f"ep{zone}-", [endpoint_ips[zone]])
                self._cc.plug(ns, "eth1", [str(_CC_SUBNET.network_address + 100 + i)], _CC_SUBNET.prefixlen)
                self._ns[zone] = ns
                self.start_zone(zone)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> ConfluentZones:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- names ---------------------------------------------------------------------------------------
    def broker_host(self, node_id: int, *, glb: bool = False) -> str:
        return self.names.broker(node_id, self.brokers[node_id], glb=glb)

    def bootstrap(self, *, glb: bool = False) -> str:
        """`host:port` a client bootstraps with."""
        return f"{self.names.bootstrap(glb=glb)}:{self.port}"

    def names_of(self, *, glb: bool = False) -> list[str]:
        """Bootstrap and broker names in one shape (what a client of that shape resolves)."""
        return [self.names.bootstrap(glb=glb), *(self.broker_host(n, glb=glb) for n in self.brokers)]

    def host_names(self) -> list[str]:
        """Every name clients resolve, both shapes."""
        return sorted({*self.names_of(), *self.names_of(glb=True)})

    # -- the zones' private endpoints --------------------------------------------------------------------
    def endpoint_ip(self, zone: str) -> str:
        return self._ips[zone]

    def endpoint_ips(self) -> dict[str, str]:
        return dict(self._ips)

    def namespace(self, zone: str) -> str:
        return self._ns[zone]

    def change_endpoint_ip(self, zone: str, new_ip: str, *, keep_old: bool = True) -> str:
        """Out-of-band IP change of a zone's private endpoint; returns the old IP.

        The new address is added first; with `keep_old` the old one stays until `remove_address` (Azure
        gives a re-created endpoint a new IP while the transit still points at the old one).
        """
        old = self._ips[zone]
        self.vnet.add_address(self._ns[zone], new_ip)
        self._ips[zone] = new_ip
        if not keep_old:
            self.vnet.remove_address(self._ns[zone], old)
        return old

    def remove_address(self, zone: str, ip: str) -> None:
        self.vnet.remove_address(self._ns[zone], ip)

    def stop_zone(self, zone: str) -> None:
        """The zone's endpoint refuses connections (its SNI proxy stops)."""
        self._stop(f"sni-{zone}")

    def start_zone(self, zone: str) -> None:
        """(Re)start the zone's SNI proxy."""
        cfg = self._work / f"sni-{zone}.cfg"
        cfg.write_text(self._sni_proxy_config(zone))
        self._procs[f"sni-{zone}"] = self.vnet.popen(
            self._ns[zone], ["haproxy", "-db", "-f", str(cfg)], log=self._work / f"sni-{zone}.log"
        )
        wait_listening(self.vnet, self._ns[zone], "127.0.0.1", self.port)

    def _sni_proxy_config(self, zone: str) -> str:
        n_all = sorted(self.brokers)
        out = [
            "global",
            "    maxconn 4096",
            "defaults",
            "    mode tcp",
            "    timeout connect 5s",
            "    timeout client 30m",
            "    timeout server 30m",
            "frontend sni",
            f"    bind :{self.port}",
            "    tcp-request inspect-delay 5s",
            "    tcp-request content accept if { req.ssl_hello_type 1 }",
            "    tcp-request content reject",
        ]
        for n in n_all:
            out += [
                f"    use_backend broker{n} if {{ req.ssl_sni -i {self.broker_host(n)} }}",
                f"    use_backend broker{n}_glb if {{ req.ssl_sni -i {self.broker_host(n, glb=True)} }}",
            ]
        out += [
            f"    use_backend bootstrap if {{ req.ssl_sni -i {self.names.bootstrap()} }}",
            f"    use_backend bootstrap_glb if {{ req.ssl_sni -i {self.names.bootstrap(glb=True)} }}",
            "    default_backend zone_probe",
        ]
        for n in n_all:
            out += [f"backend broker{n}", f"    server b{n} {self._broker_ips[n]}:{_PRIVATE_PORT}"]
            out += [f"backend broker{n}_glb", f"    server b{n} {self._broker_ips[n]}:{_GLB_PORT}"]
        out += ["backend bootstrap", "    balance roundrobin"]
        out += [f"    server b{n} {self._broker_ips[n]}:{_PRIVATE_PORT}" for n in n_all]
        out += ["backend bootstrap_glb", "    balance roundrobin"]
        out += [f"    server b{n} {self._broker_ips[n]}:{_GLB_PORT}" for n in n_all]
        out += [
            "backend zone_probe",
            f"    server probe 127.0.0.1:{_PROBE_PORT}",
            "frontend zone_probe_tls",
            f"    bind 127.0.0.1:{_PROBE_PORT} ssl crt {self._pems[f'probe-{zone}']}",
            "    default_backend nowhere",
            "backend nowhere",
            "    server none 127.0.0.1:1",
            "",
        ]
        return "\n".join(out)

    # -- Kafka ---------------------------------------------------------------------------------------
    def _broker_config(self, n: int) -> str:
        count = len(self.brokers)
        voters = ",".join(f"{m}@{self._broker_ips[m]}:{_CONTROLLER_PORT}" for m in sorted(self.brokers))
        isr = min(2, count)
        zone = self.brokers[n]
        return "\n".join(
            [
                "process.roles=broker,controller",
                f"node.id={n}",
                f"controller.quorum.voters={voters}",
                f"listeners=PRIVATE://:{_PRIVATE_PORT},GLB://:{_GLB_PORT},"
                f"INTERNAL://{self._broker_ips[n]}:{_INTERNAL_PORT},CONTROLLER://{self._broker_ips[n]}:{_CONTROLLER_PORT}",
                f"advertised.listeners=PRIVATE://{self.broker_host(n)}:{self.port},"
                f"GLB://{self.broker_host(n, glb=True)}:{self.port},INTERNAL://{self._broker_ips[n]}:{_INTERNAL_PORT}",
                "listener.security.protocol.map=PRIVATE:SSL,GLB:SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=INTERNAL",
                f"broker.rack={zone}",
                "ssl.keystore.type=PEM",
                f"ssl.keystore.location={self._pems[f'broker-{n}']}",
                "ssl.client.auth=none",
                f"log.dirs={self._work / f'data-{n}'}",
                f"num.partitions={count}",
                f"default.replication.factor={count}",
                f"min.insync.replicas={isr}",
                f"offsets.topic.replication.factor={count}",
                f"transaction.state.log.replication.factor={count}",
                f"transaction.state.log.min.isr={isr}",
                "group.initial.rebalance.delay.ms=0",
                "num.network.threads=2",
                "num.io.threads=2",
                "num.recovery.threads.per.data.dir=1",
                "log.segment.bytes=67108864",
                "",
            ]
        )

    def _java(self, *args: str) -> list[str]:
        assert self.kafka is not None
        return [
            self.kafka.java, f"-Xmx{self._heap}", f"-Xms{self._heap}", "-XX:+UseSerialGC", "-XX:-UsePerfData",
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={self._work / 'log4j2.yaml'}",
            "-cp", self.kafka.classpath(), *args,
        ]  # fmt: skip

    def _start_brokers(self, timeout: float) -> None:
        cluster_id = _kafka_uuid()
        for n in self.brokers:
            (self._work / f"broker-{n}.properties").write_text(self._broker_config(n))
        # One `kafka-storage format` (a JVM start costs seconds on 2 cores), then the same bootstrap
        # metadata for the other brokers with their own meta.properties (node.id, a fresh directory.id).
        first = min(self.brokers)
        argv = self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c",
                          str(self._work / f"broker-{first}.properties"))  # fmt: skip
        with open(self._work / f"format-{first}.log", "wb") as log:
            rc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False).returncode
        if rc != 0:
            raise DataplaneError(f"kafka storage format failed: {self.log(f'format-{first}')[-1500:]}")
        for n in self.brokers:
            if n != first:
                data = self._work / f"data-{n}"
                shutil.copytree(self._work / f"data-{first}", data)
                meta = [
                    f"node.id={n}" if line.startswith("node.id=") else
                    f"directory.id={_kafka_uuid()}" if line.startswith("directory.id=") else line
                    for line in (data / "meta.properties").read_text().splitlines()
                ]  # fmt: skip
                (data / "meta.properties").write_text("\n".join(meta) + "\n")
        for n, ns in self._broker_ns.items():
            argv = self._java("kafka.Kafka", str(self._work / f"broker-{n}.properties"))
            self._procs[f"kafka-{n}"] = self.vnet.popen(ns, argv, log=self._work / f"kafka-{n}.log")
        deadline = time.monotonic() + timeout
        for n, ns in self._broker_ns.items():
            try:
                wait_listening(self.vnet, ns, self._broker_ips[n], _INTERNAL_PORT, timeout=max(1.0, deadline - time.monotonic()))
            except DataplaneError as exc:
                raise DataplaneError(f"{exc}\n{self.log(f'kafka-{n}')[-3000:]}") from exc
        # Every broker registered and unfenced: a topic with replication factor = brokers can be created.
        bootstrap = ",".join(f"{ip}:{_INTERNAL_PORT}" for ip in self._broker_ips.values())
        code = (
            "import sys, time\nfrom confluent_kafka.admin import AdminClient\n"
            "admin = AdminClient({'bootstrap.servers': sys.argv[1]})\n"
            "deadline = time.monotonic() + float(sys.argv[3])\n"
            "while time.monotonic() < deadline:\n"
            "    try:\n"
            "        if len(admin.list_topics(timeout=5).brokers) >= int(sys.argv[2]): sys.exit(0)\n"
            "    except Exception:\n        pass\n"
            "    time.sleep(0.2)\n"
            "sys.exit(1)\n"
        )
        left = max(1.0, deadline - time.monotonic())
        proc = self.vnet.exec(self._broker_ns[first], [sys.executable, "-c", code, bootstrap, str(len(self.brokers)), str(left)],
                              timeout=left + 10)  # fmt: skip
        if proc.returncode != 0:
            raise DataplaneError(f"the Kafka brokers did not all register within {timeout} s: {proc.stderr[-500:]}")

    def stop_broker(self, node_id: int) -> None:
        self._stop(f"kafka-{node_id}")

    def log(self, name: str) -> str:
        """Output of `kafka-N`, `format-N` or `sni-azN`, for failure messages."""
        path = self._work / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _stop(self, name: str) -> None:
        proc = self._procs.pop(name, None)
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def close(self) -> None:
        for name in list(self._procs):
            proc = self._procs.pop(name)
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        for ns in [*self._ns.values(), *self._broker_ns.values(), *([self._cc.ns] if hasattr(self, "_cc") else [])]:
            self.vnet.remove_member(ns)
        self._ns.clear()
        self._broker_ns.clear()
        shutil.rmtree(self._work, ignore_errors=True)
