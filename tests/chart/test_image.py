"""Dockerfile invariants. No container engine runs here, so the image is not built in these tests: they check
what the file promises (pinned base, wheel build, non-root user, entrypoint) and that the chart agrees."""

from __future__ import annotations

import json
import re
import tomllib

import yaml

from .conftest import CHART, REPO

DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def base_images() -> list[str]:
    args = dict(rest.split("=", 1) for word, rest in instructions() if word == "ARG" and "=" in rest)
    images = []
    for word, rest in instructions():
        if word == "FROM":
            image = rest.split()[0]
            images.append(re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image))
    return images


def final_stage() -> list[tuple[str, str]]:
    all_instructions = instructions()
    last_from = max(i for i, (word, _) in enumerate(all_instructions) if word == "FROM")
    return all_instructions[last_from:]


def test_every_stage_uses_python_311_slim_pinned_to_a_patch_version() -> None:
    images = base_images()
    assert len(images) >= 2, "expected a build stage and a runtime stage"
    for image in images:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image), image
    assert len(set(images)) == 1, "the venv's interpreter symlink needs the same base in both stages"


def test_image_is_built_from_the_package_wheel() -> None:
    runs = " ".join(rest for word, rest in instructions() if word == "RUN")
    assert "pip wheel" in runs and "/dist/*.whl" in runs
    copies = [rest for word, rest in instructions() if word == "COPY"]
    assert "pyproject.toml README.md ./" in copies and "operator ./operator" in copies


def test_runtime_stage_runs_as_numeric_non_root_user() -> None:
    users = [rest for word, rest in final_stage() if word == "USER"]
    assert users, "the runtime stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, "USER must be a numeric non-zero uid so runAsNonRoot can check it"
    assert gid.isdigit() and int(gid) != 0


def test_runtime_stage_carries_no_build_tree() -> None:
    copies = [rest for word, rest in final_stage() if word == "COPY"]
    assert copies == ["--from=build /opt/venv /opt/venv"]
    assert not [rest for word, rest in final_stage() if word == "RUN"]


def test_entrypoint_is_transit_operator_run_in_exec_form() -> None:
    (entrypoint,) = [rest for word, rest in instructions() if word == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["transit-operator", "run"]
    assert not [rest for word, rest in instructions() if word == "CMD"], "flags come from the chart's args"


def test_chart_runs_the_image_user() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    uid, _, gid = [rest for word, rest in final_stage() if word == "USER"][-1].partition(":")
    assert (values["podSecurityContext"]["runAsUser"], values["podSecurityContext"]["runAsGroup"]) == (
        int(uid),
        int(gid),
    )


def test_chart_app_version_is_the_package_version() -> None:
    """The default image tag is appVersion: it must name the version the Dockerfile builds."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert chart["appVersion"] == project["version"]


def test_build_context_is_limited_to_the_package() -> None:
    lines = [
        line
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*", ".dockerignore should exclude everything, then re-include the package"
    assert {"!pyproject.toml", "!README.md", "!operator"} <= set(lines)
