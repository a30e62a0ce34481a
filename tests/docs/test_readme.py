"""The README's commands and snippets are exercised, so they can't rot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _snippet(name: str) -> str:
    match = re.search(rf"<!-- readme-snippet: {name} -->\n```python\n(.*?)```", README, re.S)
    assert match, f"README has no python snippet marked {name!r}"
    return match.group(1)


def test_sandbox_sdk_snippet_runs_against_the_emulator(tmp_path: Path) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(_snippet("sandbox-sdk"))
    bin_dir = str(Path(sys.executable).parent)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()[:2]
    assert first == "vnet-demo True"
    assert second == "[]"


def test_readme_names_exactly_the_two_setup_commands_and_ci_runs_the_test_one() -> None:
    setup = re.search(r"## Set up \(fresh machine\)(.*?)\n## ", README, re.S)
    assert setup
    commands = re.findall(r"^(scripts/dev \w+)", setup.group(1), re.M)
    assert commands == ["scripts/dev demo", "scripts/dev test"]
    assert "exec scripts/dev test" in (ROOT / ".ci" / "run").read_text()
