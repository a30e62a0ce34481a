"""The data plane of the sandbox: VMSS instances as network namespaces running real HAProxy.

Pieces (all need root, `ip` and `haproxy`; nothing is created in the host's own network namespace):

- `VNet`: an emulated virtual network. One namespace holds a Linux bridge; every member is a namespace
  with a veth (`eth0`) on that bridge and addresses from the VNet's private range. Namespace names are
  `<tag><pid>n<k>-<role><k>`: the tag is `tx` unless `$TRANSIT_NETNS_PREFIX` (letters, at most 6) says
  otherwise, so parallel runs (several checkouts on one machine) never collide, and
  `remove_stale_namespaces` cleans up after a crashed run of the same tag only. Interfaces are created
  directly inside their namespaces, so none ever exists in the host's.
- `NetnsExecutor`: the ARM emulator's `InstanceExecutor` (see `executor.py`). Each VMSS instance is a VNet
  member running the cloud-init subset the operator uses (`write_files`, `runcmd`); `run_command` runs the
  script with bash inside the instance, parameters as environment variables, like Azure's `RunShellScript`.
  Each instance sees its own `/etc/haproxy`, `/run` and `/usr/local/sbin` (a private mount namespace with
  bind mounts of per-instance directories), so the operator's script uses the real Azure paths, and its own
  host name (a UTS namespace: `<scale set>-<instance id>`).
- Confluent Cloud behind its private endpoints is `confluent_zones.ConfluentZones`; the Databricks
  Serverless client path (DNS, NCC endpoint, Private Link, load balancer) is `client_path`. `VNet.exec`
  runs any command inside a member.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from transit_sandbox.limits import load_yaml

__all__ = [
    "DataplaneError",
    "InstanceBusy",
    "NetnsExecutor",
    "VNet",
    "dataplane_unavailable_reason",
    "iter_prefixed_namespaces",
    "netns_tag",
    "remove_stale_namespaces",
    "wait_listening",
]

_TAG_RE = re.compile(r"^[a-z]{1,6}$")
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


def netns_tag() -> str:
    """The tag every namespace name of this run starts with: `$TRANSIT_NETNS_PREFIX`, else `tx`."""
    tag = os.environ.get("TRANSIT_NETNS_PREFIX", "tx")
    if not _TAG_RE.match(tag):
        raise ValueError(f"TRANSIT_NETNS_PREFIX: {tag!r} is not 1-6 lowercase letters")
    return tag


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
        return f"{netns_tag()}{os.getpid()}n{_counter}"


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
    prefix_re = re.compile(rf"^{netns_tag()}(\d+)n\d+-")
    for ns in _list_namespaces():
        m = prefix_re.match(ns)
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

    def remove_member(self, ns: str, *, silently: bool = False) -> None:
        """Kill what runs in `ns` and remove it. `silently`: as a VM that is gone, whose NIC says nothing
        more - its links go down first, so that no FIN or RST of its dying processes leaves it."""
        if silently:
            for link in _run(["ip", "-n", ns, "-o", "link", "show"], check=False).stdout.splitlines():
                name = link.split(":")[1].strip().split("@")[0]
                if name != "lo":
                    _run(["ip", "-n", ns, "link", "set", name, "down"], check=False)
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
    'set -e; root=$1; hostname "$2"; shift 2; for d in "$@"; do [ "$d" = -- ] && break; '
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

    @property
    def hostname(self) -> str:
        """The VM's host name as its processes see it (its own UTS namespace): `<scale set>-<instance id>`."""
        return f"{self.vmss_id.rsplit('/', 1)[-1][:50]}-{self.instance_id}".lower()


class NetnsExecutor:
    """`InstanceExecutor` whose instances are network namespaces on a `VNet`, running real HAProxy.

    `instance_created` makes the namespace (address from the VNet), gives it its own `/etc/haproxy`,
    `/run` and `/usr/local/sbin`, and runs the cloud-init subset the operator uses (`write_files` with
    plain/base64 content, `runcmd`; `packages` are assumed installed). A customData starting with `#!`
    runs as a script. `run_command` runs the script lines with bash inside the instance, parameters as
    environment variables (what `RunShellScript` does), one command at a time per instance
    (`InstanceBusy` otherwise). `close()` removes every instance (and the VNet if the executor made it, or
    `owns_vnet`).
    """

    def __init__(
        self,
        vnet: VNet | None = None,
        *,
        work_dir: Path | None = None,
        command_timeout: float = 120,
        owns_vnet: bool | None = None,
    ) -> None:
        self._own_vnet = vnet is None if owns_vnet is None else owns_vnet
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

    def hostname(self, vmss_id: str, instance_id: str) -> str:
        """The instance's host name (what HAProxy's `hostname` says on it)."""
        return self._get(vmss_id, instance_id).hostname

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
        wrapper = ["ip", "netns", "exec", inst.ns, "unshare", "--mount", "--uts", "--propagation", "private", "--",
                   "/bin/bash", "-c", _VIEW_SHELL, "view", str(inst.root), inst.hostname, *_VIEW_DIRS, "--",
                   *argv]  # fmt: skip
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


def wait_listening(vnet: VNet, ns: str, host: str, port: int, timeout: float = 10) -> None:
    """Return once a TCP connection to `host:port` from inside `ns` succeeds (DataplaneError after `timeout`)."""
    deadline = time.monotonic() + timeout
    probe = f"exec 3<>/dev/tcp/{host}/{port}"
    while True:
        if vnet.exec(ns, ["/bin/bash", "-c", probe], timeout=5).returncode == 0:
            return
        if time.monotonic() > deadline:
            raise DataplaneError(f"nothing listens on {host}:{port} in {ns} after {timeout} s")
        time.sleep(0.1)


def iter_prefixed_namespaces(prefix: str) -> Iterator[str]:
    """Namespaces whose name starts with `prefix` (tests assert none is left behind)."""
    return (ns for ns in _list_namespaces() if ns.startswith(prefix))
