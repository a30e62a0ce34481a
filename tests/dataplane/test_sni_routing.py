"""SNI routing through one transit instance to the emulated Confluent zones (TLS end to end)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from transit_sandbox.confluent_zones import ConfluentZones
from transit_sandbox.dataplane import NetnsExecutor

from .conftest import DOMAIN, VMSS, Client, apply, eventually, render

GLB = "westeurope.azure.glb.confluent.cloud"


@pytest.fixture
def transit(executor: NetnsExecutor, zones: ConfluentZones, client: Client) -> Iterator[str]:
    executor.instance_created(VMSS, "0", None)
    assert apply(executor, "0", render(zones))[1].result == "applied"
    client.point_at(executor.address(VMSS, "0"))
    yield executor.address(VMSS, "0")


@pytest.mark.parametrize(
    ("sni", "expected"),
    [
        pytest.param(f"b0.az1.{DOMAIN}", {"az1"}, id="zone-1-broker"),
        pytest.param(f"b0.az2.{DOMAIN}", {"az2"}, id="zone-2-broker"),
        pytest.param(f"b7.az3.{DOMAIN}", {"az3"}, id="zone-3-broker"),
        pytest.param(f"lkc-other.{DOMAIN}", {"az1", "az2", "az3"}, id="zone-less-any-zone"),
        pytest.param(f"B0.AZ2.{DOMAIN.upper()}", {"az2"}, id="case-insensitive"),
        pytest.param(f"e-0042-az1-n1sandbox.{GLB}", {"az1"}, id="glb-zone-1-broker"),
        pytest.param(f"e-0042-az3-n1sandbox.{GLB}", {"az3"}, id="glb-zone-3-broker"),
        pytest.param(f"lkc-other-n1sandbox.{GLB}", {"az1", "az2", "az3"}, id="glb-zone-less-any-zone"),
    ],
)
def test_sni_reaches_the_right_zone(transit: str, client: Client, sni: str, expected: set[str]) -> None:
    assert client.tls(sni, connect_to=transit)[sni] in expected


@pytest.mark.parametrize(
    "sni",
    [
        pytest.param("kafka.evil.example.com", id="outside-domain"),
        pytest.param(f"{DOMAIN}.evil.example.com", id="domain-as-prefix"),
        pytest.param(f"e-0001-az1-othernet.{GLB}", id="glb-name-of-another-network"),
        pytest.param("-", id="no-sni"),
    ],
)
def test_unknown_sni_is_rejected(transit: str, client: Client, sni: str) -> None:
    assert client.tls(sni, connect_to=transit)[sni].startswith("ERR:")


def test_non_tls_is_rejected(transit: str, client: Client) -> None:
    assert client.tls("plain", connect_to=transit)["plain"] == "PLAIN:b''"


def test_zone_down_falls_back_to_another_zone_and_comes_back(
    transit: str, client: Client, zones: ConfluentZones
) -> None:
    sni = f"b0.az2.{DOMAIN}"
    zones.stop_zone("az2")
    try:
        # Health checks: 3 failures 2 s apart mark it down; then the first backup (az3) serves it.
        eventually(lambda: client.tls(sni, connect_to=transit)[sni] == "az3", timeout=12)
    finally:
        zones.start_zone("az2")
    eventually(lambda: client.tls(sni, connect_to=transit)[sni] == "az2", timeout=10)
