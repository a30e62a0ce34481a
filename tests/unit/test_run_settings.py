"""`transit-operator run`'s settings: where credentials may go, the time scale, the token flag/env pair, the
bind address, and what INFO logs carry."""

from __future__ import annotations

import argparse
import logging

import pytest

from transit_operator.cloud.context import DATABRICKS_ACCOUNT_HOSTS, CloudContext, databricks_host
from transit_operator.cloud.errors import HostNotAllowed
from transit_operator.runtime.main import AZURE_HTTP_LOGGER, configure_logging
from transit_operator.runtime.options import add_run_arguments


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize("host", sorted(DATABRICKS_ACCOUNT_HOSTS))
def test_databricks_account_hosts_get_credentials_by_default(host: str) -> None:
    assert databricks_host(f"https://{host}/") == f"https://{host}"
    assert databricks_host(f"https://{host}:443") == f"https://{host}:443"


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://169.254.169.254", id="link-local-metadata"),
        pytest.param("https://127.0.0.1:8443", id="loopback"),
        pytest.param("https://localhost", id="localhost"),
        pytest.param("https://[::1]", id="ipv6-loopback"),
        pytest.param("https://10.0.0.5", id="private-ip"),
        pytest.param("https://accounts.azuredatabricks.net.evil.example.com", id="lookalike"),
        pytest.param("https://accounts.azuredatabricks.net:8443", id="other-port"),
        pytest.param("http://accounts.azuredatabricks.net", id="plain-http"),
        pytest.param("https://u:p@accounts.azuredatabricks.net", id="userinfo"),
        pytest.param("https://accounts.azuredatabricks.net/x", id="path"),
        pytest.param("https://dbc-1234.cloud.databricks.com", id="aws-workspace"),
    ],
)
def test_any_other_host_is_refused_naming_the_field_and_the_flag(url: str) -> None:
    with pytest.raises(HostNotAllowed) as info:
        databricks_host(url)
    assert info.value.field == "spec.databricks.accountHost"
    assert "--allow-databricks-host" in str(info.value) or "is not https://" in str(info.value)


def test_only_the_operator_flag_allows_another_host() -> None:
    args = parse("--allow-databricks-host", "127.0.0.1:8443", "--allow-databricks-host", "https://dbx.example.com")
    ctx = CloudContext.from_options(args, environ={})
    assert databricks_host("https://127.0.0.1:8443", ctx.allowed_databricks_hosts) == "https://127.0.0.1:8443"
    assert databricks_host("https://dbx.example.com", ctx.allowed_databricks_hosts) == "https://dbx.example.com"
    with pytest.raises(HostNotAllowed):  # the port is part of what was allowed
        databricks_host("https://127.0.0.1:9443", ctx.allowed_databricks_hosts)


def test_the_sandbox_context_allows_its_own_databricks_url() -> None:
    ctx = CloudContext.for_sandbox("https://127.0.0.1:1", "/ca.pem", "token-0123456789", "https://127.0.0.1:2")
    assert databricks_host("https://127.0.0.1:2", ctx.allowed_databricks_hosts) == "https://127.0.0.1:2"


def test_the_static_token_is_a_flag_with_an_environment_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSIT_ARM_TOKEN", "from-the-environment")
    assert parse("--arm-endpoint", "https://127.0.0.1:1").arm_token == "from-the-environment"
    assert parse("--arm-token", "from-the-flag").arm_token == "from-the-flag"
    ctx = CloudContext.from_options(parse("--arm-endpoint", "https://127.0.0.1:1", "--arm-token", "t0k-flag"), environ={})
    assert ctx.credential.get_token("scope").token == "t0k-flag"


def test_time_scale_scales_the_sdk_polling_and_is_bounded() -> None:
    assert CloudContext.from_options(parse("--time-scale", "0.01"), environ={}).polling_interval == pytest.approx(0.05)
    for bad in ("0", "-1", "1000", "x"):
        with pytest.raises(SystemExit):
            parse("--time-scale", bad)


def test_bind_address_is_an_ip_address() -> None:
    assert parse().bind_address == "0.0.0.0"
    assert parse("--bind-address", "127.0.0.1").bind_address == "127.0.0.1"
    assert parse("--bind-address", "::1").bind_address == "::1"
    with pytest.raises(SystemExit):
        parse("--bind-address", "localhost")


@pytest.mark.parametrize(("level", "expected"), [("info", logging.WARNING), ("debug", logging.DEBUG)])
def test_info_logs_carry_no_http_requests_and_responses(level: str, expected: int) -> None:
    configure_logging("text", level)
    try:
        http = logging.getLogger(AZURE_HTTP_LOGGER)
        assert http.getEffectiveLevel() == expected
        assert http.isEnabledFor(logging.INFO) is (level == "debug")
    finally:
        configure_logging("text", "warning")
