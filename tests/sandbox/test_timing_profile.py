"""The sandbox's timing profiles (`transit_sandbox.timing`): `realistic` gives every operation Azure's and
Databricks' own duration times one scale factor; an NCC rule turns ESTABLISHED only a while after approval."""

from __future__ import annotations

import pytest

from transit_sandbox.databricks import DatabricksState
from transit_sandbox.server import SandboxCloud
from transit_sandbox.timing import REALISTIC_LRO, REALISTIC_RUN_COMMAND, apply_profile


def test_the_realistic_profile_scales_every_duration_by_one_factor() -> None:
    with SandboxCloud() as cloud:
        default_pe = cloud.arm.lro_seconds.get("microsoft.network/privateendpoints", cloud.arm.default_lro_seconds)
        assert apply_profile(cloud, "fast") == {} and default_pe < 1  # the default: milliseconds
        applied = apply_profile(cloud, "realistic", 0.01)
        for type_, duration in REALISTIC_LRO.items():
            assert cloud.arm.lro_seconds[type_.lower()] == pytest.approx(duration.seconds * 0.01)
            assert duration.source
        assert cloud.arm.run_command_seconds == pytest.approx(REALISTIC_RUN_COMMAND.seconds * 0.01)
        assert cloud.databricks.creating_seconds == pytest.approx(0.6)
        assert cloud.databricks.established_seconds == pytest.approx(0.6)
        assert cloud.arm.retry_after_seconds == 0  # 10 s x 0.01 is below the header's one-second grain
        assert applied["Microsoft.Network/applicationGateways"] == pytest.approx(3.6)
        with pytest.raises(ValueError, match="timing profile"):
            apply_profile(cloud, "slow")
        with pytest.raises(ValueError, match="time scale"):
            apply_profile(cloud, "realistic", 0)


class ApprovedBroker:
    def __init__(self) -> None:
        self.since: float | None = None

    def status(self, target_id: str, connection_name: str) -> str | None:
        return "Approved"

    def approved_since(self, target_id: str, connection_name: str) -> float | None:
        return self.since


@pytest.mark.parametrize(("since", "state"), [(None, "ESTABLISHED"), (10.0, "PENDING"), (61.0, "ESTABLISHED")])
def test_a_rule_turns_established_a_while_after_its_approval(since: float | None, state: str) -> None:
    dbx = DatabricksState(clock=lambda: 1000.0, established_seconds=60.0)
    broker = ApprovedBroker()
    broker.since = since  # None: approved before the emulator knew when (a restart), long ago
    rule = {"create_state": "CREATED", "creation_time": 0, "resource_id": "/pls", "connection_name": "c"}
    assert dbx.connection_state(rule, broker, 1000.0) == state  # type: ignore[arg-type]
