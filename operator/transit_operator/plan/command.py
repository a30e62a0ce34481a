"""`transit-operator plan -f FILE [-o json|yaml]`: the desired cloud state of CRs, offline.

Reads every document of every file (`-` is stdin), validates each CR the way the Kubernetes API server
would (`api.admission`: JSON types, int64, pruning; `api.meta`: ObjectMeta) and then with the API models,
resolves each ServerlessTransit's ConfluentPrivateLink among the same input (same namespace, `default`
when unset), builds the plans and prints `{"plans": [...]}`. Kubernetes Secrets (`v1`/`Secret`) are
checked as the API server checks them (metadata, key names, base64 values, 1 MiB) and otherwise ignored,
so a directory of manifests can be planned as it is applied; a Secret's values are never printed.

Unknown fields are refused, as `kubectl apply` refuses them by default (`--validate=strict`); a client
that does not ask for strict validation gets them dropped by the API server without a word, so a typo
would silently leave a field at its default.

Input is bounded (`load_documents`): at most `MAX_INPUT_BYTES` per file, `MAX_DOCUMENTS` documents, and
YAML aliases may not expand a document beyond `MAX_YAML_NODES` nodes (a "billion laughs" document is
refused before it is built).

Exit codes: 0 printed; 2 bad input (one `error: ...` line per problem on stderr, naming the file, the
document, the object and the camelCase field path); 1 an internal error (still one line, no traceback).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import yaml
from pydantic import ValidationError

from transit_operator.api.admission import admit
from transit_operator.api.errors import InvalidSpec, TransitError
from transit_operator.api.kinds import API_VERSION
from transit_operator.api.meta import object_meta_errors
from transit_operator.api.v1alpha1 import KINDS, ConfluentPrivateLink, ServerlessTransit
from transit_operator.plan import CONFLUENT_PRIVATE_LINK, build_plan
from transit_operator.plan.model import Plan

__all__ = ["InputError", "load_documents", "load_yaml_documents", "render_plans", "run_plan"]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
_IGNORED = {("v1", "Secret")}
# Input bounds (see the module docstring). A CR is a few KiB; the API server takes at most 3 MiB a request.
MAX_INPUT_BYTES = 16 * 1024 * 1024
MAX_DOCUMENTS = 1000
MAX_YAML_NODES = 100_000
MAX_YAML_ALIASES = 1000
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_MAX_SECRET_BYTES = 1024 * 1024  # k8s.io/kubernetes pkg/apis/core/types.go MaxSecretSize
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
        return f"{self.source} document {self.index} ({_short(kind)} {_short(namespace)}/{_short(name)})"


def _short(value: Any) -> str:
    """A value as a label shows it: one line, at most 60 characters."""
    text = " ".join(str(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def _read(path: str, stdin: TextIO) -> str:
    if path == "-":
        text = stdin.read(MAX_INPUT_BYTES + 1)
    else:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read(MAX_INPUT_BYTES + 1)
        except FileNotFoundError:
            raise InputError([f"error: {path}: no such file"]) from None
        except IsADirectoryError:
            raise InputError([f"error: {path}: is a directory (give files, one -f each)"]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError([f"error: {path}: cannot read: {exc}"]) from None
    if len(text) > MAX_INPUT_BYTES:
        raise InputError([f"error: {path}: larger than {MAX_INPUT_BYTES} characters; refused unread"])
    return text


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing documents whose aliases would expand them beyond `MAX_YAML_NODES`
    nodes (or that use more than `MAX_YAML_ALIASES` aliases) before anything is constructed. The safe
    loader builds an alias as a shared reference, so loading is cheap; but every consumer that walks the
    result (validation, JSON output) walks each reference again: 9 levels of 9 aliases are 387 million
    nodes. go-yaml, under `kubectl` and the API server, refuses "excessive aliasing" the same way."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_YAML_ALIASES} aliases in one document")
        return super().compose_node(parent, index)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes `node` stands for once every alias is expanded (computed without expanding)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = 1  # a cycle counts once (the safe loader builds it as a recursive structure)
    size = 1
    if isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, memo) for item in node.value)
    memo[id(node)] = min(size, MAX_YAML_NODES + 1)
    return memo[id(node)]


def load_yaml_documents(text: str) -> list[Any]:
    """Every document of `text`, bounded: `MAX_DOCUMENTS` documents of at most `MAX_YAML_NODES` nodes once
    aliases are expanded, nested at most as deep as Python's recursion allows. `yaml.YAMLError` names the
    limit; nothing of a refused document is constructed."""
    loader = _BoundedLoader(text)
    documents: list[Any] = []
    try:
        while loader.check_node():
            if len(documents) >= MAX_DOCUMENTS:
                raise yaml.YAMLError(f"more than {MAX_DOCUMENTS} documents")
            node = loader.get_node()
            if node is not None and _expanded_size(node, {}) > MAX_YAML_NODES:
                raise yaml.YAMLError(f"a document expands to more than {MAX_YAML_NODES} nodes (aliases?)")
            documents.append(loader.construct_document(node) if node is not None else None)
    except RecursionError:
        raise yaml.YAMLError("nested too deeply") from None
    finally:
        loader.dispose()
    return documents


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
            loaded = load_yaml_documents(text)
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
    """`spec.ports[0]`: the API server's notation (and the conditions')."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(object)"


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


_UNKNOWN_FIELD = (
    "unknown field (a typo? `kubectl apply` refuses it by default, --validate=strict; clients that do not ask "
    "for strict validation have it dropped by the API server without a word)"
)


def _secret_errors(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """What the API server refuses in a Secret (k8s.io/kubernetes pkg/apis/core/validation ValidateSecret:
    key names, base64 `data`, string `stringData`, at most 1 MiB of data). Values are never shown."""
    errors = object_meta_errors(raw.get("metadata"))
    total = 0
    for section in ("data", "stringData"):
        values = raw.get(section)
        if values is None:
            continue
        if not isinstance(values, dict):
            errors.append((section, "must be a map of strings"))
            continue
        for key, value in values.items():
            path = f"{section}[{key!r}]" if isinstance(key, str) else section
            if not isinstance(key, str) or not _SECRET_KEY.fullmatch(key) or len(key) > 253:
                errors.append((path, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"))
            if not isinstance(value, str):
                errors.append((path, "must be a string"))
                continue
            if section == "data":
                try:
                    total += len(base64.b64decode(value, validate=True))
                except (ValueError, binascii.Error):
                    errors.append((path, "illegal base64 data (the value is not shown)"))
            else:
                total += len(value.encode())
    if total > _MAX_SECRET_BYTES:
        errors.append(("data", f"Too long: must have at most {_MAX_SECRET_BYTES} bytes"))
    return errors


def _validate(doc: _Doc) -> ConfluentPrivateLink | ServerlessTransit | None:
    """The model of one document; None for an ignored kind. InputError on any problem."""
    api_version, kind = doc.raw.get("apiVersion"), doc.raw.get("kind")
    if (api_version, kind) in _IGNORED:
        secret_errors = _secret_errors(doc.raw)
        if secret_errors:
            raise InputError([f"error: {doc.label}: {path}: {message}" for path, message in secret_errors])
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
    else:
        errors += [f"error: {doc.label}: {path}: {message}" for path, message in object_meta_errors(metadata)]
    admitted = admit(doc.raw, kind)
    errors += [f"error: {doc.label}: {path}: {message}" for path, message in admitted.errors]
    errors += [f"error: {doc.label}: {path}: {_UNKNOWN_FIELD}" for path in admitted.unknown]
    if errors:
        raise InputError(errors)
    try:
        model = KINDS[kind].model_validate(admitted.document)
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
