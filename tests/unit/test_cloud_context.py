"""CloudContext construction from `transit-operator run` flags."""

from __future__ import annotations

import argparse

from transit_operator.cloud.context import PUBLIC_ARM_URL, CloudContext, StaticTokenCredential
from transit_operator.cloud.redact import RedactingCredential
from transit_operator.runtime.options import add_run_arguments


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return parser.parse_args(list(argv))


def test_sandbox_flags_and_token_give_a_static_credential() -> None:
    args = parse("--arm-endpoint", "https://127.0.0.1:8443/", "--ca-bundle", "/ca.pem",
                 "--databricks-host", "https://127.0.0.1:8443/databricks")
    ctx = CloudContext.from_options(args, environ={"TRANSIT_ARM_TOKEN": "t0k"})
    assert isinstance(ctx.credential, StaticTokenCredential)
    assert ctx.credential.get_token("scope").token == "t0k"
    assert (ctx.arm_url, ctx.ca_bundle) == ("https://127.0.0.1:8443", "/ca.pem")
    assert ctx.databricks_host == "https://127.0.0.1:8443/databricks" and ctx.databricks_token == "t0k"


def test_without_flags_the_public_cloud_and_default_credential_are_used() -> None:
    ctx = CloudContext.from_options(parse(), environ={"TRANSIT_ARM_TOKEN": "ignored-without-endpoint"})
    assert ctx.arm_url == PUBLIC_ARM_URL
    assert isinstance(ctx.credential, RedactingCredential)
    assert type(ctx.credential.wrapped).__name__ == "DefaultAzureCredential"
    assert ctx.databricks_token is None


def test_clients_are_cached_per_subscription() -> None:
    ctx = CloudContext.for_sandbox("https://127.0.0.1:1", "/ca.pem", "t")
    assert ctx.network("sub-a") is ctx.network("SUB-A")
    assert ctx.network("sub-a") is not ctx.network("sub-b")
    assert ctx.privatedns("sub-a") is not ctx.network("sub-a")
