"""`transit-operator plan -f FILE [-o json|yaml]`: the desired cloud state of CRs, offline.

Reads every document of every file (`-` is stdin), validates each CR with the API models, resolves each
ServerlessTransit's ConfluentPrivateLink among the same input (same namespace, `default` when unset),
builds the plans and prints `{"plans": [...]}`. Kubernetes Secrets (`v1`/`Secret`) are accepted and
ignored, so a directory of manifests can be planned as it is applied.

Exit codes: 0 printed; 2 bad input (one `error: ...` line per problem on stderr, naming the file, the
document, the object and the camelCase field path); 1 an internal error (still one line, no traceback).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import yaml
from pydantic import ValidationError

from transit_operator.api.errors import InvalidSpec, TransitError
from transit_operator.api.v1alpha1 import API_VERSION, KINDS, ConfluentPrivateLink, ServerlessTransit
from transit_operator.plan import CONFLUENT_PRIVATE_LINK, build_plan
from transit_operator.plan.model import Plan

__all__ = ["InputError", "load_documents", "render_plans", "run_plan"]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
_IGNORED = {("v1", "Secret")}
_MAX_SHOWN_INPUT = 60


class InputError(TransitError):
    """Bad input; `lines` are the complete `error: ...` messages (the hierarchy: `cloud.errors`)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass
class _Doc:
    source: str
    index: int  # 1-based position of the document in its file
    raw: dict[str, Any]

    @property
    def label(self) -> str:
        kind = self.raw.get("kind") or "?"
        raw_metadata = self.raw.get("metadata")
        metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
        name = metadata.get("name") or "?"
        namespace = metadata.get("namespace") or "default"
        return f"{self.source} document {self.index} ({kind} {namespace}/{name})"


def _read(path: str, stdin: TextIO) -> str:
    if path == "-":
        return stdin.read()
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise InputError([f"error: {path}: no such file"]) from None
    except IsADirectoryError:
        raise InputError([f"error: {path}: is a directory (give files, one -f each)"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([f"error: {path}: cannot read: {exc}"]) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def load_documents(paths: Sequence[str], stdin: TextIO | None = None) -> list[_Doc]:
    """Every non-empty YAML document of every file, as mappings. InputError lists all problems found."""
    docs: list[_Doc] = []
    errors: list[str] = []
    stdin = stdin if stdin is not None else sys.stdin
    for path in paths:
        source = "<stdin>" if path == "-" else path
        try:
            text = _read(path, stdin)
        except InputError as exc:
            errors += exc.lines
            continue
        try:
            loaded = list(yaml.safe_load_all(text))
        except yaml.YAMLError as exc:
            errors.append(f"error: {source}: not valid YAML: {_yaml_problem(exc)}")
            continue
        for index, raw in enumerate(loaded, start=1):
            if raw is None:
                continue
            if not isinstance(raw, dict):
                errors.append(
                    f"error: {source} document {index}: expected a mapping (a Kubernetes object), got {type(raw).__name__}"
                )
                continue
            docs.append(_Doc(source, index, raw))
    if not docs and not errors:
        errors.append("error: no documents in the input")
    if errors:
        raise InputError(errors)
    return docs


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(object)"


def _message(error: Any) -> str:
    msg = str(error.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    value = error.get("input")
    if error.get("type") not in ("missing", "extra_forbidden") and isinstance(value, (str, int, float)):
        shown = repr(value)
        if len(shown) > _MAX_SHOWN_INPUT:
            shown = shown[: _MAX_SHOWN_INPUT - 3] + "..."
        msg += f" (got {shown})"
    if error.get("type") == "extra_forbidden":
        msg = "unknown field (a typo?)"
    return msg


def _validate(doc: _Doc) -> ConfluentPrivateLink | ServerlessTransit | None:
    """The model of one document; None for an ignored kind. InputError on any problem."""
    api_version, kind = doc.raw.get("apiVersion"), doc.raw.get("kind")
    if (api_version, kind) in _IGNORED:
        return None
    if not isinstance(kind, str) or not kind:
        raise InputError([f"error: {doc.label}: kind: missing"])
    if kind not in KINDS:
        known = ", ".join([*KINDS, "Secret (ignored)"])
        raise InputError([f"error: {doc.label}: kind: unknown kind {kind!r} (known: {known})"])
    errors: list[str] = []
    metadata = doc.raw.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
        errors.append(f"error: {doc.label}: metadata.name: missing")
    elif not isinstance(metadata.get("namespace", "default"), str):
        errors.append(f"error: {doc.label}: metadata.namespace: must be a string")
    try:
        model = KINDS[kind].model_validate(doc.raw)
    except ValidationError as exc:
        for error in exc.errors():
            errors.append(f"error: {doc.label}: {_path(error['loc'])}: {_message(error)}")
        if api_version != API_VERSION:
            errors.insert(0, f"error: {doc.label}: apiVersion: expected {API_VERSION!r}, got {api_version!r}")
            errors = list(
                dict.fromkeys(e for e in errors if not e.startswith(f"error: {doc.label}: apiVersion: Input"))
            )
        raise InputError(errors) from None
    if errors:
        raise InputError(errors)
    return model


def _key(obj: ConfluentPrivateLink | ServerlessTransit) -> tuple[str, str, str]:
    return (obj.kind, obj.metadata.get("namespace") or "default", obj.metadata["name"])


def _plans(docs: list[_Doc]) -> Iterator[Plan]:
    errors: list[str] = []
    objects: list[tuple[_Doc, ConfluentPrivateLink | ServerlessTransit]] = []
    seen: dict[tuple[str, str, str], _Doc] = {}
    for doc in docs:
        try:
            model = _validate(doc)
        except InputError as exc:
            errors += exc.lines
            continue
        if model is None:
            continue
        key = _key(model)
        if key in seen:
            errors.append(f"error: {doc.label}: metadata.name: the same object is also {seen[key].label}")
            continue
        seen[key] = doc
        objects.append((doc, model))
    if errors:
        raise InputError(errors)
    cpls = {
        key[1:]: obj
        for key, obj in ((_key(o), o) for _, o in objects)
        if isinstance(obj, ConfluentPrivateLink)
    }
    plans: list[Plan] = []
    for doc, model in objects:
        related: dict[str, Any] = {}
        if isinstance(model, ServerlessTransit):
            namespace = model.metadata.get("namespace") or "default"
            related[CONFLUENT_PRIVATE_LINK] = cpls.get(
                (namespace, model.spec.confluent_private_link_ref.name)
            )
        try:
            plans.append(build_plan(model, related=related))
        except InvalidSpec as exc:
            errors.append(f"error: {doc.label}: {exc if exc.field else f'spec: {exc}'}")
    if errors:
        raise InputError(errors)
    yield from plans


class _Dumper(yaml.SafeDumper):
    """YAML output with multi-line strings (the rendered files) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render_plans(plans: Sequence[Plan], output: str) -> str:
    """`{"plans": [...]}` as JSON (2-space indent) or YAML."""
    document = {"plans": [plan.model_dump(mode="json") for plan in plans]}
    if output == "json":
        return json.dumps(document, indent=2) + "\n"
    if output == "yaml":
        return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1_000_000)
    raise ValueError(f"unknown output format {output!r} (json or yaml)")


def run_plan(
    files: Sequence[str],
    output: str,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """The `plan` command. Never raises: bad input -> 2, internal error -> 1, each with one-line messages."""
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    try:
        docs = load_documents(files, stdin)
        text = render_plans(list(_plans(docs)), output)
    except InputError as exc:
        stderr.write("\n".join(exc.lines) + "\n")
        return EXIT_BAD_INPUT
    except Exception as exc:  # never a traceback for a CLI user; say what and where to report it
        stderr.write(
            f"error: internal error while planning: {type(exc).__name__}: {exc} (please report this)\n"
        )
        return EXIT_INTERNAL
    stdout.write(text)
    return EXIT_OK
