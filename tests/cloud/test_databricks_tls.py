"""databricks-sdk against an HTTPS host with its own CA: trusted through the CA bundle, and an untrusted
certificate fails at once instead of being retried as a connection error for the SDK's retry timeout."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from transit_operator.cloud.context import CloudContext
from transit_operator.cloud.databricks import DatabricksAccount, build_account_client
from transit_sandbox.server import SandboxCloud
from transit_sandbox.tls import create_certificates


@pytest.fixture(scope="module")
def cloud() -> Iterator[SandboxCloud]:
    with SandboxCloud() as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def no_ca_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "DATABRICKS_HOST", "DATABRICKS_TOKEN"):
        monkeypatch.delenv(var, raising=False)  # the ambient environment plays no part here


def test_the_context_ca_bundle_is_trusted_by_the_account_client(cloud: SandboxCloud) -> None:
    environ = dict(os.environ)
    cloud.databricks.clear_request_log()
    ctx = CloudContext.for_sandbox(cloud.arm_url, cloud.ca_bundle, cloud.token, cloud.databricks_url)
    client = ctx.databricks(cloud.databricks_url, cloud.databricks.account_id, None)
    # the SDK's host-metadata probe trusted the bundle too: it reached the host and was answered
    probes = [r.status for r in cloud.databricks.requests() if r.path.endswith("/.well-known/databricks-config")]
    assert probes and set(probes) == {200}
    assert client.config.is_azure  # what the probe reads from the host
    assert DatabricksAccount(client).observe_ncc(name="absent") is None
    assert dict(os.environ) == environ  # the bundle is the client's, not the process's


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_stale_ca_in_the_environment_does_not_override_the_client_bundle(
        cloud: SandboxCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    # requests lets these variables override `session.verify` (psf/requests#3829): a bundle left there by
    # someone else (another sandbox, a shell) must not decide what this client trusts.
    monkeypatch.setenv(variable, str(create_certificates(tmp_path).ca_pem))
    started = time.monotonic()
    client = build_account_client(cloud.databricks_url, cloud.databricks.account_id, {"token": cloud.token},
                                  ca_bundle=cloud.ca_bundle)
    assert time.monotonic() - started < 5 and client.config.is_azure
    assert DatabricksAccount(client).observe_ncc(name="absent") is None


@pytest.mark.parametrize("trust", ["system", "another-ca"])
def test_an_untrusted_certificate_fails_at_once_naming_the_host(
        cloud: SandboxCloud, tmp_path: Path, trust: str) -> None:
    ca_bundle = None if trust == "system" else str(create_certificates(tmp_path).ca_pem)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.SSLError, match="is not trusted by"):
        build_account_client(cloud.databricks_url, cloud.databricks.account_id, {"token": cloud.token},
                             ca_bundle=ca_bundle)
    assert time.monotonic() - started < 5


def test_api_calls_do_not_retry_ssl_errors(cloud: SandboxCloud, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    shutil.copyfile(cloud.ca_bundle, bundle)
    client = build_account_client(cloud.databricks_url, cloud.databricks.account_id, {"token": cloud.token},
                                  ca_bundle=str(bundle))
    # Trust now broken: the bundle is read when the client connects.
    shutil.copyfile(create_certificates(tmp_path / "other").ca_pem, bundle)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.SSLError):
        list(client.network_connectivity.list_network_connectivity_configurations())
    assert time.monotonic() - started < 5
