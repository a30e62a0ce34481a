"""`transit-operator sandbox` applies files to the emulated cluster and reports readiness (with a test-double
reconciler: the real ones and the sandbox cloud are exercised by the end-to-end tests)."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from transit_operator.runtime.sandbox import (
    example_files,
    load_documents,
    run_sandbox,
    with_sandbox_credentials,
    workspaces_of,
)

from .doubles import StatusFromSpecDouble


def args(files: list[str] | None, timeout: float = 30.0) -> argparse.Namespace:
    return argparse.Namespace(filename=files, until_ready=True, timeout=timeout, dataplane=False)


def test_examples_are_found_and_ordered_for_applying() -> None:
    files = example_files()
    if not files:
        pytest.skip("no examples with CRs yet")
    kinds = [doc["kind"] for doc in load_documents(files)]
    assert "ServerlessTransit" in kinds
    order = {"Namespace": 0, "Secret": 1, "ConfluentPrivateLink": 2, "ServerlessTransit": 3}
    assert [order[k] for k in kinds] == sorted(order[k] for k in kinds)
    assert all(region and account for region, account in workspaces_of(load_documents(files)).values())
    assert not [f for f in files if "gitops" in f.parts]


@pytest.mark.slow
def test_sandbox_applies_the_examples_and_exits_zero_once_all_are_ready() -> None:
    if not example_files():
        pytest.skip("no examples with CRs yet")
    out = io.StringIO()
    assert run_sandbox(args(None), out=out, reconcilers=StatusFromSpecDouble().reconcilers()) == 0
    assert "all objects are Ready" in out.getvalue()
    assert "export KUBECONFIG=" in out.getvalue()


def test_sandbox_refuses_an_invalid_cr_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [f for f in example_files() if any(d["kind"] == "ServerlessTransit" for d in load_documents([f]))]
    if not files:
        pytest.skip("no examples with CRs yet")
    docs = load_documents([files[0]])
    for doc in docs:
        if doc["kind"] == "ServerlessTransit":
            doc["spec"]["ports"] = []
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump_all(docs))
    assert run_sandbox(args([str(bad)]), out=io.StringIO(), reconcilers=StatusFromSpecDouble().reconcilers()) == 1
    assert "spec.ports" in capsys.readouterr().err


def test_the_credentials_secret_a_transit_names_is_applied_with_the_sandbox_token_only() -> None:
    docs = load_documents(example_files())
    secrets = [d for d in docs if d["kind"] == "Secret"]
    assert secrets, "example 00 holds the credentials Secret"
    applied, replaced = with_sandbox_credentials(docs, "sandbox-token")
    assert replaced == ["data-platform/databricks-account"]
    secret = next(d for d in applied if d["kind"] == "Secret")
    assert secret["stringData"] == {"token": "sandbox-token"} and "data" not in secret
    assert "azure_client_secret" in secrets[0]["stringData"]  # the input is left as is


@pytest.mark.slow
@pytest.mark.real_kube
def test_sandbox_on_a_real_api_server_brings_the_examples_to_ready(real_kube_server: Any) -> None:
    """`transit-operator sandbox --kube real --until-ready`: the whole product (real reconcilers) on a real
    kube-apiserver + etcd the command starts itself (`real_kube_server` only decides skip or fail when the
    binaries are missing); it exits 0 and leaves no process behind."""
    result = subprocess.run([sys.executable, "-m", "transit_operator", "sandbox", "--kube", "real", "--until-ready",
                             "--timeout", "120"], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "(kube-apiserver v1.35.4 + etcd 3.6.5)" in result.stdout
    assert "export KUBECONFIG=" in result.stdout
    assert "all objects are Ready" in result.stdout
    assert orphaned_control_planes() == []


def test_sandbox_with_realistic_timing_reaches_ready_at_the_scaled_pace() -> None:
    """`sandbox --timing realistic --time-scale F`: the cloud takes Azure's durations times F (a VMSS 150 s,
    a run command 20 s, ...) and the operator's waits are scaled alike: the single-zone example reaches Ready,
    no sooner than its critical path at that scale (private endpoint, scale set, run command: 215 s)."""
    example = Path(__file__).resolve().parents[2] / "examples"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "transit_operator", "sandbox", "--until-ready", "--timeout", "150",
                             "--timing", "realistic", "--time-scale", "0.02",
                             "-f", str(example / "00-databricks-credentials-secret" / "secret.yaml"),
                             "-f", str(example / "02-single-zone-haproxy" / "transit.yaml")],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "timing realistic x 0.02: " in result.stdout and "virtualMachineScaleSets 3s" in result.stdout
    assert "all objects are Ready" in result.stdout
    assert time.monotonic() - started > 215 * 0.02


def orphaned_control_planes() -> list[str]:
    """kube-apiserver/etcd processes whose data directory is gone: left behind by a server that was stopped
    (`RealApiServer.stop` removes the directory; servers of other test runs still have theirs)."""
    orphans = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if not argv[0].endswith(("/kube-apiserver", "/etcd")):
            continue
        dirs = [arg.split("=", 1)[1] for arg in argv if arg.startswith(("--cert-dir=", "--data-dir="))]
        if dirs and not Path(dirs[0]).exists():
            orphans.append(" ".join(argv[:2]))
    return orphans
