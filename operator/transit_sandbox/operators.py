"""`transit-operator run` as a process of its own, the way a Pod runs it, pointed at the sandbox cloud and a
Kubernetes API through a kubeconfig (for example one holding a ServiceAccount's token): what the chart,
high-availability and hand-over tests and benchmarks start, one process per replica.

```python
with OperatorProcess(["--kubeconfig", path, "--peering", "p", "-n", "team"], cloud=cloud,
                     log=tmp / "a.log", name="replica-a") as replica:
    replica.wait_healthy()
    replica.kill()        # SIGKILL: no clean-up, no goodbye to the peers
```
It runs the installed command by module (`python -m transit_operator run`); the sandbox package itself
still never imports the operator. The cloud is given as `run` takes it in a cluster: `--arm-endpoint`,
`--ca-bundle`, `--databricks-host` and the sandbox's token in `$TRANSIT_ARM_TOKEN`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from transit_sandbox.kube.apiserver import die_with_parent, free_port

ARM_TOKEN_ENV = "TRANSIT_ARM_TOKEN"  # what `transit-operator run` reads the sandbox's ARM token from
PEERING_CRDS = Path(__file__).resolve().parents[2] / "charts" / "transit-operator" / "crds" / "kopf.dev_peerings.yaml"


def peering_crds() -> list[dict[str, Any]]:
    """kopf's ClusterKopfPeering and KopfPeering CRDs, as the chart ships them."""
    return [doc for doc in yaml.safe_load_all(PEERING_CRDS.read_text()) if doc]


def prepare_peering(cluster: Any, namespace: str, name: str = "transit-operator") -> None:
    """What the chart does for replicas watching `namespace`: kopf's peering CRDs and the KopfPeering."""
    cluster.install_crds(peering_crds())
    cluster.ensure_namespace(namespace)
    cluster.apply({"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": name, "namespace": namespace}})


def replica_args(kubeconfig: Path, namespace: str, priority: int, *, peering: str = "transit-operator",
                 lifetime: int | None = None) -> list[str]:
    """`run` flags of one peering replica watching `namespace` (a fixed priority: tests choose who leads)."""
    args = [f"--kubeconfig={kubeconfig}", f"--namespace={namespace}", f"--peering={peering}",
            f"--peering-priority={priority}"]
    return [*args, f"--peering-lifetime={lifetime}"] if lifetime is not None else args


class OperatorProcess:
    """One `transit-operator run` process (see the module docstring)."""

    def __init__(self, args: list[str], *, cloud: Any, log: Path, name: str = "transit-operator",
                 time_scale: float = 0.02, env: dict[str, str] | None = None) -> None:
        self.health_port = free_port()
        self.name = name
        self.log_path = Path(log)
        self.args = [
            *args,
            f"--arm-endpoint={cloud.arm_url}", f"--ca-bundle={cloud.ca_bundle}",
            f"--databricks-host={cloud.databricks_url}",
            # The emulated cloud finishes in milliseconds what Azure takes minutes for: every delay the
            # operator uses (requeues, backoff, drift checks) scaled down.
            f"--time-scale={time_scale:g}",
            f"--health-port={self.health_port}", "--metrics-port=0",
        ]
        # POD_ID is kopf's peering identity (the chart sets it to the pod name).
        self.env = {**os.environ, ARM_TOKEN_ENV: cloud.token, "POD_ID": name, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.kill()

    def start(self) -> OperatorProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            main_thread = threading.current_thread() is threading.main_thread()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "transit_operator", "run", *self.args], stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
                preexec_fn=die_with_parent if main_thread else None)
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=1) as response:
                return int(response.status) == 200
        except (OSError, urllib.error.URLError):
            return False

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Until kopf's liveness endpoint answers (the operator has logged in and started)."""
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if not self.running:
                raise RuntimeError(f"{self.name} exited with {self.process and self.process.returncode}:\n"
                                   f"{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not healthy within {timeout:g}s:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the process group: what a node failure or an OOM kill does. Idempotent."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def terminate(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (what the kubelet sends) and wait; SIGKILL after `timeout`."""
        if self.process is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def leads(self) -> bool:
        """Whether this replica acts: kopf's last word on peering in its log is that it resumed (every
        replica starts paused; a newcomer may resume, then pause when it sees a peer of higher priority)."""
        log = self.log()
        return log.rfind("Resuming operations after the pause") > log.rfind("Pausing operations in favour of")
