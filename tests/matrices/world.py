"""One sandbox world for the crash, drift and fault matrices, reached the way a cluster user reaches it.

    World(option[, kube])                  a fresh sandbox cloud (ARM + Databricks, instances answering the
                                           apply script), a Kubernetes API server with the CRDs (an embedded
                                           emulator of its own, or the started real kube-apiserver given),
                                           and a `KubeProxy` in front of it for the operator (writes
                                           trapped, faults injected there)
      .start_operator() -> OperatorProcess `transit-operator run` as a process of its own: `--kubeconfig`
                                           (the proxy's), `--arm-endpoint`, `--ca-bundle`,
                                           `--databricks-host`, `--time-scale 0.01` - its documented flags
                                           (the crash matrix: SIGKILL, start again)
      .start_in_process() -> InProcessOperator   the same runtime in this process, every pass recorded and
                                           drift checks only when kicked (the drift and fault matrices)
      .apply() / .ready() / .delete() / .gone()
      .snapshot()                          what the cloud holds (ids of ARM resources, Databricks objects)

Everything Kubernetes goes through a kubeconfig and the `kubernetes` client (`Cluster`, a `KubeClient`),
never the emulator's Python internals, so the same matrices run against a real kube-apiserver (the
crash matrix's CI sample does). The harness's own requests go straight to the API server; only the operator's pass the proxy.
The examples are the operator's input: a single-zone HAProxy transit (two instances, so a config rollout
has commands in flight on both) and the three-zone Application Gateway transit.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import logging
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from transit_operator.api.crd import render_crds_yaml
from transit_operator.reconcile.outcome import Outcome
from transit_operator.runtime.sandbox import (
    OPTION_EXAMPLES,
    accounts_of,
    condition,
    is_ready,
    load_documents,
    prepare_networks,
    with_sandbox_credentials,
    workspaces_of,
)
from transit_sandbox import operators
from transit_sandbox.executor import ConfigExecutor
from transit_sandbox.kube import ApiError, KubeClient, KubeEmulator, KubeServer, RealApiServer
from transit_sandbox.kube_proxy import KubeProxy
from transit_sandbox.server import SandboxCloud

T = TypeVar("T")
API_VERSION = "transit.privatelink.io/v1alpha1"
CPL, SXT = "ConfluentPrivateLink", "ServerlessTransit"
OPTIONS = tuple(OPTION_EXAMPLES)
TIME_SCALE = 0.01  # `run --time-scale`: the emulated cloud finishes in milliseconds what Azure takes minutes for
LRO_SECONDS = 0.05
RUN_COMMAND = "/runcommand"  # action (`.../runCommand`) and managed (`.../runCommands/...`) alike


def documents(option: str) -> list[dict[str, Any]]:
    """The option's example CRs (ConfluentPrivateLink first), without status; HAProxy with two instances."""
    found = copy.deepcopy(load_documents(OPTION_EXAMPLES[option]))
    for doc in found:
        doc.pop("status", None)
        if doc["kind"] == SXT and doc["spec"].get("haproxy"):
            doc["spec"]["haproxy"]["instanceCount"] = 2
            doc["spec"]["haproxy"]["zones"] = ["1", "2"]
    return found




def wait_for(probe: Callable[[], T | bool | None], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll `probe` until it returns something truthy; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------- Kubernetes

class Cluster(KubeClient):
    """`KubeClient` with what the matrices ask of an object by its document (the CR as applied)."""

    def of(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        meta = doc["metadata"]
        return self.get(doc["apiVersion"], doc["kind"], meta["name"], meta.get("namespace"))

    def delete_doc(self, doc: dict[str, Any]) -> None:
        meta = doc["metadata"]
        try:
            self.delete(doc["apiVersion"], doc["kind"], meta["name"], meta.get("namespace"))
        except ApiError as exc:
            if exc.code != 404:
                raise

    def events(self, namespace: str) -> list[dict[str, Any]]:
        return self.list_objects("v1", "Event", namespace)


# --------------------------------------------------------------------------------------------- operator

class OperatorProcess(operators.OperatorProcess):
    """`transit-operator run` (`transit_sandbox.operators`), spawned *warm*: the interpreter imports what
    `run` needs, then waits for `go()` before calling `transit_operator.cli.main(["run", *args])` - what the
    `transit-operator` command runs - so a restart in a crash point costs the operator's start, not the
    interpreter's imports (seconds on a busy machine). Killed with SIGKILL, as a node failure or an OOM kill
    ends a pod.
    """

    # What `run` imports on its way to the first request (the slow part of a start).
    _PRELOAD = ("transit_operator.cli", "transit_operator.runtime.main", "transit_operator.reconcile.transit",
                "transit_operator.reconcile.confluent", "azure.mgmt.network", "azure.mgmt.compute",
                "azure.mgmt.privatedns", "databricks.sdk", "kopf", "kubernetes.client", "kubernetes.config")
    # After `go`, stdin stays open: when the harness dies without killing it, the pipe's end exits it.
    _BOOT = ("import importlib, os, sys, threading\n"
             "for name in sys.argv[1].split(','): importlib.import_module(name)\n"
             "print('warm', flush=True)\n"
             "if sys.stdin.readline().strip() == 'go':\n"
             "    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(1)), daemon=True).start()\n"
             "    from transit_operator.cli import main\n"
             "    sys.exit(main(sys.argv[2:]))\n")

    def spawn(self) -> OperatorProcess:
        """Start the interpreter and its imports; the operator itself starts at `go()`."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", self._BOOT, ",".join(self._PRELOAD), "run", *self.args],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        return self

    def go(self) -> OperatorProcess:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        self.process.stdin.flush()
        return self

    def start(self) -> OperatorProcess:
        return self.spawn().go()

    def kill(self) -> None:
        super().kill()
        if self.process is not None and self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()


class LogTail(logging.Handler):
    """The last records of kopf's and the operator's loggers (kopf at DEBUG: watch restarts, throttling)."""

    LOGGERS = ("kopf", "transit_operator")

    def __init__(self, size: int = 400) -> None:
        super().__init__(logging.DEBUG)
        self.lines: collections.deque[str] = collections.deque(maxlen=size)
        self.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        self._levels: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record)[:500])

    def attach(self) -> None:
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.DEBUG)
            logger.addHandler(self)

    def detach(self) -> None:
        for name, level in self._levels.items():
            logging.getLogger(name).removeHandler(self)
            logging.getLogger(name).setLevel(level)
        self._levels.clear()


@dataclass
class Pass:
    """One reconcile or finalize pass of one object, as the in-process operator made it (wall clock)."""

    kind: str
    name: str
    operation: str
    started: float
    ended: float = 0.0
    outcome: Outcome | None = None
    error: str | None = None


class InProcessOperator:
    """The operator's runtime and kopf in a thread of this process (the drift and fault matrices): what
    `transit-operator run` runs, with every pass recorded (`passes`) and drift checks only when `kick`ed -
    so "repaired in one pass" can be read off exactly. Logs in to the proxy's URL; Secrets are read with
    the `kubernetes` client through the admin kubeconfig, as `run` reads them."""

    def __init__(self, world: World, *, drift_seconds: float = 3600.0) -> None:
        from transit_operator.cloud.context import CloudContext
        from transit_operator.runtime.driver import Reconcilers, Runtime
        from transit_operator.runtime.main import kubernetes_secret_reader

        assert world.proxy is not None and world.cluster is not None
        self.world = world
        self.passes: list[Pass] = []
        self._lock = threading.Lock()
        context = CloudContext.for_sandbox(world.cloud.arm_url, world.cloud.ca_bundle, world.cloud.token,
                                           world.cloud.databricks_url, polling_interval=0.05)
        context.read_secret = kubernetes_secret_reader(str(world.cluster.kubeconfig))
        real = Reconcilers.load()
        self.runtime = Runtime(context, Reconcilers(
            self._recorded(CPL, "reconcile", real.reconcile_confluent),
            self._recorded(CPL, "finalize", real.finalize_confluent),
            self._recorded(SXT, "reconcile", real.reconcile_transit),
            self._recorded(SXT, "finalize", real.finalize_transit),
        ), tick_seconds=0.2, time_scale=TIME_SCALE, drift_seconds=drift_seconds)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.log = LogTail()

    def log_tail(self, lines: int = 40) -> str:
        """The last log lines of kopf and the operator (for a verdict's problems)."""
        return "\n".join(list(self.log.lines)[-lines:])

    def _recorded(self, kind: str, operation: str, fn: Callable[..., Outcome]) -> Callable[..., Outcome]:
        def run(body: dict[str, Any], *args: Any) -> Outcome:
            record = Pass(kind, (body.get("metadata") or {}).get("name", ""), operation, time.time())
            try:
                record.outcome = fn(body, *args)
                return record.outcome
            except Exception as exc:
                record.error = f"{type(exc).__name__}: {exc}"
                raise
            finally:
                record.ended = time.time()
                with self._lock:
                    self.passes.append(record)
        return run

    def start(self) -> InProcessOperator:
        from transit_operator.runtime.main import build_settings, operate

        assert self.world.proxy is not None
        settings = build_settings(standalone=True)
        kubeconfig = str(self.world.operator_kubeconfig())

        def serve() -> None:
            try:
                asyncio.run(operate(self.runtime, settings, kubeconfig=kubeconfig, stop_flag=self._stop,
                                    ready_flag=self._ready))
            except BaseException as exc:  # surfaced by `wait_ready`
                self.error = exc
                self._ready.set()

        self.log.attach()
        self._thread = threading.Thread(target=serve, name="operator", daemon=True)
        self._thread.start()
        if not self._ready.wait(30) or self.error is not None:
            raise RuntimeError("the in-process operator did not start") from self.error
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        self.log.detach()

    def kick(self, doc: dict[str, Any]) -> float:
        """Make the object's drift check due now (its next tick reconciles it); returns the wall time."""
        now = time.time()
        meta = doc["metadata"]
        self.runtime.kick(doc["kind"], meta.get("namespace"), meta["name"])
        return now

    def passes_of(self, doc: dict[str, Any], since: float) -> list[Pass]:
        """The completed passes of `doc` that started after `since`."""
        with self._lock:
            return [p for p in self.passes if p.kind == doc["kind"] and p.name == doc["metadata"]["name"]
                    and p.started >= since and p.ended]


# --------------------------------------------------------------------------------------------- the cloud

@dataclass(frozen=True)
class Snapshot:
    """What the cloud holds, comparable between runs (resource names are deterministic per CR)."""

    arm: frozenset[tuple[str, str]]  # (lower-cased id, type) of every ARM resource but run commands
    nccs: frozenset[str]  # names of the NCCs
    rules: tuple[str, ...]  # lower-cased target ids of the live (not deactivated) NCC private endpoint rules
    bindings: frozenset[tuple[int, str]]  # (workspace id, NCC name) it is bound to

    def difference(self, other: Snapshot) -> list[str]:
        """What `self` has that `other` has not, and the other way round, in words (empty: the same)."""
        out = [f"extra {t} {i}" for i, t in sorted(self.arm - other.arm)]
        out += [f"missing {t} {i}" for i, t in sorted(other.arm - self.arm)]
        if self.nccs != other.nccs:
            out.append(f"NCCs {sorted(self.nccs)} instead of {sorted(other.nccs)}")
        if sorted(self.rules) != sorted(other.rules):
            out.append(f"live NCC rules to {sorted(self.rules)} instead of {sorted(other.rules)}")
        if self.bindings != other.bindings:
            out.append(f"workspace bindings {sorted(self.bindings)} instead of {sorted(other.bindings)}")
        return out


class World:
    """See the module docstring. A context manager; everything it started is stopped on exit."""

    def __init__(self, option: str, workdir: Path | None = None, kube: KubeServer | None = None) -> None:
        self.option = option
        self.documents = documents(option)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="transit-matrix-")
            workdir = Path(self._tmp.name)
        self.workdir = workdir
        self.executor = ConfigExecutor()
        self.cloud = SandboxCloud(executor=self.executor)
        # The API server: a started one given (a real kube-apiserver of the test's own: the operator watches
        # every namespace), else an embedded emulator of the world's own.
        self._own_kube = kube is None
        self.kube: KubeServer = KubeEmulator() if kube is None else kube
        self.proxy: KubeProxy | None = None
        self.cluster: Cluster | None = None
        self.operators: list[OperatorProcess] = []  # started, in order
        self._spare: OperatorProcess | None = None  # spawned (imports done), not started
        self._spawned = 0
        self.rollout_ip: str | None = None  # the endpoint IP a rollout moves to (crash matrix)
        self.in_process: InProcessOperator | None = None

    def __enter__(self) -> World:
        with contextlib.ExitStack() as stack:
            stack.callback(self.close)
            self.cloud.start()
            if self._own_kube:
                self.kube.start()
            tls = (ssl.create_default_context(cafile=str(self.kube.ca_pem))
                   if isinstance(self.kube, RealApiServer) else None)
            self.proxy = KubeProxy(self.kube.url, ssl_context=tls).start()
            self.cloud.admin.set_lro_seconds(None, LRO_SECONDS)
            self.cluster = Cluster(self.kube.kubeconfig)
            self.cluster.install_crds(list(yaml.safe_load_all(render_crds_yaml())))
            self._prepare_customer_side()
            stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for operator in [*self.operators, *([self._spare] if self._spare else [])]:
            operator.kill()
        if self.in_process is not None:
            self.in_process.stop()
        if self.cluster is not None:
            self.cluster.close()
        if self.proxy is not None:
            self.proxy.stop()
        if self._own_kube:
            self.kube.stop()
        self.cloud.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _prepare_customer_side(self) -> None:
        """What the customer owns before applying the CRs: Databricks accounts and workspaces, VNets and
        subnets, the namespaces (as `transit-operator sandbox` prepares them)."""
        assert self.cluster is not None
        for account_id in accounts_of(self.documents):
            self.cloud.databricks.add_account(account_id)
        for workspace_id, (region, account_id) in workspaces_of(self.documents).items():
            self.cloud.databricks.add_workspace(workspace_id, region, f"ws-{workspace_id}", account_id=account_id)
        prepare_networks(self.cloud, self.documents)
        for namespace in sorted({doc["metadata"]["namespace"] for doc in self.documents}):
            self.cluster.ensure_namespace(namespace)
        self.cloud.admin.clear_requests()
        self.cloud.databricks.clear_request_log()

    # ------------------------------------------------------------------------------------ the operator

    def prewarm(self) -> None:
        """Spawn a spare operator process now, so the first `start_operator` finds its imports done."""
        if self._spare is None:
            self._spare = self._spawn_operator()

    def start_operator(self) -> OperatorProcess:
        """Start `transit-operator run` (a spare process already past its imports, when there is one) and
        spawn the next spare."""
        operator = self._spare or self._spawn_operator()
        operator.go()
        self.operators.append(operator)
        self._spare = self._spawn_operator()
        return operator

    def _spawn_operator(self) -> OperatorProcess:
        assert self.proxy is not None
        kubeconfig = self.operator_kubeconfig()
        self._spawned += 1
        return OperatorProcess([
            f"--kubeconfig={kubeconfig}", "--no-peering", f"--allow-databricks-host={self.cloud.databricks_url}",
            "--log-level=info",
        ], cloud=self.cloud, log=self.workdir / f"operator-{self._spawned}.log", time_scale=TIME_SCALE).spawn()

    def operator_kubeconfig(self) -> Path:
        """The operator's kubeconfig: the proxy's URL, the admin's token (forwarded by the proxy as is)."""
        assert self.proxy is not None
        kubeconfig = self.workdir / "operator.kubeconfig"
        if not kubeconfig.exists():  # written once: a process starting meanwhile may be reading it
            admin = yaml.safe_load(Path(self.kube.kubeconfig).read_text())
            self.proxy.write_kubeconfig(kubeconfig, token=admin["users"][0]["user"]["token"])
        return kubeconfig

    def start_in_process(self, *, drift_seconds: float = 3600.0) -> InProcessOperator:
        """The operator in this process (see `InProcessOperator`)."""
        self.in_process = InProcessOperator(self, drift_seconds=drift_seconds).start()
        return self.in_process

    def kill_operators(self) -> None:
        for operator in self.operators:
            operator.kill()

    # ------------------------------------------------------------------------------------ the CRs

    @property
    def crs(self) -> list[dict[str, Any]]:
        return [doc for doc in self.documents if doc["kind"] in (CPL, SXT)]

    def of_kind(self, kind: str) -> dict[str, Any]:
        return next(doc for doc in self.documents if doc["kind"] == kind)

    def apply(self) -> None:
        assert self.cluster is not None
        for doc in with_sandbox_credentials(self.documents, self.cloud.token)[0]:
            self.cluster.create(doc)

    def get(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        assert self.cluster is not None
        return self.cluster.of(doc)

    def ready(self, timeout: float = 60.0) -> None:
        """Until every CR is Ready at its generation."""
        wait_for(lambda: all(is_ready(self.get(doc)) for doc in self.crs), timeout,
                 f"{self.option}: every object Ready ({self.conditions()})", interval=0.2)

    def delete(self) -> None:
        assert self.cluster is not None
        for doc in self.crs:
            self.cluster.delete_doc(doc)

    def gone(self, timeout: float = 60.0) -> None:
        """Until every CR is gone (the finalizers released)."""
        wait_for(lambda: all(self.get(doc) is None for doc in self.crs), timeout,
                 f"{self.option}: every object deleted ({self.conditions()})", interval=0.2)

    def conditions(self) -> str:
        """Every CR's Ready condition, for failure messages."""
        parts = []
        for doc in self.crs:
            obj = self.get(doc)
            ready = condition(obj, "Ready")
            parts.append(f"{doc['kind']} {doc['metadata']['name']}: "
                         + ("gone" if obj is None else f"{ready.get('reason')}: {ready.get('message')}"))
        return "; ".join(parts)

    def events(self) -> list[dict[str, Any]]:
        assert self.cluster is not None
        return [e for ns in sorted({d["metadata"]["namespace"] for d in self.crs}) for e in self.cluster.events(ns)]

    # ------------------------------------------------------------------------------------ the cloud

    def snapshot(self) -> Snapshot:
        """ARM resources (run commands aside: each execution is its own), NCCs, live rules, bindings."""
        arm = set()
        for doc in self.cloud.admin.resources():
            if RUN_COMMAND not in doc["id"].lower():
                arm.add((doc["id"].lower(), doc["type"]))
        state = self.cloud.databricks
        with state.lock:
            nccs = {ncc_id: ncc["name"] for ncc_id, ncc in state.nccs.items()}
            rules = tuple(sorted(rule["resource_id"].lower() for rule in state.rules.values()
                                 if not rule["deactivated"]))
            bindings = {(wid, nccs.get(ws.get("network_connectivity_config_id") or "", "-"))
                        for wid, ws in state.workspaces.items() if ws.get("network_connectivity_config_id")}
        return Snapshot(frozenset(arm), frozenset(nccs.values()), rules, frozenset(bindings))

    def created_twice(self) -> dict[str, int]:
        """Resources created (PUT answered 201) more than once, and Databricks objects created more than
        once (an NCC by name, a rule by its target), over the world's whole life."""
        puts = Counter(r.path.lower() for r in self.cloud.admin.requests("PUT")
                       if r.status == 201 and RUN_COMMAND not in r.path.lower())
        twice = {path: n for path, n in puts.items() if n > 1}
        creates = Counter(r.path for r in self.cloud.databricks.requests() if r.method == "POST" and r.status == 200)
        twice.update({path: n for path, n in creates.items() if n > 1 and path.endswith("network-connectivity-configs")})
        state = self.cloud.databricks
        with state.lock:
            targets = Counter(rule["resource_id"].lower() for rule in state.rules.values())
        twice.update({f"NCC rules to {target}": n for target, n in targets.items() if n > 1})
        return twice
