"""The built image, run with runc as the chart's pod (non-root, read-only root, only the chart's writable
mounts, no capabilities, no new privileges), starts `transit-operator run`, answers /healthz and /metrics and
reconciles the examples against the sandbox cloud — once for each Kubernetes API server:

- `[embedded]`: the embedded emulator (plain HTTP on loopback); the pod gets a kubeconfig for it, the chart is
  rendered with `helm template` and the peering object created as the chart would.
- `[real]`: the session's real kube-apiserver. The chart is `helm install`ed there (watching two namespaces of
  this test's own; the CRDs applied beforehand, `crds.enabled=false`, as on a cluster shared with other
  tests), and the container gets what the kubelet gives a pod: a TokenRequest token of the chart's
  ServiceAccount with the cluster CA and the namespace at /var/run/secrets/kubernetes.io/serviceaccount, and
  KUBERNETES_SERVICE_HOST/PORT naming the API server. The operator logs in through that in-cluster path,
  with exactly the chart's RBAC: the API server's audit log shows its calls as the ServiceAccount, none refused.

The image is built by `image/oci_build.py` (what `scripts/dev image` runs) and run by `image/oci_run.py`.
Needs root, mmdebstrap and runc (`scripts/dev bootstrap` installs them as root); the Debian layer is cached
under ~/.cache/transit-operator, so only the first build is slow (about 2 minutes; later runs rebuild only the
operator's layer, about 30 s)."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from transit_operator.api.crd import render_crds_yaml
from transit_operator.runtime.sandbox import KINDS, example_files, load_documents, prepare_customer_side
from transit_sandbox.executor import ConfigExecutor
from transit_sandbox.kube import KubeClient, KubeEmulator, RealApiServer
from transit_sandbox.operators import peering_crds
from transit_sandbox.server import SandboxCloud

from .conftest import CHART, NAMESPACE, RELEASE, REPO, find_helm

sys.path.insert(0, str(REPO / "image"))

import oci_build
import oci_run

pytestmark = pytest.mark.slow
T = TypeVar("T")
KUBECONFIG_IN_POD = "/var/run/transit-sandbox/kubeconfig"


@dataclass(frozen=True)
class Image:
    built: oci_build.Built
    config: dict[str, Any]
    rootfs: Path


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    reason = oci_run.runtime_available()
    if reason is not None:
        pytest.skip(reason)
    built = oci_build.build(tmp_path_factory.mktemp("oci") / "layout")
    config, rootfs = oci_run.unpack(built.layout, built.tag, oci_build.CACHE / "image-rootfs")
    yield Image(built, config, rootfs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(probe: Callable[[], T | None], timeout: float, what: str, container: oci_run.Container) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if container.exited() is not None:
            raise AssertionError(f"{what}: the container exited ({container.exited()}); log:\n{container.log()[-6000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s; container log:\n{container.log()[-6000:]}")
        time.sleep(0.5)


def http_get(url: str) -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except OSError:
        return None


def render_chart(values: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    helm = find_helm()
    if helm is None:
        pytest.skip("helm not found: run `scripts/dev bootstrap`")
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    result = subprocess.run([helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--values",
                             str(values_file)], capture_output=True, text=True, check=True, timeout=60)
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def exposed(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """{(series, labels): value} of a Prometheus text exposition."""
    found = {}
    for match in re.finditer(r"^(\w+)\{(.*)\} (\S+)$", text, re.MULTILINE):
        found[(match.group(1), frozenset(re.findall(r'(\w+)="([^"]*)"', match.group(2))))] = float(match.group(3))
    return found


def status_line(status: str, field: str) -> str:
    return next(line for line in status.splitlines() if line.startswith(f"{field}:"))


def memory_limit(pid: int) -> int:
    """The memory cgroup limit of a process (cgroup v1 here; v2: memory.max)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return int(Path(f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes").read_text())
        if controllers == "" and Path(f"/sys/fs/cgroup{path}/memory.max").exists():
            return int(Path(f"/sys/fs/cgroup{path}/memory.max").read_text())
    raise AssertionError(f"process {pid} is in no memory cgroup")


def ready(obj: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


@dataclass(frozen=True)
class Ports:
    health: int
    metrics: int


@pytest.fixture
def ports() -> Ports:
    return Ports(free_port(), free_port())


@pytest.fixture
def cloud() -> Iterator[SandboxCloud]:
    with SandboxCloud(executor=ConfigExecutor()) as sandbox:
        yield sandbox


def chart_values(cloud: SandboxCloud, ports: Ports, *extra_args: str) -> dict[str, Any]:
    """The chart's values for a pod that reaches the sandbox cloud."""
    return {
        "healthPort": ports.health,
        "metrics": {"port": ports.metrics},
        "azure": {"armEndpoint": cloud.arm_url, "workloadIdentity": {"enabled": False}},
        "caBundle": {"configMap": "sandbox-ca", "key": "ca.crt"},
        # The sandbox cloud finishes in milliseconds what Azure takes minutes for: scale the operator's waits.
        "extraArgs": [f"--databricks-host={cloud.databricks_url}", "--time-scale=0.05", *extra_args],
        "extraEnv": [{"name": "TRANSIT_ARM_TOKEN", "value": cloud.token}],
    }


@dataclass(frozen=True)
class Pod:
    """The chart's pod on one API server: its Deployment, how its container reaches the API server
    (`oci_run.runtime_spec` keywords), and the example CRs applied there."""

    cluster: KubeClient
    deployment: dict[str, Any]
    reaches_api_server: dict[str, Any]
    crs: list[dict[str, Any]]
    server: RealApiServer | None = None
    service_account_user: str = ""


def example_documents(namespace_suffix: str = "") -> list[dict[str, Any]]:
    """The examples (Secrets and CRs), each namespace renamed with the suffix: references are by name in
    the object's own namespace, so renaming them all together keeps them intact."""
    documents = load_documents(example_files())
    for doc in documents:
        doc["metadata"]["namespace"] += namespace_suffix
    return documents


def apply_examples(cluster: KubeClient, cloud: SandboxCloud, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The customer side prepared as `transit-operator sandbox` does it (accounts, workspaces, VNets,
    credentials Secrets), the documents applied; the CRs among them."""
    documents = prepare_customer_side(cloud, cluster, documents)
    for doc in documents:
        cluster.apply(doc)
    return [d for d in documents if d["kind"] in KINDS]


@contextlib.contextmanager
def pod_on_embedded_emulator(cloud: SandboxCloud, ports: Ports, tmp_path: Path) -> Iterator[Pod]:
    with KubeEmulator() as kube:
        cluster = kube.client()
        cluster.install_crds([*yaml.safe_load_all(render_crds_yaml()), *peering_crds()])
        rendered = render_chart(chart_values(cloud, ports, f"--kubeconfig={KUBECONFIG_IN_POD}"), tmp_path)
        for peering in [d for d in rendered if d["kind"] in ("ClusterKopfPeering", "KopfPeering")]:
            cluster.create(peering)  # the chart creates the peering object kopf's mandatory peering waits for
        (deployment,) = [d for d in rendered if d["kind"] == "Deployment"]
        crs = apply_examples(cluster, cloud, example_documents())
        kube_dir = tmp_path / "kube"
        kube.write_kubeconfig(kube_dir / "kubeconfig")
        kube_dir.chmod(0o755)
        (kube_dir / "kubeconfig").chmod(0o644)  # the container's uid is not the owner
        mount = {"destination": str(Path(KUBECONFIG_IN_POD).parent), "type": "bind", "source": str(kube_dir),
                 "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]}
        yield Pod(cluster, deployment, {"extra_mounts": [mount]}, crs)
        cluster.close()


@contextlib.contextmanager
def pod_on_real_api_server(server: RealApiServer, cloud: SandboxCloud, ports: Ports, tmp_path: Path) -> Iterator[Pod]:
    helm = find_helm()
    if helm is None:
        pytest.skip("helm not found: run `scripts/dev bootstrap`")
    suffix = f"-{secrets.token_hex(3)}"
    release, namespace = f"image{suffix}", f"transit-image{suffix}"
    cluster = server.client()
    # The session's server is shared: the CRDs are applied as every real-server test applies them (not
    # owned by this release), and the operator watches only this test's copies of the example namespaces.
    cluster.install_crds([*yaml.safe_load_all(render_crds_yaml()), *peering_crds()])
    documents = example_documents(suffix)
    documents = prepare_customer_side(cloud, cluster, documents)  # the watched namespaces, before their Roles
    watched = sorted({doc["metadata"]["namespace"] for doc in documents})
    values = {**chart_values(cloud, ports), "crds": {"enabled": False}, "watch": {"namespaces": watched}}
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    installed = subprocess.run([helm, "install", release, str(CHART), "--namespace", namespace, "--create-namespace",
                                "--kubeconfig", str(server.kubeconfig), "--values", str(tmp_path / "values.yaml")],
                               capture_output=True, text=True, timeout=120, check=False)
    assert installed.returncode == 0, installed.stderr
    try:
        crs = apply_examples(cluster, cloud, documents)
        (deployment,) = cluster.list_objects("apps/v1", "Deployment", namespace)
        service_account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        access = oci_run.ApiServerAccess.write(
            tmp_path / "serviceaccount", token=cluster.request_token(namespace, service_account),
            ca_crt=server.ca_pem.read_bytes(), namespace=namespace, host="127.0.0.1", port=server.port)
        yield Pod(cluster, deployment, {"api_server": access}, crs, server,
                  f"system:serviceaccount:{namespace}:{service_account}")
    finally:
        subprocess.run([helm, "uninstall", release, "--namespace", namespace, "--kubeconfig", str(server.kubeconfig)],
                       capture_output=True, timeout=120, check=False)
        cluster.close()


@pytest.fixture(params=[pytest.param("embedded", id="embedded"),
                        pytest.param("real", id="real", marks=pytest.mark.real_kube)])
def pod(request: pytest.FixtureRequest, cloud: SandboxCloud, ports: Ports, tmp_path: Path) -> Iterator[Pod]:
    if request.param == "real":
        server = request.getfixturevalue("real_kube_server")
        with pod_on_real_api_server(server, cloud, ports, tmp_path) as on_real:
            yield on_real
        return
    with pod_on_embedded_emulator(cloud, ports, tmp_path) as on_emulator:
        yield on_emulator


def test_image_runs_as_the_charts_pod_and_reconciles_the_examples(
    image: Image, pod: Pod, cloud: SandboxCloud, ports: Ports, tmp_path: Path
) -> None:
    ca_dir = tmp_path / "configmap-sandbox-ca"
    ca_dir.mkdir()
    shutil.copy(cloud.ca_bundle, ca_dir / "ca.crt")
    for directory in (ca_dir, tmp_path):
        directory.chmod(0o755)
    (ca_dir / "ca.crt").chmod(0o644)  # the container's uid is not the owner
    spec = oci_run.runtime_spec(image.config, pod.deployment, rootfs=str(image.rootfs),
                                volume_sources={"ca-bundle": str(ca_dir)}, **pod.reaches_api_server)
    container = oci_run.Container(f"transit-image-{os.getpid()}", tmp_path / "bundle", spec,
                                  tmp_path / "container.log")
    container.start()
    try:
        eventually(lambda: (r := http_get(f"http://127.0.0.1:{ports.health}/healthz")) and r[0] == 200, 90,
                   "/healthz answers 200", container)

        # The process is the chart's: its uid/gid, no capabilities, no new privileges, read-only root.
        status = Path(f"/proc/{container.init_pid()}/status").read_text()
        assert status_line(status, "Uid").split()[1:] == ["65532"] * 4
        assert status_line(status, "Gid").split()[1:] == ["65532"] * 4
        assert status_line(status, "Groups").split()[1:] == ["65532"]
        for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(status_line(status, field).split()[1], 16) == 0, field
        assert status_line(status, "NoNewPrivs").split()[1] == "1"
        assert memory_limit(container.init_pid()) == 512 * 2**20, "the chart's resources.limits.memory"
        cmdline = Path(f"/proc/{container.init_pid()}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        args = pod.deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        assert cmdline[1:] == [b"/opt/venv/bin/transit-operator", b"run", *(arg.encode() for arg in args)]
        denied = container.exec("touch", "/opt/venv/written")
        assert denied.returncode != 0 and "Read-only file system" in denied.stderr
        assert container.exec("touch", "/tmp/written").returncode == 0, "the chart's emptyDir /tmp is writable"

        def all_ready() -> list[dict[str, Any]] | None:
            objects = [pod.cluster.get(d["apiVersion"], d["kind"], d["metadata"]["name"], d["metadata"]["namespace"])
                       for d in pod.crs]
            current = [obj for obj in objects if obj is not None and ready(obj)]
            return current if len(current) == len(pod.crs) else None

        objects = eventually(all_ready, 240, f"all {len(pod.crs)} example objects Ready", container)
        assert {obj["kind"] for obj in objects} == set(KINDS)

        answer = http_get(f"http://127.0.0.1:{ports.metrics}/metrics")
        assert answer is not None and answer[0] == 200
        synced = re.findall(r'^transit_operator_reconcile_total\{kind="(\w+)",operation="reconcile",result="synced"\} '
                            r'([0-9.e+]+)$', answer[1], re.MULTILINE)
        assert {kind for kind, count in synced if float(count) >= 1} == set(KINDS)
        # The series the chart's alerts read, for every example object.
        series = exposed(answer[1])
        for doc in pod.crs:
            meta = doc["metadata"]
            ready_now = {"kind": doc["kind"], "namespace": meta["namespace"], "name": meta["name"],
                         "condition": "Ready", "status": "True", "reason": "Reconciled"}
            assert series.get(("transit_operator_condition", frozenset(ready_now.items()))) == 1.0, meta["name"]
            if doc["kind"] == "ServerlessTransit":
                rule = {"namespace": meta["namespace"], "name": meta["name"], "state": "ESTABLISHED"}
                assert series.get(("transit_operator_ncc_rule", frozenset(rule.items()))) == 1.0, meta["name"]
            if doc["kind"] == "ServerlessTransit" and doc["spec"]["option"] == "haproxy":
                key = frozenset({"namespace": meta["namespace"], "name": meta["name"]}.items())
                instances = series[("transit_operator_haproxy_instances", key)]
                assert instances >= 1 and series[("transit_operator_haproxy_instances_config_applied", key)] == instances
    finally:
        code = container.stop()
    log = container.log()
    assert code == 0, f"transit-operator run exited {code} on SIGTERM; log:\n{log[-6000:]}"
    assert "Traceback" not in log, log[-6000:]

    if pod.server is not None:
        # In-cluster login with the chart's ServiceAccount and nothing more: the API server saw the
        # operator's calls as that ServiceAccount (its status writes among them), and refused none.
        calls = pod.server.audit_events(pod.service_account_user)
        assert {(e["verb"], (e.get("objectRef") or {}).get("subresource")) for e in calls} >= {("patch", "status")}
        refused = [f"{e['verb']} {e['requestURI']}" for e in calls if e.get("responseStatus", {}).get("code") == 403]
        assert refused == [], "the chart's RBAC refused calls the operator made"
