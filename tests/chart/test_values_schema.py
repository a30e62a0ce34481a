"""values.schema.json and the chart's own checks reject bad values with a message naming the value."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from .conftest import CHART, Rendered


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param(
            {"replicaCount": -1}, "at '/replicaCount': minimum: got -1, want 0", id="negative-replicas"
        ),
        pytest.param({"replicaCount": "one"}, "at '/replicaCount'", id="replicas-not-a-number"),
        pytest.param(
            {"logging": {"format": "xml"}},
            "at '/logging/format': value must be one of 'text', 'json'",
            id="unknown-log-format",
        ),
        pytest.param({"logging": {"level": "trace"}}, "at '/logging/level'", id="unknown-log-level"),
        pytest.param({"watch": {"namespaces": ["team-*"]}}, "at '/watch/namespaces/0'", id="namespace-glob"),
        pytest.param(
            {"watch": {"namespaces": ["a", "a"]}}, "at '/watch/namespaces'", id="duplicate-namespace"
        ),
        pytest.param({"healthPort": 0}, "at '/healthPort'", id="health-port-zero"),
        pytest.param({"metrics": {"port": 70000}}, "at '/metrics/port'", id="metrics-port-out-of-range"),
        pytest.param({"maxWorkers": 0}, "at '/maxWorkers'", id="no-workers"),
        pytest.param(
            {"peering": {"enabled": True, "name": "Not_A_Name"}},
            "at '/peering/name'",
            id="peering-name-not-dns",
        ),
        pytest.param(
            {"image": {"repository": "r", "digest": "latest"}}, "at '/image/digest'", id="bad-digest"
        ),
        pytest.param(
            {"image": {"repository": "r", "pullPolicy": "Sometimes"}},
            "at '/image/pullPolicy'",
            id="bad-pull-policy",
        ),
        pytest.param(
            {"azure": {"workloadIdentity": {"clientId": "my-identity"}}},
            "at '/azure/workloadIdentity/clientId'",
            id="client-id-not-a-guid",
        ),
        pytest.param(
            {"azure": {"armEndpoint": "http://management.azure.com"}},
            "at '/azure/armEndpoint'",
            id="arm-endpoint-not-https",
        ),
        pytest.param(
            {"podSecurityContext": {"runAsUser": 0}}, "at '/podSecurityContext/runAsUser'", id="root-uid"
        ),
        pytest.param(
            {"podSecurityContext": {"readOnlyRootFilesystem": False}},
            "'readOnlyRootFilesystem' not allowed",
            id="hardening-is-not-a-value",
        ),
        pytest.param(
            {"resources": {"requests": {"cpu": "lots"}, "limits": {}}},
            "at '/resources/requests/cpu'",
            id="bad-quantity",
        ),
        pytest.param(
            {"replicas": 2}, "additional properties 'replicas' not allowed", id="unknown-top-level-key"
        ),
        pytest.param(
            {"metrics": {"serviceMonitor": {"interval": "often"}}},
            "at '/metrics/serviceMonitor/interval'",
            id="bad-duration",
        ),
        pytest.param({"extraArgs": ["run"]}, "at '/extraArgs/0'", id="extra-arg-not-a-flag"),
    ],
)
def test_schema_rejects_bad_value_with_its_path(
    render_error: Callable[[dict[str, Any]], str], values: dict[str, Any], message: str
) -> None:
    error = render_error(values)
    assert "values don't meet the specifications of the schema" in error
    assert message in error, error


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param(
            {"replicaCount": 3, "peering": {"enabled": False, "name": "x"}},
            "every replica would reconcile the same objects",
            id="replicas-without-peering",
        ),
        pytest.param(
            {"watch": {"namespaces": ["a"]}, "rbac": {"secretNamespaces": ["b"]}},
            "rbac.secretNamespaces applies only when watch.namespaces is empty",
            id="secret-namespaces-scoped",
        ),
        pytest.param(
            {"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}},
            "metrics.serviceMonitor.enabled needs metrics.enabled=true",
            id="monitor-without-metrics",
        ),
        pytest.param(
            {"serviceAccount": {"create": False}},
            "serviceAccount.name is required when serviceAccount.create is false",
            id="no-sa-name",
        ),
    ],
)
def test_chart_rejects_inconsistent_values_with_a_reason(
    render_error: Callable[[dict[str, Any]], str], values: dict[str, Any], message: str
) -> None:
    assert message in render_error(values)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"replicaCount": 0}, id="stopped"),
        pytest.param({"replicaCount": 2}, id="standby-replica-with-peering"),
        pytest.param({"podDisruptionBudget": {"maxUnavailable": "50%"}}, id="pdb-percentage"),
        pytest.param(
            {"resources": {"requests": {"cpu": 0.5, "memory": "300Mi"}, "limits": {"memory": "1Gi"}}},
            id="numeric-cpu",
        ),
        pytest.param(
            {"serviceAccount": {"create": False, "name": "existing"}}, id="existing-service-account"
        ),
        pytest.param({"global": {"imageRegistry": "x"}}, id="parent-chart-globals"),
    ],
)
def test_schema_accepts_valid_non_default_values(
    render: Callable[..., Rendered], values: dict[str, Any]
) -> None:
    render(values)


def test_every_default_value_is_described_by_the_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    assert schema["additionalProperties"] is False
    assert set(defaults) <= set(schema["properties"])
