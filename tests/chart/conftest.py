"""Chart tests run the real `helm` binary (on PATH, or `.tools/bin` from `scripts/dev bootstrap`)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "transit-operator"
RELEASE = "transit"
NAMESPACE = "transit-operator-system"


def find_helm() -> str | None:
    bundled = REPO / ".tools" / "bin" / "helm"
    if bundled.is_file():
        return str(bundled)
    return shutil.which("helm")


@dataclass
class Rendered:
    """The documents `helm template` printed, with lookups by kind."""

    documents: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.documents if d["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.of_kind(kind)
        assert len(found) == 1, f"expected one {kind}, got {len(found)}"
        return found[0]

    @property
    def container(self) -> dict[str, Any]:
        return self.one("Deployment")["spec"]["template"]["spec"]["containers"][0]


@pytest.fixture(scope="session")
def helm() -> str:
    path = find_helm()
    if path is None:
        pytest.skip("helm not found on PATH or in .tools/bin: run `scripts/dev bootstrap`")
    return path


def run_helm(
    helm: str, *args: str, values: dict[str, Any] | None = None, tmp_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    command = [helm, *args]
    if values is not None:
        assert tmp_dir is not None
        values_file = tmp_dir / "values.yaml"
        values_file.write_text(yaml.safe_dump(values))
        command += ["--values", str(values_file)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def render(helm: str, tmp_path: Path) -> Callable[..., Rendered]:
    """`helm template` the chart with these values; fails the test with helm's stderr if it fails."""

    def _render(values: dict[str, Any] | None = None, *, include_crds: bool = False) -> Rendered:
        args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
        if include_crds:
            args.append("--include-crds")
        result = run_helm(helm, *args, values=values or {}, tmp_dir=tmp_path)
        assert result.returncode == 0, result.stderr
        return Rendered([d for d in yaml.safe_load_all(result.stdout) if d])

    return _render


@pytest.fixture
def render_error(helm: str, tmp_path: Path) -> Callable[[dict[str, Any]], str]:
    """`helm template` that must fail: returns helm's error output."""

    def _render_error(values: dict[str, Any]) -> str:
        result = run_helm(
            helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, values=values, tmp_dir=tmp_path
        )
        assert result.returncode != 0, f"helm accepted {values!r}:\n{result.stdout[:2000]}"
        return result.stderr

    return _render_error
