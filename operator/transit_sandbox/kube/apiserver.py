"""A real Kubernetes API server (kube-apiserver + etcd, built from Go modules by `tools/kube/build.sh`) on
loopback, with no kubelet or controller-manager — what controller-runtime's envtest runs under operator tests.

```python
with RealApiServer() as kube:      # a few seconds: etcd, then kube-apiserver until /readyz answers
    kube.kubeconfig                # admin kubeconfig (a static token in group system:masters)
    kube.url                       # https://127.0.0.1:PORT (its CA: kube.ca_pem)
```

What it starts, and why (flags as envtest passes them, `sigs.k8s.io/controller-runtime/pkg/internal/testing/
controlplane/apiserver.go`, plus what this project needs):

- etcd on two free loopback ports with a throw-away data dir and `--unsafe-no-fsync` (test data, speed);
- kube-apiserver on a free loopback port, serving TLS with a throw-away CA (`transit_sandbox.tls`);
  `--authorization-mode=RBAC` so ClusterRoles and RoleBindings are enforced exactly as in a cluster;
  a service-account issuer and signing key, so the TokenRequest API issues tokens for ServiceAccounts
  (`KubeClient.request_token`); an admin identity as a static token file entry in group `system:masters`;
  `--disable-admission-plugins=ServiceAccount` as envtest does (no controller creates the default
  ServiceAccounts here).
- an audit log of every request at `Metadata` level (`audit_events()`: who called which verb on what, and
  the answer's code), so tests can compare what a client really called with what RBAC grants it;
- No controllers run: namespaces stay `Terminating` after a delete (no namespace controller), no garbage
  collection, Deployments create no Pods. Tests isolate by namespace, not by deleting them.

Clean-up: each process runs in its own process group; `stop()` kills the groups and removes the data dir.
It also runs at interpreter exit (`atexit`), on SIGTERM, and — the children get SIGKILL when the Python
process that started them dies (Linux `PR_SET_PDEATHSIG`), even if it is killed with SIGKILL itself.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from transit_sandbox.kube.client import KubeClient, write_kubeconfig
from transit_sandbox.tls import create_certificates

KUBE_VERSION = "v1.35.4"
ETCD_VERSION = "3.6.5"
BIN_ENV = "TRANSIT_KUBE_BIN"
_REPO_TOOLS = Path(__file__).resolve().parents[3] / ".tools" / "bin"
_PR_SET_PDEATHSIG = 1
# Every request at Metadata level (no bodies); RequestReceived is dropped, ResponseStarted kept for watches.
_AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
"""


class KubeBinariesMissing(RuntimeError):
    """kube-apiserver or etcd is not where `find_binaries` looks."""


def find_binaries() -> tuple[Path, Path]:
    """(kube-apiserver, etcd): from `$TRANSIT_KUBE_BIN`, else the repository's `.tools/bin`, else `$PATH`."""
    directories = [Path(os.environ[BIN_ENV])] if os.environ.get(BIN_ENV) else []
    directories.append(_REPO_TOOLS)
    found: dict[str, Path] = {}
    for name in ("kube-apiserver", "etcd"):
        for directory in directories:
            if (directory / name).is_file() and os.access(directory / name, os.X_OK):
                found[name] = directory / name
                break
        else:
            on_path = shutil.which(name)
            if on_path:
                found[name] = Path(on_path)
    missing = [name for name in ("kube-apiserver", "etcd") if name not in found]
    if missing:
        raise KubeBinariesMissing(
            f"{' and '.join(missing)} not found (looked in ${BIN_ENV}, {_REPO_TOOLS}, $PATH): run "
            "`scripts/dev bootstrap`, which builds them from tools/kube with Go")
    return found["kube-apiserver"], found["etcd"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """In the child before exec: SIGKILL when the parent thread dies (Linux; a no-op elsewhere)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class _Registry:
    """Every running server of this process, stopped at exit and on SIGTERM."""

    def __init__(self) -> None:
        self.servers: set[RealApiServer] = set()
        self.lock = threading.Lock()
        self.installed = False

    def add(self, server: RealApiServer) -> None:
        with self.lock:
            self.servers.add(server)
            if not self.installed:
                self.installed = True
                atexit.register(self.stop_all)
                if threading.current_thread() is threading.main_thread() and \
                        signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                    signal.signal(signal.SIGTERM, self._on_sigterm)

    def discard(self, server: RealApiServer) -> None:
        with self.lock:
            self.servers.discard(server)

    def stop_all(self) -> None:
        for server in list(self.servers):
            server.stop()

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.stop_all()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


_REGISTRY = _Registry()


class RealApiServer:
    """etcd + kube-apiserver on loopback (see the module docstring). Context manager, or start()/stop()."""

    def __init__(self, *, startup_timeout: float = 90.0, binaries: tuple[Path, Path] | None = None) -> None:
        self.apiserver_bin, self.etcd_bin = binaries or find_binaries()
        self.startup_timeout = startup_timeout
        self.dir: Path | None = None
        self.port = 0
        self.admin_token = ""
        self._processes: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------ public

    description = f"kube-apiserver {KUBE_VERSION} + etcd {ETCD_VERSION}"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_pem(self) -> Path:
        assert self.dir is not None, "not started"
        return self.dir / "pki" / "ca.pem"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (group `system:masters`)."""
        assert self.dir is not None, "not started"
        return self.dir / "admin.kubeconfig"

    def client(self) -> KubeClient:
        return KubeClient(self.kubeconfig)

    def write_kubeconfig(self, path: str | Path, *, token: str | None = None, namespace: str = "default") -> Path:
        """A kubeconfig for this server: the admin's, or one for `token` (e.g. a ServiceAccount's)."""
        return write_kubeconfig(path, self.url, token or self.admin_token, ca_pem=self.ca_pem, namespace=namespace)

    def __enter__(self) -> RealApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> RealApiServer:
        self.dir = Path(tempfile.mkdtemp(prefix="transit-kube-"))
        _REGISTRY.add(self)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill kube-apiserver and etcd (their process groups) and remove the data dir. Idempotent."""
        with self._lock:
            processes, self._processes = self._processes, []
            for process in reversed(processes):  # the API server first, then etcd
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
            if self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None
        _REGISTRY.discard(self)

    def audit_events(self, username: str | None = None) -> list[dict[str, Any]]:
        """The audit log's events (audit.k8s.io/v1 Event), optionally only those of one user."""
        assert self.dir is not None, "not started"
        path = self.dir / "audit.log"
        events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
        return [e for e in events if username is None or e.get("user", {}).get("username") == username]

    def log(self, name: str = "kube-apiserver") -> str:
        """The last part of a process's log (for failure messages)."""
        if self.dir is None or not (self.dir / f"{name}.log").exists():
            return ""
        return (self.dir / f"{name}.log").read_text(errors="replace")[-4000:]

    # ------------------------------------------------------------------------------------ start

    def _start(self) -> None:
        assert self.dir is not None
        deadline = time.monotonic() + self.startup_timeout
        etcd_url = self._start_etcd()
        self._wait(lambda: self._probe(f"{etcd_url}/health", None) == 200, deadline, "etcd")
        pki = self.dir / "pki"
        certificates = create_certificates(pki)
        signing_key, verifying_key = pki / "service-account.key", pki / "service-account.pub"
        key = ec.generate_private_key(ec.SECP256R1())
        signing_key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
        signing_key.chmod(0o600)
        verifying_key.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo))
        self.admin_token = secrets.token_urlsafe(32)
        tokens = pki / "tokens.csv"
        tokens.write_text(f'{self.admin_token},transit-admin,transit-admin,"system:masters"\n')
        tokens.chmod(0o600)
        (self.dir / "audit-policy.yaml").write_text(_AUDIT_POLICY)
        self.port = free_port()
        self._spawn("kube-apiserver", [
            str(self.apiserver_bin),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.port}",
            f"--cert-dir={pki}", f"--tls-cert-file={certificates.cert_pem}",
            f"--tls-private-key-file={certificates.key_pem}",
            f"--token-auth-file={tokens}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={self.url}",
            f"--service-account-key-file={verifying_key}", f"--service-account-signing-key-file={signing_key}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true",
            "--profiling=false",
            f"--audit-policy-file={self.dir / 'audit-policy.yaml'}", f"--audit-log-path={self.dir / 'audit.log'}",
            "--audit-log-mode=blocking",
        ])
        self.write_kubeconfig(self.kubeconfig)
        context = ssl.create_default_context(cafile=str(self.ca_pem))
        self._wait(lambda: self._probe(f"{self.url}/readyz", context) == 200, deadline, "kube-apiserver")

    def _start_etcd(self) -> str:
        assert self.dir is not None
        client_port, peer_port = free_port(), free_port()
        url = f"http://127.0.0.1:{client_port}"
        self._spawn("etcd", [
            str(self.etcd_bin), "--name=transit", f"--data-dir={self.dir / 'etcd'}",
            f"--listen-client-urls={url}", f"--advertise-client-urls={url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=transit=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync", "--log-level=warn",
        ])
        return url

    def _spawn(self, name: str, argv: list[str]) -> None:
        assert self.dir is not None
        log = (self.dir / f"{name}.log").open("wb")
        main_thread = threading.current_thread() is threading.main_thread()
        # PDEATHSIG fires when the *thread* that forked exits: only safe from the main thread.
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, preexec_fn=die_with_parent if main_thread else None)
        log.close()
        with self._lock:
            self._processes.append(process)

    def _wait(self, ready: Callable[[], bool], deadline: float, name: str) -> None:
        while not ready():
            exited = [p for p in self._processes if p.poll() is not None]
            if exited or time.monotonic() > deadline:
                why = f"exited with {exited[0].returncode}" if exited else f"not ready in {self.startup_timeout:g}s"
                raise RuntimeError(f"{name} {why}; its log ends with:\n{self.log(name)}")
            time.sleep(0.1)

    def _probe(self, url: str, context: ssl.SSLContext | None) -> int | None:
        headers = {"Authorization": f"Bearer {self.admin_token}"} if context is not None else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), context=context,
                                        timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return None

