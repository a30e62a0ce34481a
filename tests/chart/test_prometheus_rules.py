"""The chart's alerts and Grafana dashboard: `promtool check rules` and `promtool test rules` on the rules the
chart renders, and every series they read is one the operator exports, with those labels."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from transit_operator.runtime.metrics import Metrics

from .conftest import CHART, REPO, Rendered

RULES_TEST = Path(__file__).with_name("prometheus-rules-test.yaml")
DASHBOARD = CHART / "files" / "grafana-dashboard.json"
SERIES = re.compile(r"\b(transit_operator_\w+)(?:\{([^}]*)\})?")


@pytest.fixture(scope="session")
def promtool() -> str:
    path = REPO / ".tools" / "bin" / "promtool"
    found = str(path) if path.is_file() else shutil.which("promtool")
    if found is None:
        pytest.skip("promtool not found: run `scripts/dev bootstrap` (Debian's prometheus package)")
    return found


def exported() -> dict[str, set[str]]:
    """Series name -> label names, from the operator's registry with one sample of everything."""
    metrics = Metrics()
    metrics.observe("ServerlessTransit", "reconcile", "error", 0.1)
    metrics.cloud_call("GET", "https://management.azure.com/x")
    metrics.arm_response("GET", "https://management.azure.com/x", 429)
    metrics.observe_status("ServerlessTransit", "ns", "name", {
        "conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled"},
                       {"type": "DataPathHealthy", "status": "False", "reason": "HopBroken"}],
        "diagnosis": {"firstBrokenHop": "backends"},
        "ncc": {"connectionState": "ESTABLISHED"},
        "haproxy": {"desiredConfigHash": "h", "instances": [{"instanceId": "0", "appliedConfigHash": "h"}]}})
    series: dict[str, set[str]] = {}
    for line in generate_latest(metrics.registry).decode().splitlines():
        if match := re.fullmatch(r"(\w+)\{(.*)\} \S+", line):
            series.setdefault(match.group(1), set()).update(re.findall(r'(\w+)="', match.group(2)))
    return series


# Labels Prometheus adds when it scrapes the metrics Service (the ServiceMonitor's target labels).
SCRAPE_LABELS = {"job", "namespace", "pod", "instance", "service", "container", "endpoint"}


def read_series(expressions: list[str]) -> list[tuple[str, set[str]]]:
    """(series name, label names used in its matchers) for every series an expression reads."""
    found = []
    for expression in expressions:
        for name, matchers in SERIES.findall(expression):
            found.append((name, set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers or ""))))
    return found


def rendered_rules(render: Callable[..., Rendered]) -> dict[str, Any]:
    return render({"prometheusRule": {"enabled": True}}).one("PrometheusRule")["spec"]


def test_promtool_checks_and_unit_tests_pass_on_the_rendered_rules(
    render: Callable[..., Rendered], promtool: str, tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rendered_rules(render)))
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    check = subprocess.run([promtool, "check", "rules", "rules.yaml"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 6 rules found" in check.stdout
    test = subprocess.run([promtool, "test", "rules", RULES_TEST.name], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert test.returncode == 0, test.stdout + test.stderr


def test_every_alert_has_a_unit_test() -> None:
    alerts = {rule["alert"] for group in yaml.safe_load((CHART / "files" / "prometheus-rules.yaml").read_text())["groups"]
              for rule in group["rules"]}
    tested = {case["alertname"] for test in yaml.safe_load(RULES_TEST.read_text())["tests"]
              for case in test["alert_rule_test"]}
    assert alerts == tested


@pytest.mark.parametrize("source", ["rules", "rules test input", "dashboard"])
def test_alerts_and_dashboard_read_only_series_and_labels_the_operator_exports(
    render: Callable[..., Rendered], source: str
) -> None:
    if source == "rules":
        expressions = [rule["expr"] for group in rendered_rules(render)["groups"] for rule in group["rules"]]
    elif source == "rules test input":
        expressions = [series["series"] for test in yaml.safe_load(RULES_TEST.read_text())["tests"]
                       for series in test["input_series"]]
    else:
        expressions = [target["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"]
                       for target in panel.get("targets", [])]
    series = exported()
    used = read_series(expressions)
    assert used, f"no transit_operator_* series in the {source}"
    for name, label_names in used:
        assert name in series, f"{source} reads {name}, which the operator does not export ({sorted(series)})"
        assert label_names <= series[name] | SCRAPE_LABELS, f"{source}: {name} has no label {label_names - series[name]}"


def test_rule_for_and_labels_are_set_from_values(render: Callable[..., Rendered]) -> None:
    spec = render({"prometheusRule": {"enabled": True, "for": {"TransitNccRuleNotEstablished": "1h"},
                                      "ruleLabels": {"team": "platform"}, "labels": {"release": "prom"}}}
                  ).one("PrometheusRule")
    rules = {rule["alert"]: rule for group in spec["spec"]["groups"] for rule in group["rules"]}
    assert rules["TransitNccRuleNotEstablished"]["for"] == "1h"
    assert rules["TransitObjectStalled"]["for"] == "10m"
    assert all(rule["labels"] == {"severity": "warning", "team": "platform"} for rule in rules.values())
    assert spec["metadata"]["labels"]["release"] == "prom"


def test_alerts_and_dashboard_are_off_by_default(render: Callable[..., Rendered]) -> None:
    rendered = render()
    assert rendered.of_kind("PrometheusRule") == []
    assert [c for c in rendered.of_kind("ConfigMap") if "grafana_dashboard" in c["metadata"].get("labels", {})] == []


def test_dashboard_configmap_carries_the_json_and_the_sidecar_label(render: Callable[..., Rendered]) -> None:
    (configmap,) = render({"grafanaDashboard": {"enabled": True, "annotations": {"grafana_folder": "Platform"}}}
                          ).of_kind("ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "Platform"}
    (content,) = configmap["data"].values()
    assert json.loads(content) == json.loads(DASHBOARD.read_text())


def test_alerts_need_metrics(render_error: Callable[[dict[str, Any]], str]) -> None:
    assert "prometheusRule.enabled needs metrics.enabled=true" in render_error(
        {"prometheusRule": {"enabled": True}, "metrics": {"enabled": False}})
