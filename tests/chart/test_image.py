"""Dockerfile invariants, and that the engine-less builder (image/oci_build.py) reads the same declarations.
tests/chart/test_image_runs.py builds the image and runs it."""

from __future__ import annotations

import sys
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import CHART, REPO

sys.path.insert(0, str(REPO / "image"))

import oci_build

DOCKERFILE = REPO / "Dockerfile"
INSTRUCTIONS = oci_build.dockerfile_instructions(DOCKERFILE.read_text())
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions by stage name (`FROM image AS name`)."""
    result: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for word, rest in INSTRUCTIONS:
        if word == "FROM":
            current = []
            result[rest.split()[-1]] = current
        current.append((word, rest))
    return result


def test_stages_build_on_one_debian_slim_base_of_the_declared_suite() -> None:
    by_stage = stages()
    assert list(by_stage) == ["base", "build", "runtime"]
    assert by_stage["base"][0] == ("FROM", "debian:${DEBIAN_SUITE}-slim AS base")
    assert by_stage["build"][0][1].split()[0] == by_stage["runtime"][0][1].split()[0] == "base", (
        "the venv's python symlink needs the same base in the build and runtime stages"
    )
    assert oci_build.Recipe.read().suite == "bookworm"


def test_base_installs_exactly_the_package_list_the_builder_reads() -> None:
    base = stages()["base"]
    assert ("COPY", "image/debian-packages.txt /tmp/debian-packages.txt") in base
    (run,) = [rest for word, rest in base if word == "RUN"]
    assert "grep -v '^#' /tmp/debian-packages.txt | xargs apt-get install --yes --no-install-recommends" in run
    assert oci_build.Recipe.read().packages == ("python3", "ca-certificates")


def test_venv_holds_the_package_wheel_and_exactly_the_pinned_requirements() -> None:
    build = stages()["build"]
    copies = [rest for word, rest in build if word == "COPY"]
    assert {"pyproject.toml README.md ./", "operator ./operator", "image/requirements.txt ./image/requirements.txt"} <= set(copies)
    (run,) = [rest for word, rest in build if word == "RUN" and "pip wheel" in rest]
    assert "pip install --no-deps --only-binary=:all: -r image/requirements.txt" in run, "no resolver at build time"
    assert "pip install --no-deps /dist/*.whl" in run
    assert "--invalidation-mode unchecked-hash" in run, "the same pycs as the builder's (root is read-only)"


def test_requirements_pin_every_runtime_dependency_within_its_range() -> None:
    pins = {}
    for line in oci_build.Recipe.read().requirements:
        name, _, version = line.partition("==")
        assert version, f"image/requirements.txt: {line!r} is not pinned with =="
        pins[canonicalize_name(name)] = version
    for dependency in map(Requirement, PROJECT["dependencies"]):
        version = pins.get(canonicalize_name(dependency.name))
        assert version is not None, f"{dependency.name} is not pinned in image/requirements.txt (scripts/dev image --lock)"
        assert dependency.specifier.contains(version), (
            f"image/requirements.txt pins {dependency.name}=={version} outside {dependency.specifier} "
            "(scripts/dev image --lock)"
        )
    runtime = {canonicalize_name(Requirement(r).name) for r in PROJECT["dependencies"]}
    test_only = {canonicalize_name(Requirement(r).name) for r in PROJECT["optional-dependencies"]["test"]} - runtime
    assert not test_only & set(pins), "test-only packages do not belong in the image"


def test_runtime_stage_carries_no_build_tree() -> None:
    runtime = stages()["runtime"]
    assert [rest for word, rest in runtime if word == "COPY"] == ["--from=build /opt/venv /opt/venv"]
    assert not [rest for word, rest in runtime if word == "RUN"]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        pytest.param("User", "65532:65532", id="numeric non-root user"),
        pytest.param("Entrypoint", ["transit-operator", "run"], id="entrypoint: run, flags from the chart"),
        pytest.param("WorkingDir", "/tmp", id="workdir: the chart's writable emptyDir"),
        pytest.param("ExposedPorts", {"8080/tcp": {}, "9090/tcp": {}}, id="health and metrics ports"),
    ],
)
def test_builder_image_config_is_the_dockerfile_runtime_stage(field: str, expected: object) -> None:
    config = oci_build.image_config(oci_build.Recipe.read(), [])["config"]
    assert config[field] == expected


def test_builder_env_extends_debians_path_with_the_venv() -> None:
    env = dict(e.split("=", 1) for e in oci_build.image_config(oci_build.Recipe.read(), [])["config"]["Env"])
    assert env["PATH"] == f"/opt/venv/bin:{oci_build.BASE_PATH}"
    assert (env["HOME"], env["PYTHONDONTWRITEBYTECODE"]) == ("/tmp", "1")


def test_dockerfile_has_no_cmd_flags_come_from_the_chart() -> None:
    assert not [rest for word, rest in INSTRUCTIONS if word == "CMD"]


def test_chart_runs_the_image_user() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    uid, _, gid = oci_build.Recipe.read().user.partition(":")
    assert uid.isdigit() and int(uid) != 0, "USER must be a numeric non-zero uid so runAsNonRoot can check it"
    assert (values["podSecurityContext"]["runAsUser"], values["podSecurityContext"]["runAsGroup"]) == (
        int(uid),
        int(gid),
    )


def test_chart_app_version_is_the_package_version() -> None:
    """The default image tag is appVersion: it must name the version the Dockerfile builds."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == PROJECT["version"] == oci_build.Recipe.read().version


def test_build_context_is_limited_to_the_package_and_the_image_declarations() -> None:
    lines = [
        line
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*", ".dockerignore should exclude everything, then re-include the package"
    assert {"!pyproject.toml", "!README.md", "!operator", "!image/debian-packages.txt",
            "!image/requirements.txt"} <= set(lines)
    copied = {source for word, rest in INSTRUCTIONS if word == "COPY" and not rest.startswith("--from")
              for source in rest.split()[:-1]}
    assert {f"!{source}" for source in copied} <= set(lines), "every file the Dockerfile copies is in the context"
