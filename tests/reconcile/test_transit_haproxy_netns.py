"""The haproxy transit's config rollout on instances that run the real apply script and real HAProxy
(network namespaces, `transit_sandbox.dataplane.NetnsExecutor`): one instance whose `haproxy -c` fails
keeps serving its old config, the others move on, and the status says which and why."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from transit_operator.plan.haproxy_config import CONFIG_PATH, config_hash
from transit_sandbox import conformance
from transit_sandbox.dataplane import NetnsExecutor, dataplane_unavailable_reason, remove_stale_namespaces
from transit_sandbox.server import SandboxCloud

from .transit_haproxy_env import Env

_REASON = dataplane_unavailable_reason()
pytestmark = [
    pytest.mark.netns,
    pytest.mark.slow,
    pytest.mark.skipif(_REASON is not None, reason=f"data-plane tests: {_REASON}"),
]

# Stands in for an instance whose HAProxy refuses the new config: `haproxy -c` fails, anything else is the
# real binary. The instance's /usr/local/sbin is its own and comes first on the apply script's PATH.
_BROKEN_CHECK = """#!/bin/sh
for arg in "$@"; do
  if [ "$arg" = "-c" ]; then echo "[ALERT] (1) : config : simulated check failure" >&2; exit 1; fi
done
exec /usr/sbin/haproxy "$@"
"""


@pytest.fixture(scope="module")
def netns_cloud() -> Iterator[tuple[SandboxCloud, NetnsExecutor]]:
    remove_stale_namespaces()
    with NetnsExecutor() as executor, SandboxCloud(executor=executor, check_conformance=True) as cloud:
        yield cloud, executor
        violations = cloud.admin.take_violations()  # every ARM exchange, judged against the specs
        assert violations == [], conformance.report(violations)


def test_a_failing_haproxy_check_on_one_real_instance_keeps_it_on_the_old_config(
    netns_cloud: tuple[SandboxCloud, NetnsExecutor],
) -> None:
    cloud, executor = netns_cloud
    cloud.admin.set_lro_seconds(None, 0.05)
    env = Env(cloud, executor, "netns-broken-check")  # type: ignore[arg-type]
    env.body["spec"]["haproxy"]["instanceCount"] = 2
    env.until_ready(passes=120)
    old = env.status["haproxy"]["desiredConfigHash"]
    for instance in ("0", "1"):
        assert config_hash(executor.read_file(env.vmss_id, instance, CONFIG_PATH).decode()) == old
        assert executor.haproxy_master_pid(env.vmss_id, instance) is not None
    master = executor.haproxy_master_pid(env.vmss_id, "1")
    rc, _, err = executor.exec(
        env.vmss_id,
        "1",
        [
            "sh",
            "-c",
            f"cat > /usr/local/sbin/haproxy <<'EOF'\n{_BROKEN_CHECK}EOF\nchmod 755 /usr/local/sbin/haproxy",
        ],
    )
    assert rc == 0, err

    env.set_endpoint_ip("az3", "10.20.3.66")
    for _ in range(60):
        env.reconcile()
        applied = env.condition("ConfigApplied")
        if applied.get("reason") == "ConfigApplyFailed" and "in progress" not in applied["message"]:
            break
        time.sleep(0.1)
    new = env.status["haproxy"]["desiredConfigHash"]
    instances = {i["instanceId"]: i for i in env.status["haproxy"]["instances"]}
    assert instances["0"] == {"instanceId": "0", "appliedConfigHash": new}
    assert instances["1"]["appliedConfigHash"] == old
    assert (
        "invalid" in instances["1"]["lastError"] and "simulated check failure" in instances["1"]["lastError"]
    )
    assert config_hash(executor.read_file(env.vmss_id, "1", CONFIG_PATH).decode()) == old
    assert executor.haproxy_master_pid(env.vmss_id, "1") == master  # still serving, never reloaded
    assert config_hash(executor.read_file(env.vmss_id, "0", CONFIG_PATH).decode()) == new
    assert not env.ready
