"""databricks-sdk against an HTTPS host with its own CA: trusted through the CA bundle, and an untrusted
certificate fails at once instead of being retried as a connection error for the SDK's retry timeout."""

from __future__ import annotations

import os
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
        monkeypatch.setenv(var, "")  # recorded, so what build_account_client sets is undone afterwards
        monkeypatch.delenv(var)


def test_the_context_ca_bundle_is_trusted_by_the_account_client(cloud: SandboxCloud) -> None:
    ctx = CloudContext.for_sandbox(cloud.arm_url, cloud.ca_bundle, cloud.token, cloud.databricks_url)
    account = DatabricksAccount(ctx.databricks(cloud.databricks_url, cloud.databricks.account_id, None))
    assert account.observe_ncc(name="absent") is None
    assert os.environ["REQUESTS_CA_BUNDLE"] == cloud.ca_bundle  # for the SDK's host-metadata probe


@pytest.mark.parametrize("trust", ["system", "another-ca"])
def test_an_untrusted_certificate_fails_at_once_naming_the_host(
        cloud: SandboxCloud, tmp_path: Path, trust: str) -> None:
    ca_bundle = None if trust == "system" else str(create_certificates(tmp_path).ca_pem)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.SSLError, match="is not trusted by"):
        build_account_client(cloud.databricks_url, cloud.databricks.account_id, {"token": cloud.token},
                             ca_bundle=ca_bundle)
    assert time.monotonic() - started < 5


def test_api_calls_do_not_retry_ssl_errors(
        cloud: SandboxCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = build_account_client(cloud.databricks_url, cloud.databricks.account_id, {"token": cloud.token},
                                  ca_bundle=cloud.ca_bundle)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(create_certificates(tmp_path).ca_pem))  # trust now broken
    started = time.monotonic()
    with pytest.raises(requests.exceptions.SSLError):
        list(client.network_connectivity.list_network_connectivity_configurations())
    assert time.monotonic() - started < 5
