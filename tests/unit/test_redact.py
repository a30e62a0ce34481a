"""cloud.redact: no credential survives into a text the operator shows (conditions, Events, log lines)."""

from __future__ import annotations

import logging
import secrets

import pytest
import requests
from azure.core.credentials import AccessToken

from transit_operator.cloud.errors import classify
from transit_operator.cloud.redact import (
    REDACTED,
    RedactingCredential,
    install_log_redaction,
    register_secret,
    scrub,
    scrub_tree,
)


def canary() -> str:
    return f"canary-{secrets.token_hex(12)}"


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        pytest.param("Authorization: Bearer abc.def-ghi", "abc.def-ghi", id="bearer-header"),
        pytest.param("{'Authorization': 'Basic dXNlcjpwYXNz'}", "dXNlcjpwYXNz", id="basic-in-a-dict-repr"),
        pytest.param('"client_secret": "s3cr3t-value"', "s3cr3t-value", id="client-secret-json"),
        pytest.param("token=opaque-thing&x=1", "opaque-thing", id="token-query"),
        pytest.param("password: hunter2hunter2", "hunter2hunter2", id="password"),
        pytest.param("got dapi0123456789abcdef0123456789abcdef-2 back", "0123456789abcdef0123456789abcdef",
                     id="databricks-pat"),
        pytest.param("id eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl end", "eyJzdWIiOiJ4In0", id="jwt"),
    ],
)
def test_credential_shapes_are_removed_whatever_their_value(text: str, gone: str) -> None:
    assert gone not in scrub(text) and REDACTED in scrub(text)


def test_registered_values_are_removed_raw_stripped_and_escaped() -> None:
    value = canary() + "\n"
    register_secret(value)
    header_error = f"Invalid return character in header value: {('Bearer ' + value)!r}"
    for text in (f"x {value} y", f"x {value.strip()} y", header_error, f"token was {value!r}"):
        assert value.strip() not in scrub(text), text


def test_short_values_are_not_registered_so_words_survive() -> None:
    register_secret("abc")
    assert scrub("abc is a word") == "abc is a word"


def test_ordinary_texts_are_left_alone() -> None:
    text = "InvalidResourceReference: Subnet /subscriptions/x/.../subnets/pe referenced by resource y not found."
    assert scrub(text) == text


def test_a_tree_is_scrubbed_everywhere_and_keys_kept() -> None:
    value = canary()
    register_secret(value)
    tree = {"conditions": [{"message": f"failed with {value}"}], "token": 1, value[:3]: [value]}
    assert value not in repr(scrub_tree(tree)) and set(scrub_tree(tree)) == set(tree)


def test_every_access_token_handed_out_is_registered() -> None:
    value = canary()

    class Issuer:
        def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
            return AccessToken(value, 0)

    assert RedactingCredential(Issuer()).get_token("scope").token == value
    assert value not in scrub(f"echoed {value}")


def test_the_classification_boundary_scrubs_an_http_libraries_header_error() -> None:
    value = canary() + "\n"
    register_secret(value)
    with pytest.raises(requests.exceptions.InvalidHeader) as info:
        requests.get("https://127.0.0.1:1/", headers={"Authorization": f"Bearer {value}"}, timeout=1)
    assert value.strip() in str(info.value)  # the leak this module exists for
    assert value.strip() not in classify(info.value).message


def test_log_records_are_scrubbed_when_made_with_their_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    value = canary()
    register_secret(value)
    install_log_redaction()
    install_log_redaction()  # idempotent
    logger = logging.getLogger("transit-test")
    with caplog.at_level(logging.INFO):
        logger.info("calling with %s", value)
        try:
            raise RuntimeError(f"server echoed Authorization: Bearer {value}")
        except RuntimeError:
            logger.exception("failed")
    assert caplog.records and value not in caplog.text
    assert "RuntimeError" in caplog.text  # the traceback is kept, only the credential goes
