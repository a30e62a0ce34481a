"""Fixtures for every test folder: Kubernetes API servers, reached only through the Kubernetes API.

- `real_kube_server` (session): one real kube-apiserver + etcd for the whole test session
  (`transit_sandbox.kube.RealApiServer`, binaries from `scripts/dev bootstrap`). When they are not built,
  tests using it are skipped with the reason — unless `TRANSIT_REQUIRE_REAL_KUBE=1` (set by `.ci/run`),
  which makes them fail: CI must run this tier.
- `fresh_real_kube_server`: a real server for one test alone (an empty cluster; same skip/fail rule).
- `kube_server`: parametrized over both API servers — a fresh embedded emulator per test (`[embedded]`),
  or the session's real server (`[real]`, marked `real_kube`). Tests on the shared real server isolate
  by namespace (`kube_namespace`), never by deleting cluster-scoped objects other tests may use.
- `cluster`: a `transit_sandbox.kube.KubeClient` (the `Cluster` protocol) for `kube_server`'s admin.
- `kube_namespace`: a fresh namespace on `kube_server`, named after the test; `real_kube_namespace` the
  same on `real_kube_server`.
- `kubectl`: runs the real `kubectl` against a kubeconfig (`kubectl(*args, kubeconfig=..., stdin=...)`).

Other helpers (e.g. chart upgrade tests) can take `real_kube_server` directly: it is one server per
session, so install cluster-scoped objects idempotently (apply) and keep tests apart by namespace.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from transit_sandbox.kube import KubeBinariesMissing, KubeClient, KubeEmulator, KubeServer, RealApiServer

REPO = Path(__file__).resolve().parents[1]
REQUIRE_REAL_KUBE = "TRANSIT_REQUIRE_REAL_KUBE"
KUBE_SERVERS = [pytest.param("embedded", id="embedded"),
                pytest.param("real", id="real", marks=pytest.mark.real_kube)]

KubectlRunner = Callable[..., subprocess.CompletedProcess[str]]


def new_real_kube_server() -> RealApiServer:
    """A RealApiServer (not started), or skip with the reason — fail under TRANSIT_REQUIRE_REAL_KUBE=1."""
    try:
        return RealApiServer()
    except KubeBinariesMissing as exc:
        if os.environ.get(REQUIRE_REAL_KUBE) == "1":
            pytest.fail(f"{REQUIRE_REAL_KUBE}=1 but {exc}")
        pytest.skip(f"real kube-apiserver tier skipped: {exc}")


@pytest.fixture(scope="session")
def real_kube_server() -> Iterator[RealApiServer]:
    with new_real_kube_server() as server:
        yield server


@pytest.fixture
def fresh_real_kube_server() -> Iterator[RealApiServer]:
    """A real API server of this test's own (a few seconds to start): for tests that need a whole empty
    cluster, e.g. a cluster-wide operator that must not see other tests' objects."""
    with new_real_kube_server() as server:
        yield server


@pytest.fixture(params=KUBE_SERVERS)
def kube_server(request: pytest.FixtureRequest) -> Iterator[KubeServer]:
    if request.param == "real":
        yield request.getfixturevalue("real_kube_server")
        return
    with KubeEmulator() as emulator:
        yield emulator


@pytest.fixture
def cluster(kube_server: KubeServer) -> Iterator[KubeClient]:
    client = kube_server.client()
    yield client
    client.close()


def namespace_for(request: pytest.FixtureRequest) -> str:
    """A namespace name unique to this test (an RFC 1123 label)."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    return f"{stem}-{secrets.token_hex(3)}"


@pytest.fixture
def kube_namespace(request: pytest.FixtureRequest, cluster: KubeClient) -> str:
    name = namespace_for(request)
    cluster.ensure_namespace(name)
    return name


@pytest.fixture
def real_kube_namespace(request: pytest.FixtureRequest, real_kube_server: RealApiServer) -> str:
    """A fresh namespace on the session's real server (for tests that use only the real one)."""
    name = namespace_for(request)
    client = real_kube_server.client()
    client.ensure_namespace(name)
    client.close()
    return name


def find_kubectl() -> str | None:
    bundled = REPO / ".tools" / "bin" / "kubectl"
    return str(bundled) if bundled.is_file() else shutil.which("kubectl")


@pytest.fixture(scope="session")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> KubectlRunner:
    binary = find_kubectl()
    if binary is None:
        pytest.skip("kubectl not found on PATH or in .tools/bin: run `scripts/dev bootstrap`")
    cache = tmp_path_factory.mktemp("kubectl-cache")

    def run(*args: str, kubeconfig: Path, check: bool = True, stdin: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([binary, "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args],
                                input=stdin, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode:
            raise AssertionError(f"kubectl {' '.join(args)}: {result.stderr}")
        return result

    return run
