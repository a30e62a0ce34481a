"""Every example folder plans cleanly; the haproxy.cfg each one renders passes `haproxy -c`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from transit_operator.cli import main
from transit_operator.plan.haproxy_config import STATUS_MAP

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FOLDERS = sorted(p for p in EXAMPLES.iterdir() if p.is_dir() and p.name[:2].isdigit())
# Examples with an `option: haproxy` transit: each must render a haproxy.cfg.
HAPROXY_FOLDERS = [f for f in FOLDERS if any("option: haproxy" in p.read_text() for p in f.glob("*.yaml"))]
HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)


def plan_folder(folder: Path, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    args = ["plan", "-o", "json"]
    for path in sorted(folder.glob("*.yaml")):
        args += ["-f", str(path)]
    code = main(args)
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    return json.loads(out)["plans"]


def test_the_required_examples_exist():
    names = [p.name for p in FOLDERS]
    assert {"00-databricks-credentials-secret", "01-three-zone-haproxy", "02-single-zone-haproxy"} <= set(
        names
    )
    for folder in FOLDERS:
        assert (folder / "README.md").is_file(), folder
        assert list(folder.glob("*.yaml")), folder


@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_every_example_plans(folder, capsys):
    plans = plan_folder(folder, capsys)
    for plan in plans:
        ids_ = [r["id"] for r in plan["azure"]]
        assert len(ids_) == len({i.lower() for i in ids_}), "duplicate ARM ids"


def test_credentials_secret_example_holds_placeholders_only():
    text = (EXAMPLES / "00-databricks-credentials-secret" / "secret.yaml").read_text()
    assert "REPLACE-ME" in text
    assert "dapi" not in text  # no Databricks token shape


@pytest.mark.skipif(HAPROXY is None, reason="the haproxy binary is not installed")
@pytest.mark.parametrize("folder", HAPROXY_FOLDERS, ids=[p.name for p in HAPROXY_FOLDERS])
def test_rendered_haproxy_cfg_passes_haproxy_check(folder, capsys, tmp_path):
    configs = [p["files"]["haproxy.cfg"] for p in plan_folder(folder, capsys) if "haproxy.cfg" in p["files"]]
    assert configs, "a haproxy transit example rendered no haproxy.cfg"
    status_map = tmp_path / "status.map"  # on an instance, the apply script keeps it
    status_map.write_text("configHash -\n")
    for n, config in enumerate(configs):
        path = tmp_path / f"haproxy-{n}.cfg"
        path.write_text(config.replace(STATUS_MAP, str(status_map)))
        result = subprocess.run([HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr


def test_three_zone_example_renders_all_three_zones(capsys):
    plans = plan_folder(EXAMPLES / "01-three-zone-haproxy", capsys)
    config = plans[1]["files"]["haproxy.cfg"]
    assert all(f"10.20.1.{n}:9092" in config for n in (4, 5, 6))
