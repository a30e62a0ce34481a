"""`transit-operator plan`: the JSON/YAML contract, input handling, and bad input (exit 2, no traceback)."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from transit_operator.cli import main
from transit_operator.plan import command

ROOT = Path(__file__).resolve().parents[2]
THREE_ZONE = ROOT / "examples" / "01-three-zone-haproxy" / "transit.yaml"
SECRET = ROOT / "examples" / "00-databricks-credentials-secret" / "secret.yaml"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["plan", *args])
    out, err = capsys.readouterr()
    return code, out, err


def base_docs() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(THREE_ZONE.read_text()))


def write_docs(tmp_path: Path, docs: list[Any]) -> Path:
    path = tmp_path / "input.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def test_three_zone_example_json_contract(capsys):
    code, out, err = run(capsys, "-f", str(THREE_ZONE), "-o", "json")
    assert (code, err) == (0, "")
    plans = json.loads(out)["plans"]
    assert [(p["kind"], p["namespace"], p["name"]) for p in plans] == [
        ("ConfluentPrivateLink", "data-platform", "confluent-prod"),
        ("ServerlessTransit", "data-platform", "transit-prod"),
    ]
    for plan in plans:
        assert set(plan) == {"kind", "namespace", "name", "azure", "databricks", "files", "waiting"}
        for res in plan["azure"]:
            assert set(res) == {"type", "id", "apiVersion", "body", "dependsOn"}
            assert res["id"].startswith("/subscriptions/")
    types = [r["type"] for p in plans for r in p["azure"]]
    assert types.count("Microsoft.Network/privateEndpoints") == 3
    assert types.count("Microsoft.Network/privateDnsZones") == 1
    assert types.count("Microsoft.Network/privateDnsZones/virtualNetworkLinks") == 1
    assert types.count("Microsoft.Network/privateDnsZones/A") == 4  # *, *.az1, *.az2, *.az3
    for t in ("loadBalancers", "privateLinkServices", "networkSecurityGroups"):
        assert types.count(f"Microsoft.Network/{t}") == 1
    assert types.count("Microsoft.Compute/virtualMachineScaleSets") == 1
    transit = plans[1]
    assert [a["type"] for a in transit["databricks"]] == [
        "networkConnectivityConfig",
        "privateEndpointRule",
        "workspaceBinding",
    ]
    assert transit["databricks"][1]["body"]["resource_id"].endswith(
        "/privateLinkServices/" + transit["azure"][2]["id"].rsplit("/", 1)[-1]
    )
    assert set(transit["files"]) == {"haproxy.cfg", "cloud-init.yaml", "apply-haproxy.sh", "backend-health.sh"}
    assert transit["waiting"] == [] and plans[0]["waiting"] == []


def test_yaml_output_equals_json_output(capsys):
    _, as_json, _ = run(capsys, "-f", str(THREE_ZONE), "-o", "json")
    code, as_yaml, _ = run(capsys, "-f", str(THREE_ZONE), "-o", "yaml")
    assert code == 0
    assert yaml.safe_load(as_yaml) == json.loads(as_json)
    assert "haproxy.cfg: |" in as_yaml  # rendered files stay readable


def test_yaml_is_the_default_output(capsys):
    code, out, _ = run(capsys, "-f", str(THREE_ZONE))
    assert code == 0 and out.startswith("plans:")


def test_reads_stdin_with_dash(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(THREE_ZONE.read_text()))
    code, out, _ = run(capsys, "-f", "-", "-o", "json")
    assert code == 0 and len(json.loads(out)["plans"]) == 2


def test_objects_may_come_from_several_files_and_secrets_are_ignored(capsys, tmp_path):
    cpl, sxt = base_docs()
    first = write_docs(tmp_path, [sxt])
    second = tmp_path / "second.yaml"
    second.write_text(yaml.safe_dump(cpl))
    code, out, _ = run(capsys, "-f", str(SECRET), "-f", str(first), "-f", str(second), "-o", "json")
    assert code == 0
    plans = json.loads(out)["plans"]
    assert [p["kind"] for p in plans] == ["ServerlessTransit", "ConfluentPrivateLink"]
    assert plans[0]["waiting"] == []  # the ConfluentPrivateLink from the other file was found


def test_transit_without_its_confluent_private_link_still_plans_and_says_what_waits(capsys, tmp_path):
    _, sxt = base_docs()
    code, out, _ = run(capsys, "-f", str(write_docs(tmp_path, [sxt])), "-o", "json")
    assert code == 0
    (plan,) = json.loads(out)["plans"]
    assert len(plan["azure"]) == 4
    assert "ConfluentPrivateLink data-platform/confluent-prod (not found)" in plan["waiting"][0]


def test_confluent_private_link_in_another_namespace_is_not_used(capsys, tmp_path):
    cpl, sxt = base_docs()
    cpl["metadata"]["namespace"] = "elsewhere"
    code, out, _ = run(capsys, "-f", str(write_docs(tmp_path, [cpl, sxt])), "-o", "json")
    assert code == 0 and "not found" in json.loads(out)["plans"][1]["waiting"][0]


def test_empty_documents_are_skipped(capsys, tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("---\n" + THREE_ZONE.read_text() + "\n---\n")
    code, out, _ = run(capsys, "-f", str(path), "-o", "json")
    assert code == 0 and len(json.loads(out)["plans"]) == 2


# ---------------------------------------------------------------------------------------------------
# Bad input: exit 2, one line per problem naming file, document, object and field path; never a traceback.
# ---------------------------------------------------------------------------------------------------

Mutation = Callable[[list[dict[str, Any]]], None]


def _set(path: str, value: Any, doc: int = 0) -> Mutation:
    def mutate(docs: list[dict[str, Any]]) -> None:
        node: Any = docs[doc]
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is _DELETE:
            del node[int(last) if isinstance(node, list) else last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


_DELETE = object()
CPL, SXT = 0, 1


def _same_subnets(docs: list[dict[str, Any]]) -> None:
    network = docs[SXT]["spec"]["network"]
    network["privateLinkSubnetId"] = network["frontendSubnetId"]


INVALID = [
    pytest.param(
        _set("spec.confluent.zones.1.privateLinkServiceAlias", "not-an-alias"),
        "document 1 (ConfluentPrivateLink data-platform/confluent-prod): spec.confluent.zones[1].privateLinkServiceAlias",
        id="bad-alias",
    ),
    pytest.param(
        _set("spec.confluent.zones.2", _DELETE),
        "spec.confluent.zones: a Confluent network has 1 or 3 zones, got 2",
        id="two-zones",
    ),
    pytest.param(
        _set("spec.confluent.zones.1.name", "az1"),
        "spec.confluent.zones: zone names must be distinct",
        id="duplicate-zone",
    ),
    pytest.param(
        _set("spec.confluent.zones.0.name", "az4"), "spec.confluent.zones[0].name", id="unknown-zone-name"
    ),
    pytest.param(
        _set("spec.confluent.dnsDomain", "n-abc123.eastus2.internal"),
        "spec.confluent.dnsDomain: top-level domain '.internal' is reserved",
        id="reserved-tld-domain",
    ),
    pytest.param(
        _set("spec.confluent.bootstrapServer", "lkc-1.other.example.com:9092"),
        "spec.confluent: bootstrapServer host",
        id="bootstrap-outside-domain",
    ),
    pytest.param(
        _set("spec.confluent.bootstrapServer", "lkc-1.n-abc123.eastus2.azure.confluent.cloud"),
        "spec.confluent.bootstrapServer",
        id="bootstrap-without-port",
    ),
    pytest.param(_set("spec.confluent.networkId", "abc"), "spec.confluent.networkId", id="bad-network-id"),
    pytest.param(
        _set("spec.azure.subscriptionId", "not-a-guid"), "spec.azure.subscriptionId", id="bad-subscription"
    ),
    pytest.param(_set("spec.azure.location", "East US 2"), "spec.azure.location", id="bad-region"),
    pytest.param(
        _set("spec.azure.resourceGroup", _DELETE),
        "spec.azure.resourceGroup: Field required",
        id="missing-resource-group",
    ),
    pytest.param(
        _set("spec.privateEndpoints.subnetId", "/subscriptions/x/subnets/y"),
        "spec.privateEndpoints.subnetId",
        id="bad-subnet-id",
    ),
    pytest.param(
        _set("spec.privateEndpoints.requestMessage", "x" * 141),
        "spec.privateEndpoints.requestMessage",
        id="request-message-too-long",
    ),
    pytest.param(_set("spec.dns.recordType", "AAAA"), "spec.dns.recordType", id="bad-record-type"),
    pytest.param(_set("spec.dns.ttl", 0), "spec.dns.ttl", id="ttl-zero"),
    pytest.param(
        _set("spec.dns.virtualNetworkIds.0", "vnet-hub"), "spec.dns.virtualNetworkIds[0]", id="bad-vnet-id"
    ),
    pytest.param(_set("spec.dns.zoneName", "x"), "spec.dns.zoneName: unknown field", id="unknown-field"),
    pytest.param(_set("spec.deletionPolicy", "Keep"), "spec.deletionPolicy", id="bad-deletion-policy"),
    pytest.param(
        _set("apiVersion", "transit.privatelink.io/v1"),
        "apiVersion: expected 'transit.privatelink.io/v1alpha1'",
        id="wrong-api-version",
    ),
    pytest.param(_set("metadata.name", _DELETE), "metadata.name: missing", id="missing-name"),
    pytest.param(_set("spec", _DELETE), "spec: Field required", id="missing-spec"),
    pytest.param(
        _set("spec.option", "nginx", SXT),
        "document 2 (ServerlessTransit data-platform/transit-prod): spec.option",
        id="unknown-option",
    ),
    pytest.param(
        _set("spec.haproxy", _DELETE, SXT),
        "spec: `haproxy` is required when option is 'haproxy'",
        id="haproxy-block-missing",
    ),
    pytest.param(
        _set("spec.applicationGateway", {"privateFrontendIp": "10.0.0.9"}, SXT),
        "spec: `applicationGateway` must not be set",
        id="both-option-blocks",
    ),
    pytest.param(
        _set("spec.ports", [9092, 9092], SXT), "spec.ports: ports must be distinct", id="duplicate-ports"
    ),
    pytest.param(_set("spec.ports", [70000], SXT), "spec.ports[0]", id="port-out-of-range"),
    pytest.param(
        _set("spec.haproxy.instanceCount", 0, SXT), "spec.haproxy.instanceCount", id="zero-instances"
    ),
    pytest.param(
        _set("spec.haproxy.adminUsername", "root", SXT),
        "spec.haproxy.adminUsername: 'root' is a user name Azure refuses",
        id="reserved-admin-user",
    ),
    pytest.param(
        _set("spec.haproxy.sshPublicKey", "password123", SXT), "spec.haproxy.sshPublicKey", id="bad-ssh-key"
    ),
    pytest.param(
        _set("spec.haproxy.zones", ["1", "4"], SXT), "spec.haproxy.zones[1]", id="bad-availability-zone"
    ),
    pytest.param(_set("spec.haproxy.vmSize", "D2s_v5", SXT), "spec.haproxy.vmSize", id="bad-vm-size"),
    pytest.param(_same_subnets, "spec: network.privateLinkSubnetId must differ", id="same-subnets"),
    pytest.param(
        _set("spec.databricks.ncc", {"name": "ncc-a", "id": "22222222-3333-4444-5555-666666666666"}, SXT),
        "spec.databricks.ncc: set exactly one",
        id="ncc-name-and-id",
    ),
    pytest.param(
        _set("spec.databricks.ncc.name", "x", SXT), "spec.databricks.ncc.name", id="ncc-name-too-short"
    ),
    pytest.param(
        _set("spec.databricks.workspaceIds", [0], SXT),
        "spec.databricks.workspaceIds[0]",
        id="workspace-id-zero",
    ),
    pytest.param(
        _set("spec.databricks.extraDomainNames", ["kafka.local"], SXT),
        "spec.databricks.extraDomainNames[0]: top-level domain '.local' is reserved",
        id="reserved-tld-extra-domain",
    ),
    pytest.param(
        _set("spec.databricks.accountHost", "http://accounts.azuredatabricks.net", SXT),
        "spec.databricks.accountHost",
        id="account-host-not-https",
    ),
    pytest.param(_set("kind", "ConfluentLink"), "kind: unknown kind 'ConfluentLink'", id="unknown-kind"),
]


@pytest.mark.parametrize(("mutate", "expected"), INVALID)
def test_invalid_cr_exits_2_naming_document_and_field(capsys, tmp_path, mutate, expected):
    docs = base_docs()
    mutate(docs)
    path = write_docs(tmp_path, docs)
    code, out, err = run(capsys, "-f", str(path), "-o", "json")
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines and all(line.startswith(f"error: {path}") for line in lines), err
    assert expected in err, err


def test_at_least_twenty_invalid_crs_are_covered():
    assert len(INVALID) >= 20


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("a: [\n", "not valid YAML", id="not-yaml"),
        pytest.param("- 1\n- 2\n", "document 1: expected a mapping", id="not-a-mapping"),
        pytest.param(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
            "kind: unknown kind 'ConfigMap'",
            id="unsupported-kind",
        ),
        pytest.param("metadata: {name: x}\n", "kind: missing", id="no-kind"),
        pytest.param("", "no documents in the input", id="empty-file"),
    ],
)
def test_unreadable_input_exits_2_with_a_clear_message(capsys, tmp_path, content, expected):
    path = tmp_path / "in.yaml"
    path.write_text(content)
    code, out, err = run(capsys, "-f", str(path))
    assert (code, out) == (2, "")
    assert expected in err and "Traceback" not in err


def test_missing_file_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "-f", str(tmp_path / "nope.yaml"))
    assert code == 2 and err == f"error: {tmp_path / 'nope.yaml'}: no such file\n"


def test_duplicate_object_exits_2(capsys, tmp_path):
    cpl, _ = base_docs()
    code, _, err = run(capsys, "-f", str(write_docs(tmp_path, [cpl, copy.deepcopy(cpl)])))
    assert (
        code == 2
        and "document 2 (ConfluentPrivateLink data-platform/confluent-prod): metadata.name: the same object"
        in err
    )


def test_every_problem_of_every_document_is_reported_at_once(capsys, tmp_path):
    cpl, sxt = base_docs()
    cpl["spec"]["dns"]["ttl"] = 0
    sxt["spec"]["ports"] = [0]
    code, _, err = run(capsys, "-f", str(write_docs(tmp_path, [cpl, sxt])))
    assert code == 2 and "spec.dns.ttl" in err and "spec.ports[0]" in err


def test_internal_error_is_one_line_and_exit_1(capsys, monkeypatch):
    def boom(*_: Any, **__: Any) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(command, "build_plan", boom)
    code, out, err = run(capsys, "-f", str(THREE_ZONE))
    assert (code, out) == (1, "")
    assert err == "error: internal error while planning: RuntimeError: kaboom (please report this)\n"
