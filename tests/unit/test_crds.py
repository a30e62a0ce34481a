"""The committed CRDs are exactly what the models generate, and every property is described."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from transit_operator.api.crd import build_crds, crd_file_names, render_crd_yaml, render_crds_yaml
from transit_operator.cli import main

CRDS = Path(__file__).resolve().parents[2] / "crds"
REGENERATE = "scripts/dev generate"


@pytest.mark.parametrize(("name", "crd"), list(zip(crd_file_names(), build_crds(), strict=True)), ids=crd_file_names())
def test_committed_crd_matches_the_models(name, crd):
    assert (CRDS / name).read_text() == render_crd_yaml(crd), (
        f"crds/{name} drifted; regenerate with {REGENERATE}"
    )


def test_crds_command_prints_the_committed_files(capsys):
    assert main(["crds"]) == 0
    out = capsys.readouterr().out
    assert out == render_crds_yaml()
    assert out == "---\n".join((CRDS / name).read_text() for name in crd_file_names())


def test_no_stray_crd_files():
    assert sorted(p.name for p in CRDS.glob("*.yaml")) == sorted(crd_file_names())


def _undescribed(node: Any, path: str) -> list[str]:
    missing: list[str] = []
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            where = f"{path}.{name}"
            # The API server refuses a CRD whose `metadata` schema says anything beyond name/generateName,
            # a description included (tests/kube/test_kube_api.py checks that on a real kube-apiserver).
            top_level_metadata = name == "metadata" and "." not in path
            if not prop.get("description") and not top_level_metadata:
                missing.append(where)
            missing += _undescribed(prop, where)
        if isinstance(node.get("items"), dict):
            missing += _undescribed(node["items"], f"{path}[]")
    return missing


@pytest.mark.parametrize("crd", build_crds(), ids=[c["spec"]["names"]["kind"] for c in build_crds()])
def test_every_schema_property_has_a_description(crd):
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _undescribed(schema, crd["spec"]["names"]["kind"]) == []


@pytest.mark.parametrize("crd", build_crds(), ids=[c["spec"]["names"]["kind"] for c in build_crds()])
def test_crd_is_valid_yaml_with_a_status_subresource(crd):
    version = yaml.safe_load(render_crd_yaml(crd))["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert version["served"] and version["storage"]


def test_crds_write_writes_the_committed_files_and_removes_stale_ones(tmp_path, capsys):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    (first / "transit.privatelink.io_oldkinds.yaml").write_text("stale")
    (first / "kopf.dev_peerings.yaml").write_text("not ours")
    assert main(["crds", "--write", str(first), "--write", str(second)]) == 0
    assert capsys.readouterr().out == ""
    for directory in (first, second):
        ours = sorted(p.name for p in directory.glob("transit.privatelink.io_*.yaml"))
        assert ours == sorted(crd_file_names())
        assert all((directory / name).read_text() == (CRDS / name).read_text() for name in ours)
    assert (first / "kopf.dev_peerings.yaml").read_text() == "not ours"
