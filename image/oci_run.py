"""Run the image built by `oci_build` the way the Helm chart's pod runs it, with `runc` (Debian's package).

`runtime_spec()` turns a rendered Deployment (`helm template charts/transit-operator`) and the image config
into an OCI runtime spec (https://github.com/opencontainers/runtime-spec/blob/main/config.md) as a kubelet
and containerd would: the container's `args` after the image's ENTRYPOINT, the pod's user and groups
(`runAsUser`, `runAsGroup`, `fsGroup`), `runAsNonRoot` enforced, `readOnlyRootFilesystem`, capabilities from
containerd's default set minus `drop` plus `add` (none for a non-root process), `allowPrivilegeEscalation:
false` as `noNewPrivileges`, `resources.limits` as cgroup limits, `emptyDir` volumes as tmpfs mounts of their
`sizeLimit`, `configMap`/`secret` volumes as read-only bind mounts of a host directory the caller fills.

Differences from a cluster, on purpose: the container shares the host's network namespace (the sandbox
cloud and the Kubernetes API listen on 127.0.0.1), and there is no seccomp filter (runc applies none unless
given a profile; containerd's RuntimeDefault is a long allow-list not shipped in Debian). The service
account token mount is the caller's to give (`ApiServerAccess.write`: a real API server's TokenRequest
token, its CA and the namespace, with KUBERNETES_SERVICE_HOST/PORT naming the API server on loopback);
against the embedded emulator, which serves plain HTTP, the caller mounts a kubeconfig instead. runc rather
than crun: Debian 12's crun refuses hosts with cgroup v1 controllers plus a cgroup v2 hierarchy ("hybrid
mode"), which runc runs on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

# containerd's default capability set (oci.defaultUnixCaps); Kubernetes' `capabilities.drop/add` edit it.
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
# runc's `spec` defaults: what the container may not see or write under /proc and /sys.
MASKED_PATHS = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
BASE_MOUNTS: list[dict[str, Any]] = [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
]


def parse_quantity(value: str | int | float) -> float:
    """A Kubernetes resource quantity ("512Mi", "100m", "1", "2G") as a number of base units."""
    text = str(value)
    suffixes = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "m": 1e-3}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", text)
    if match is None or (match.group(2) and match.group(2) not in suffixes):
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    return float(match.group(1)) * suffixes.get(match.group(2), 1)


def _user_and_group(image_user: str) -> tuple[int | None, int | None]:
    uid, _, gid = image_user.partition(":")
    return (int(uid) if uid.isdigit() else None, int(gid) if gid.isdigit() else None)


SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass(frozen=True)
class ApiServerAccess:
    """What the kubelet gives a pod that mounts its service account token: a directory holding `token`,
    `ca.crt` and `namespace` (mounted at SERVICE_ACCOUNT_DIR), and the API server's address in
    KUBERNETES_SERVICE_HOST/PORT. In-cluster clients (kopf, the kubernetes client) log in with these."""

    directory: str
    host: str
    port: int

    @classmethod
    def write(cls, directory: Path, *, token: str, ca_crt: bytes, namespace: str, host: str,
              port: int) -> ApiServerAccess:
        """Fill `directory` as the kubelet fills a pod's `kube-api-access-*` projected volume (a TokenRequest
        token, the cluster CA, the pod's namespace; files mode 0644, the volume's `defaultMode: 420`), so a
        container of any uid can read it."""
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)
        for name, content in (("token", token.encode()), ("ca.crt", ca_crt), ("namespace", namespace.encode())):
            (directory / name).write_bytes(content)
            (directory / name).chmod(0o644)
        return cls(str(directory), host, port)


def runtime_spec(image_config: Mapping[str, Any], deployment: Mapping[str, Any], *, rootfs: str,
                 volume_sources: Mapping[str, str] | None = None, extra_env: Mapping[str, str] | None = None,
                 extra_mounts: list[dict[str, Any]] | None = None,
                 api_server: ApiServerAccess | None = None) -> dict[str, Any]:
    """The OCI runtime spec for the Deployment's first container on this image (see the module docstring).
    `api_server`: mount it as the pod's service account (the pod must not opt out of the token mount)."""
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    pod_name = f"{deployment['metadata']['name']}-0"
    config = image_config.get("config") or {}
    pod_security = pod.get("securityContext") or {}
    security = {**pod_security, **(container.get("securityContext") or {})}

    image_uid, image_gid = _user_and_group(config.get("User", ""))
    uid = security.get("runAsUser", image_uid)
    gid = security.get("runAsGroup", image_gid if image_gid is not None else 0)
    if uid is None:
        raise ValueError("the image names no numeric USER and the pod no runAsUser")
    if security.get("runAsNonRoot") and uid == 0:
        raise ValueError("runAsNonRoot: the container would run as root (the kubelet refuses to start it)")
    groups = [g for g in (pod_security.get("fsGroup"), *(pod_security.get("supplementalGroups") or [])) if g is not None]

    capabilities = set(DEFAULT_CAPABILITIES)
    caps = security.get("capabilities") or {}
    dropped = {f"CAP_{c}" for c in caps.get("drop") or []}
    capabilities = set() if "CAP_ALL" in dropped else capabilities - dropped
    capabilities |= {f"CAP_{c}" for c in caps.get("add") or []}
    bounding = sorted(capabilities)
    held = bounding if uid == 0 else []  # a non-root process holds none (no ambient capabilities)

    env = dict(e.split("=", 1) for e in config.get("Env") or [])
    field_values = {"metadata.name": pod_name, "metadata.namespace": deployment["metadata"].get("namespace", "default")}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif "fieldRef" in (item.get("valueFrom") or {}):
            env[item["name"]] = field_values[item["valueFrom"]["fieldRef"]["fieldPath"]]
    env.update(extra_env or {})

    volumes = {volume["name"]: volume for volume in pod.get("volumes") or []}
    mounts = [dict(m) for m in BASE_MOUNTS]
    for mount in container.get("volumeMounts") or []:
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            options = ["nosuid", "nodev", "mode=1777"]
            if size := (volume["emptyDir"] or {}).get("sizeLimit"):
                options.append(f"size={int(parse_quantity(size))}")
            mounts.append({"destination": mount["mountPath"], "type": "tmpfs", "source": "tmpfs", "options": options})
        elif "configMap" in volume or "secret" in volume:
            source = (volume_sources or {})[mount["name"]]
            mounts.append({"destination": mount["mountPath"], "type": "bind", "source": source,
                           "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]})
        else:
            raise ValueError(f"volume {mount['name']}: only emptyDir, configMap and secret volumes are supported")
    if api_server is not None:
        if pod.get("automountServiceAccountToken") is False:
            raise ValueError("the pod opts out of the service account token mount")
        env.update(KUBERNETES_SERVICE_HOST=api_server.host, KUBERNETES_SERVICE_PORT=str(api_server.port))
        mounts.append({"destination": SERVICE_ACCOUNT_DIR, "type": "bind", "source": api_server.directory,
                       "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]})
    mounts += extra_mounts or []

    limits = (container.get("resources") or {}).get("limits") or {}
    resources: dict[str, Any] = {"devices": [{"allow": False, "access": "rwm"}]}
    if "memory" in limits:
        resources["memory"] = {"limit": int(parse_quantity(limits["memory"]))}
    if "cpu" in limits:
        period = 100_000
        resources["cpu"] = {"period": period, "quota": int(parse_quantity(limits["cpu"]) * period)}

    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": uid, "gid": gid, "additionalGids": groups},
            "args": [*(container.get("command") or config.get("Entrypoint") or []),
                     *(container.get("args") or config.get("Cmd") or [])],
            "env": [f"{k}={v}" for k, v in env.items()],
            "cwd": config.get("WorkingDir") or "/",
            "capabilities": {"bounding": bounding, "effective": held, "permitted": held, "inheritable": [],
                             "ambient": []},
            "noNewPrivileges": security.get("allowPrivilegeEscalation") is False,
        },
        "root": {"path": rootfs, "readonly": bool(security.get("readOnlyRootFilesystem"))},
        "hostname": pod_name,
        "mounts": mounts,
        "linux": {
            # No "network" namespace: the host's (see the module docstring).
            "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount")],
            "resources": resources,
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
        },
    }


# ---------------------------------------------------------------------------------------------- root fs


def image_parts(layout: Path, tag: str) -> tuple[dict[str, Any], list[Path], str]:
    """(image config, layer blobs bottom-up, manifest digest) of `tag` in an OCI image layout."""
    index = json.loads((layout / "index.json").read_text())
    (descriptor,) = [m for m in index["manifests"]
                     if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag]
    blob = layout / "blobs" / "sha256"
    manifest = json.loads((blob / descriptor["digest"].removeprefix("sha256:")).read_text())
    config = json.loads((blob / manifest["config"]["digest"].removeprefix("sha256:")).read_text())
    layers = [blob / layer["digest"].removeprefix("sha256:") for layer in manifest["layers"]]
    return config, layers, descriptor["digest"]


def unpack(layout: Path, tag: str, cache: Path) -> tuple[dict[str, Any], Path]:
    """The image's root file system under `cache`: all layers but the top one are unpacked once per set of
    layer digests and kept; the root file system is a hard-linked copy of them plus the top layer (the
    operator's, the one that changes with the code), so a code change costs a second, not a full unpack.
    Other versions are removed. Our layers hold no whiteouts, so extracting them in order is their union."""
    config, layers, digest = image_parts(layout, tag)
    lower_key = "-".join(layer.name[:12] for layer in layers[:-1])
    lower = cache / f"lower-{lower_key}"
    if not (lower / ".complete").exists():
        shutil.rmtree(lower, ignore_errors=True)
        (lower / "rootfs").mkdir(parents=True)
        for layer in layers[:-1]:
            _extract(layer, lower / "rootfs")
        (lower / ".complete").touch()
    target = cache / f"image-{digest.removeprefix('sha256:')[:16]}"
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        subprocess.run(["cp", "-al", str(lower / "rootfs"), str(target / "rootfs")], check=True)
        with tarfile.open(layers[-1]) as tar:
            shared = [m.name for m in tar if not m.isdir() and (target / "rootfs" / m.name).exists()]
        if shared:  # writing through a hard link would change the kept lower layers
            raise ValueError(f"the top layer replaces files of the layers below: {shared[:5]}")
        _extract(layers[-1], target / "rootfs")
        (target / ".complete").touch()
    for other in cache.iterdir():
        if other not in (lower, target) and other.is_dir():
            shutil.rmtree(other, ignore_errors=True)
    return config, target / "rootfs"


def _extract(layer: Path, rootfs: Path) -> None:
    with tarfile.open(layer) as tar:
        tar.extractall(rootfs, numeric_owner=True, filter="fully_trusted")


# ---------------------------------------------------------------------------------------------- runc


@dataclass
class Container:
    """One `runc run` of a runtime spec; its stdout and stderr go to `log_path`."""

    name: str
    bundle: Path
    spec: dict[str, Any]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: TextIO | None = field(default=None, repr=False)

    def start(self) -> None:
        self.bundle.mkdir(parents=True, exist_ok=True)
        (self.bundle / "config.json").write_text(json.dumps(self.spec, indent=2))
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(["runc", "run", "--bundle", str(self.bundle), self.name],
                                        stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)

    def state(self) -> dict[str, Any] | None:
        result = subprocess.run(["runc", "state", self.name], capture_output=True, text=True, check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def init_pid(self) -> int:
        """The host pid of the container's process (`transit-operator run`)."""
        for _ in range(100):
            state = self.state()
            if state and state.get("pid"):
                return int(state["pid"])
            time.sleep(0.05)
        raise AssertionError(f"container {self.name} has no pid; log:\n{self.log()}")

    def exec(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run `argv` in the container as its own user, with its (lack of) privileges."""
        user = self.spec["process"]["user"]
        return subprocess.run(["runc", "exec", "--user", f"{user['uid']}:{user['gid']}", "--no-new-privs",
                               self.name, *argv], capture_output=True, text=True, timeout=60, check=False)

    def exited(self) -> int | None:
        """The exit code of `runc run` once the container has stopped, else None."""
        return self.process.poll() if self.process is not None else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (as the kubelet does), SIGKILL after `timeout`, then remove the container."""
        if self.process is not None and self.process.poll() is None:
            subprocess.run(["runc", "kill", self.name, "TERM"], capture_output=True, check=False)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                subprocess.run(["runc", "kill", self.name, "KILL"], capture_output=True, check=False)
                self.process.wait(10)
        subprocess.run(["runc", "delete", "--force", self.name], capture_output=True, check=False)
        if self._log is not None:
            self._log.close()
        return self.process.returncode if self.process is not None else None


def runtime_available() -> str | None:
    """Why containers cannot run here, or None."""
    if os.geteuid() != 0:
        return "runc needs root here (no rootless setup)"
    for tool in ("runc", "mmdebstrap"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (apt-get install {tool}; scripts/dev bootstrap installs it as root)"
    return None
