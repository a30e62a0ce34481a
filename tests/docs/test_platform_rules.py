"""Comments cite platform facts as `docs/platform-rules.md#anchor`: every such anchor exists, and nothing in the
repository sends a reader to a design document that does not ship with it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "platform-rules.md"
SEARCHED = ("operator", "bench", "tests", "docs", "image", "scripts", "README.md")
CITATION = re.compile(r"platform-rules\.md#([a-z0-9-]+)((?:, #[a-z0-9-]+)*)")
# The design notes the code was first written from live outside the repository.
OUTSIDE = re.compile(r"\.\./shared/|(?:transit|azure-api|test-substrate)\.md\b|platform-facts\b")


def _texts() -> list[tuple[Path, str]]:
    files: list[Path] = []
    for name in SEARCHED:
        path = ROOT / name
        files.extend([path] if path.is_file() else path.rglob("*"))
    return [
        (path, path.read_text(encoding="utf-8"))
        for path in files
        if path.suffix in {".py", ".md", ".sh", ".yaml"} or path.name == "dev"
        if path.is_file() and path != Path(__file__)
    ]


def _anchors() -> set[str]:
    return set(re.findall(r'<a id="([a-z0-9-]+)"></a>', RULES.read_text(encoding="utf-8")))


def test_every_cited_anchor_exists() -> None:
    anchors = _anchors()
    cited: dict[str, list[str]] = {}
    for path, text in _texts():
        for match in CITATION.finditer(text):
            for anchor in [match.group(1), *re.findall(r"#([a-z0-9-]+)", match.group(2))]:
                cited.setdefault(anchor, []).append(str(path.relative_to(ROOT)))
    assert cited, "no citation found: the pattern no longer matches how comments cite the rules"
    missing = {anchor: where for anchor, where in cited.items() if anchor not in anchors}
    assert not missing, f"cited anchors missing from docs/platform-rules.md: {missing}"


def test_anchors_are_unique() -> None:
    ids = re.findall(r'<a id="([a-z0-9-]+)"></a>', RULES.read_text(encoding="utf-8"))
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_nothing_cites_documents_outside_the_repository() -> None:
    outside = [
        f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}: {match.group(0)}"
        for path, text in _texts()
        for match in OUTSIDE.finditer(text)
    ]
    assert not outside, outside
