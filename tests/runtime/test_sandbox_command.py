"""`transit-operator sandbox` applies files to the emulated cluster and reports readiness (with a test-double
reconciler: the real ones and the sandbox cloud are exercised by the end-to-end tests)."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

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
