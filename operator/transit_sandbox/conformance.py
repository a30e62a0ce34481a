"""Check recorded ARM exchanges against the Azure REST API specs, as the Azure SDK carries them.

The emulator and the operator were written together, so they can agree with each other and both be
wrong. This module judges both from a source neither wrote: azure-mgmt-network 33.x (api-version
2026-03-01), azure-mgmt-compute 39.x (2026-04-01) and azure-mgmt-privatedns 2.x (2024-06-01) are generated
by Microsoft from the azure-rest-api-specs TypeSpec/OpenAPI definitions of exactly those api-versions:

- the operations, from each package's generated `operations/_operations.py` (read with `ast`, never run):
  the request builder gives the HTTP method, the URL template and the api-version; the operation method
  gives the body's model (`Union[_models.X, ...]` parameter), the status codes it accepts
  (`if response.status_code not in [...]`), the headers each status declares
  (`if response.status_code == 201: response_headers["Azure-AsyncOperation"] = ...`), the response model
  (`_deserialize(_models.X, ...)`, for long-running operations the one `get_long_running_output` reads),
  and whether it pages (`.get("value", [])`);
- the bodies, from the generated models (`rest_field(name=..., visibility=[...])` with the annotation's
  type): a property the model does not declare, a readOnly one (`visibility=["read"]`) in a request, a
  required one (a non-`Optional` annotation) missing, or a JSON type that is not the declared one is a
  `Violation`. Extensible enums (`Union[str, Enum]`) accept any string, as the specs say.

What is checked, per recorded exchange (`transit_sandbox.arm.faults.RequestRecord`):

- the request matches one operation of the served api-version (path template and method);
- request body (PUT/PATCH/POST): against the operation's body model, request side;
- response status: one the operation declares, or an error status with ARM's error body (`check_error`);
- response headers: every LRO header the operation declares for that status (`Azure-AsyncOperation`,
  `Location`) is there, and `Retry-After` is an integer (the SDK reads it as "int");
- response body: against the operation's response model (items of `value` for a pager), response side;
- LRO polls: an `Azure-AsyncOperation` status document has `status` in ARM's set and nothing else than
  ARM's async-operation fields; an `operationResults` document with a body is the originating operation's
  final model (https://github.com/Azure/azure-resource-manager-rpc/blob/master/v1.0/async-api-reference.md).

Use: `check(cloud.admin.requests())` -> list of `Violation` (empty: conformant), or let the sandbox judge
every exchange as it logs it: `SandboxCloud(check_conformance=True)`, then `cloud.admin.take_violations()`.
"""

from __future__ import annotations

import ast
import datetime
import functools
import importlib
import inspect
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from .kube.schema import _type_name  # JSON type names in messages, as the CRD schema checker gives them

Direction = Literal["request", "response"]

# The SDK packages whose generated code is the reference, by the ARM provider prefix they serve.
PACKAGES = ("azure.mgmt.network", "azure.mgmt.compute", "azure.mgmt.privatedns")
# ARM async-operation status documents (async-api-reference.md, "Azure-AsyncOperation resource format").
ASYNC_OPERATION_FIELDS = frozenset(
    {"id", "name", "resourceId", "status", "startTime", "endTime", "percentComplete", "properties", "error"}
)
ASYNC_OPERATION_STATES = frozenset({"InProgress", "Succeeded", "Failed", "Canceled"})
LRO_HEADERS = ("Azure-AsyncOperation", "Location")


@dataclass(frozen=True)
class Violation:
    """One way an exchange departs from the spec: who sent it (`direction`), where in the body, what."""

    direction: Direction
    method: str
    path: str
    status: int
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.direction} {self.method} {self.path} ({self.status}) {self.where}: {self.problem}"


@dataclass(frozen=True)
class Operation:
    """One REST operation of the specs, as the SDK generated it."""

    package: str
    group: str  # operations class, e.g. PrivateEndpointsOperations
    name: str  # public method, e.g. begin_create_or_update
    method: str  # HTTP verb
    template: str  # URL template
    api_version: str | None  # None: the client's configured one (privatedns)
    statuses: tuple[int, ...]
    headers: Mapping[int, tuple[str, ...]]  # declared response headers by status
    long_running: bool
    request_model: type | None
    response_model: type | None
    paged: bool
    builder: str  # the generated request builder's name


# --- reading the generated operations ---------------------------------------------------------------------


def _string(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


_TOP_LEVEL = re.compile(r"^(?:def|class) (\w+)", re.MULTILINE)
_URL = re.compile(r'_url(?:: str)? = \(?\s*"([^"]+)"')
_VERB = re.compile(r'HttpRequest\(method="(\w+)"')
_VERSION = re.compile(r'pop\("api-version", "([^"]+)"\)')


@dataclass(frozen=True)
class _Builder:
    name: str
    method: str
    template: str
    api_version: str | None
    pattern: re.Pattern[str]


@dataclass
class _Package:
    """One SDK package's generated operations: request builders found by a text scan (fast), operation
    classes parsed with `ast` only when a request needs them (the Network module alone is 6 MB)."""

    name: str
    builders: list[_Builder]
    chunks: dict[str, str]  # operations class name -> its source
    client_api_version: str | None
    parsed: dict[str, list[Operation]] = field(default_factory=dict)

    def operations_of(self, group: str) -> list[Operation]:
        if group not in self.parsed:
            self.parsed[group] = _class_operations(self, group)
        return self.parsed[group]


@functools.cache
def _package(name: str) -> _Package:
    module = importlib.import_module(f"{name}.operations._operations")
    source = Path(inspect.getfile(module)).read_text()
    starts = list(_TOP_LEVEL.finditer(source))
    builders: list[_Builder] = []
    chunks: dict[str, str] = {}
    for here, after in zip(starts, [*starts[1:], None], strict=True):
        chunk = source[here.start(): after.start() if after else len(source)]
        top = here.group(1)
        if chunk.startswith("class ") and top.endswith("Operations"):
            chunks[top] = chunk
        elif top.startswith("build_") and top.endswith("_request"):
            url, verb = _URL.search(chunk), _VERB.search(chunk)
            version = _VERSION.search(chunk)
            if url and verb:
                builders.append(_Builder(top, verb.group(1), url.group(1), version.group(1) if version else None,
                                         _template_pattern(url.group(1))))
    return _Package(name, builders, chunks, _client_api_version(name))


def _model_name(node: ast.AST) -> str | None:
    """`_models.X` -> "X"."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "_models":
        return node.attr
    return None


@dataclass
class _MethodFacts:
    builder: str | None = None
    initial: str | None = None  # begin_x -> _x_initial
    statuses: tuple[int, ...] = ()
    headers: dict[int, list[str]] = field(default_factory=dict)
    body_model: str | None = None
    response_model: str | None = None
    paged: bool = False


def _method_facts(fn: ast.FunctionDef) -> _MethodFacts:
    facts = _MethodFacts()
    for arg in [*fn.args.args, *fn.args.kwonlyargs]:
        ann = arg.annotation
        if isinstance(ann, ast.Subscript) and isinstance(ann.value, ast.Name) and ann.value.id == "Union":
            elts = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
            names = [n for n in (_model_name(e) for e in elts) if n]
            if names and any(isinstance(e, ast.Subscript) for e in elts):  # Union[_models.X, _types.X, IO[bytes]]
                facts.body_model = names[0]
    for node in ast.walk(fn):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id.startswith("build_") and func.id.endswith("_request"):
                facts.builder = func.id
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "self"
                and func.attr.endswith("_initial")
            ):
                facts.initial = func.attr
            if isinstance(func, ast.Name) and func.id == "_deserialize" and node.args:
                target = node.args[0]
                if isinstance(target, ast.Subscript):  # List[_models.X] over "value": a pager
                    facts.response_model = _model_name(target.slice) or facts.response_model
                    facts.paged = True
                elif _model_name(target):
                    facts.response_model = _model_name(target)
        if (
            isinstance(node, ast.Compare)
            and isinstance(node.ops[0], ast.NotIn)
            and isinstance(node.left, ast.Attribute)
            and node.left.attr == "status_code"
            and isinstance(node.comparators[0], ast.List)
        ):
            facts.statuses = tuple(
                e.value for e in node.comparators[0].elts if isinstance(e, ast.Constant) and isinstance(e.value, int)
            )
        if isinstance(node, ast.If):
            status = _status_test(node.test)
            headers = _header_keys(node.body)
            if headers:
                facts.headers.setdefault(status if status is not None else 0, []).extend(headers)
    return facts


def _status_test(test: ast.AST) -> int | None:
    if (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Attribute)
        and test.left.attr == "status_code"
        and isinstance(test.ops[0], ast.Eq)
        and isinstance(test.comparators[0], ast.Constant)
        and isinstance(test.comparators[0].value, int)
    ):
        return test.comparators[0].value
    return None


def _header_keys(body: list[ast.stmt]) -> list[str]:
    keys = []
    for stmt in body:
        for node in ast.walk(stmt):
            if (
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Name)
                and node.value.id == "response_headers"
                and isinstance(node.ctx, ast.Store)
            ):
                key = _string(node.slice)
                if key:
                    keys.append(key)
    return keys


def _unconditional_headers(fn: ast.FunctionDef) -> list[str]:
    """Headers set outside any `if status ==` block (declared for every success status)."""
    out = []
    for stmt in fn.body:
        if not isinstance(stmt, ast.If):
            out.extend(_header_keys([stmt]))
    return out


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = []
    for seg in template.strip("/").split("/"):
        parts.append("[^/]+" if seg.startswith("{") else re.escape(seg))
    return re.compile("^/" + "/".join(parts) + "/?$", re.IGNORECASE)


def _class_operations(package: _Package, group: str) -> list[Operation]:
    """The public operations of one generated operations class."""
    models = importlib.import_module(f"{package.name}.models")
    versions = {b.name: b for b in package.builders}
    cls = ast.parse(package.chunks[group]).body[0]
    assert isinstance(cls, ast.ClassDef)
    # The last definition of a name is the implementation (the earlier ones are @overload stubs).
    methods = {fn.name: fn for fn in cls.body if isinstance(fn, ast.FunctionDef)}
    facts = {name: _method_facts(fn) for name, fn in methods.items()}
    out: list[Operation] = []
    for name, fact in facts.items():
        if name.startswith("_"):
            continue
        first, headers_fn = fact, methods[name]
        if fact.initial and fact.initial in facts:
            first, headers_fn = facts[fact.initial], methods[fact.initial]
        builder = versions.get(first.builder or "")
        if builder is None:
            continue
        headers = {k: tuple(v) for k, v in first.headers.items()}
        always = tuple(_unconditional_headers(headers_fn))
        for status in first.statuses if always else ():
            headers[status] = (*headers.get(status, ()), *always)
        body_model = fact.body_model or first.body_model
        out.append(
            Operation(
                package=package.name,
                group=group,
                name=name,
                method=builder.method,
                template=builder.template,
                api_version=builder.api_version or package.client_api_version,
                statuses=first.statuses,
                headers=headers,
                long_running=fact.initial is not None,
                request_model=getattr(models, body_model) if body_model else None,
                response_model=getattr(models, fact.response_model) if fact.response_model else None,
                paged=fact.paged,
                builder=builder.name,
            )
        )
    return out


def _client_api_version(package: str) -> str | None:
    configuration = importlib.import_module(f"{package}._configuration")
    found = re.search(r'kwargs\.pop\("api_version", "([0-9-]+(?:-preview)?)"\)', inspect.getsource(configuration))
    return found.group(1) if found else None


def find_operation(method: str, path: str, api_version: str | None) -> Operation | None:
    """The operation a request addresses: method, path template and api-version; the most literal template
    wins (`.../virtualNetworkLinks/{name}` over `.../{recordType}/{name}`)."""
    candidates: list[tuple[_Package, _Builder]] = []
    for name in PACKAGES:
        package = _package(name)
        for builder in package.builders:
            version = builder.api_version or package.client_api_version
            if builder.method == method.upper() and builder.pattern.match(path) and version == api_version:
                candidates.append((package, builder))
    if not candidates:
        return None
    package, builder = max(candidates, key=lambda c: _literal_segments(c[1].template))
    group = next((g for g, chunk in package.chunks.items() if f"{builder.name}(" in chunk), None)
    if group is None:
        return None
    return next((op for op in package.operations_of(group) if op.builder == builder.name), None)


def _literal_segments(template: str) -> int:
    return sum(1 for seg in template.split("/") if seg and not seg.startswith("{"))


# --- the models -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    rest_name: str
    hint: Any
    visibility: tuple[str, ...]
    optional: bool

    @property
    def read_only(self) -> bool:
        return self.visibility == ("read",)


def _is_model(hint: Any) -> bool:
    """A generated model class (they all derive from the package's `_utils.model_base.Model`)."""
    return isinstance(hint, type) and hasattr(hint, "_calculated") and not issubclass(hint, Enum)


@functools.cache
def _fields(model: type) -> dict[str, _Field]:
    """REST name -> declared field of a generated model class (all its bases included)."""
    module = inspect.getmodule(model)
    package = model.__module__.rsplit(".models", 1)[0]
    namespace = {**vars(module), "_models": importlib.import_module(f"{package}.models")}
    hints = typing.get_type_hints(model, globalns=namespace)
    out: dict[str, _Field] = {}
    for klass in reversed(model.__mro__):
        for attr, value in vars(klass).items():
            if attr.startswith("_") or not hasattr(value, "_visibility"):
                continue
            rest = getattr(value, "_rest_name_input", None) or attr
            hint = hints.get(attr, Any)
            out[rest] = _Field(rest, hint, tuple(value._visibility or ()), _optional(hint))
    return out


def _optional(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def _discriminated(model: type, value: Mapping[str, Any]) -> type:
    mapping = getattr(model, "__mapping__", None)
    if not mapping:
        return model
    for klass in model.__mro__:
        for attr in vars(klass).values():
            if getattr(attr, "_is_discriminator", False):
                key = getattr(attr, "_rest_name_input", None)
                sub = mapping.get(value.get(key)) if key else None
                if isinstance(sub, type):
                    return _discriminated(sub, value) if sub is not model else model
    return model


ProblemKind = Literal["undeclared", "readOnly", "writeOnly", "type", "required"]


@dataclass(frozen=True)
class Problem:
    """One departure of a body from its model: where (a JSON path from `body`), what kind, in words; `owner`
    is the model the property belongs to (or should)."""

    where: str
    kind: ProblemKind
    message: str
    owner: str = ""


def check_body(model: type, value: Any, direction: Direction, where: str = "body") -> Iterator[Problem]:
    """Every way `value` departs from `model` as `direction` sends it."""
    yield from _check(model, value, direction, where)


def _type_problem(where: str, expected: str, value: Any) -> Problem:
    return Problem(where, "type", f"expected {expected}, got {_type_name(value)}", expected)


def _check(hint: Any, value: Any, direction: Direction, where: str) -> Iterator[Problem]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or hint is object:
        return
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if value is None:
            return
        if all(a is str or (isinstance(a, type) and issubclass(a, Enum)) for a in options):
            if not isinstance(value, str):  # an extensible enum: any string
                yield _type_problem(where, "a string", value)
            return
        problems = [list(_check(a, value, direction, where)) for a in options]
        if all(problems):
            yield from min(problems, key=len)
        return
    if origin is Literal:
        if value not in args:
            yield Problem(where, "type", f"expected one of {list(args)}, got {value!r}")
        return
    if origin is list:
        if not isinstance(value, list):
            yield _type_problem(where, "an array", value)
            return
        for i, item in enumerate(value):
            yield from _check(args[0] if args else Any, item, direction, f"{where}[{i}]")
        return
    if origin in (dict, Mapping):
        if not isinstance(value, dict):
            yield _type_problem(where, "an object", value)
            return
        for key, item in value.items():
            yield from _check(args[1] if len(args) > 1 else Any, item, direction, f"{where}.{key}")
        return
    if value is None:
        return  # null: "not set" on the wire; requiredness is checked by the parent
    expected = _SCALARS.get(hint) or (("a string", str) if isinstance(hint, type) and issubclass(hint, Enum) else None)
    if expected is not None:
        name, accepts = expected
        if isinstance(value, bool) != (accepts is bool) or not isinstance(value, accepts):
            yield _type_problem(where, name, value)
        elif hint is datetime.datetime and not _is_datetime(str(value)):
            yield Problem(where, "type", f"expected an RFC 3339 date-time, got {value!r}", name)
        return
    if _is_model(hint):
        yield from _check_model(hint, value, direction, where)
    # anything else the SDK annotates (JSON, IO) is not checked


# JSON scalar types by annotation: (in words, the Python type json.loads gives)
_SCALARS: dict[Any, tuple[str, type | tuple[type, ...]]] = {
    str: ("a string", str),
    bool: ("a boolean", bool),
    int: ("an integer", int),
    float: ("a number", (int, float)),
    datetime.datetime: ("a date-time string", str),
    datetime.timedelta: ("a duration string", str),
    datetime.date: ("a date string", str),
    datetime.time: ("a time string", str),
    bytes: ("a base64 string", str),
    bytearray: ("a base64 string", str),
}


def _check_model(hint: type, value: Any, direction: Direction, where: str) -> Iterator[Problem]:
    if not isinstance(value, dict):
        yield _type_problem(where, f"an object ({hint.__name__})", value)
        return
    model = _discriminated(hint, value)
    name = model.__name__
    declared = _fields(model)
    for key, item in value.items():
        declared_field = declared.get(key)
        if declared_field is None:
            yield Problem(f"{where}.{key}", "undeclared", f"not declared by {name}", name)
        elif direction == "request" and declared_field.read_only:
            yield Problem(f"{where}.{key}", "readOnly", f"readOnly in {name}: a client must not send it", name)
        elif direction == "response" and declared_field.visibility and "read" not in declared_field.visibility:
            yield Problem(f"{where}.{key}", "writeOnly", f"write-only in {name}: a service never returns it", name)
        else:
            yield from _check(declared_field.hint, item, direction, f"{where}.{key}")
    for declared_field in declared.values():
        visible = (
            "read" in declared_field.visibility
            if direction == "response"
            else bool({"create", "update"} & set(declared_field.visibility))
        )
        if not declared_field.optional and visible and value.get(declared_field.rest_name) is None:
            where_missing = f"{where}.{declared_field.rest_name}"
            yield Problem(where_missing, "required", f"required by {name} but missing", name)


def _is_datetime(value: str) -> bool:
    try:
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


# --- exchanges ----------------------------------------------------------------------------------------------


class _Exchange(typing.Protocol):
    method: str
    path: str
    api_version: str | None
    status: int
    body: Any
    response: Any
    headers: dict[str, str]


_OPERATION_STATUS = re.compile(
    r"^/subscriptions/[^/]+/providers/[^/]+/locations/[^/]+/(operations|operationResults)/([^/]+)$", re.IGNORECASE
)


class Checker:
    """Judges exchanges one after the other, remembering which operation started each LRO (its polls and
    final result are judged by that operation's declarations)."""

    def __init__(self) -> None:
        self._started: dict[str, Operation] = {}  # LRO id (from the starting response's headers) -> operation

    def feed(self, record: _Exchange) -> list[Violation]:
        out: list[Violation] = []

        def add(direction: Direction, where: str, problem: str) -> None:
            out.append(Violation(direction, record.method, record.path, record.status, where, problem))

        polled = _OPERATION_STATUS.match(record.path)
        if polled and record.method == "GET":
            _check_poll(polled.group(1).lower(), self._started.get(polled.group(2).lower()), record, add)
            return out
        op = find_operation(record.method, record.path, record.api_version)
        if op is None:
            add("request", "path", f"no {record.method} operation of api-version {record.api_version} has this path")
            return out
        _check_exchange(op, record, add)
        for header in LRO_HEADERS:
            link = _header(record.headers, header)
            if link:
                self._started[link.split("?")[0].rstrip("/").rsplit("/", 1)[-1].lower()] = op
        return out


def report(violations: list[Violation], limit: int = 40) -> str:
    """Violations one per line, for an assertion message."""
    more = f"\n... and {len(violations) - limit} more" if len(violations) > limit else ""
    return "\n".join(str(v) for v in violations[:limit]) + more


def check(records: Iterable[_Exchange]) -> list[Violation]:
    """Every violation in a request log, in order."""
    checker = Checker()
    return [violation for record in records for violation in checker.feed(record)]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def _check_exchange(op: Operation, record: _Exchange, add: Any) -> None:
    what = f"{op.group}.{op.name}"
    if record.body is not None:
        if op.request_model is None:
            add("request", "body", f"{what} takes no body")
        else:
            for problem in check_body(op.request_model, record.body, "request"):
                add("request", problem.where, problem.message)
    if record.status >= 400:
        for where, message in check_error(record.response):
            add("response", where, message)
        return
    if record.status not in op.statuses:
        add("response", "status", f"{what} declares {list(op.statuses)}, not {record.status}")
        return
    for header in op.headers.get(record.status, ()):
        value = _header(record.headers, header)
        if header in LRO_HEADERS and not value:
            add("response", f"header {header}", f"declared by {what} for {record.status} but missing")
        if header == "Retry-After" and value is not None and not value.isdigit():
            add("response", "header Retry-After", f"must be an integer number of seconds, got {value!r}")
    if record.response is None:
        return
    model = op.response_model
    if model is None:
        add("response", "body", f"{what} declares no body for {record.status}")
        return
    if op.paged:
        if not isinstance(record.response, dict) or not isinstance(record.response.get("value"), list):
            add("response", "body", "a page must be an object with a `value` array")
            return
        for key in record.response:
            if key not in ("value", "nextLink"):
                add("response", f"body.{key}", "not declared by a page (value, nextLink)")
        for i, item in enumerate(record.response["value"]):
            for problem in check_body(model, item, "response", f"body.value[{i}]"):
                add("response", problem.where, problem.message)
        return
    for problem in check_body(model, record.response, "response"):
        add("response", problem.where, problem.message)


def check_error(body: Any) -> Iterator[tuple[str, str]]:
    """ARM's error response: `{"error": {"code", "message", "target"?, "details"?, "additionalInfo"?}}`
    (azure-resource-manager-rpc v1.0/common-api-details.md, "Error Response Content"). ARM's own shape,
    not each operation's error model: some Network specs declare their errors as the unwrapped `Error`
    (code, message, ...) although ARM and azure-core's `ARMErrorFormat` use the wrapped form."""
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        yield "body", "an ARM error body is an object with exactly one property, `error`"
        return
    yield from _check_error_detail(body["error"], "body.error")


def _check_error_detail(detail: dict[str, Any], where: str) -> Iterator[tuple[str, str]]:
    for key in ("code", "message"):
        if not isinstance(detail.get(key), str):
            yield f"{where}.{key}", "required string missing"
    for key, value in detail.items():
        if key in ("code", "message", "target") and not isinstance(value, str):
            yield f"{where}.{key}", f"expected a string, got {_type_name(value)}"
        elif key == "details":
            if not isinstance(value, list):
                yield f"{where}.details", f"expected an array, got {_type_name(value)}"
                continue
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    yield from _check_error_detail(item, f"{where}.details[{i}]")
                else:
                    yield f"{where}.details[{i}]", f"expected an object, got {_type_name(item)}"
        elif key == "additionalInfo" and not isinstance(value, list):
            yield f"{where}.additionalInfo", f"expected an array, got {_type_name(value)}"
        elif key not in ("code", "message", "target", "details", "additionalInfo"):
            yield f"{where}.{key}", "not an ARM error field"


def _check_poll(kind: str, op: Operation | None, record: _Exchange, add: Any) -> None:
    retry_after = _header(record.headers, "Retry-After")
    if retry_after is not None and not retry_after.isdigit():
        add("response", "header Retry-After", f"must be an integer number of seconds, got {retry_after!r}")
    if record.status >= 400:
        for where, message in check_error(record.response):
            add("response", where, message)
        return
    if kind == "operations":
        body = record.response
        if not isinstance(body, dict) or body.get("status") not in ASYNC_OPERATION_STATES:
            add("response", "body.status", f"an async operation's status must be one of {sorted(ASYNC_OPERATION_STATES)}")
            return
        for key in body:
            if key not in ASYNC_OPERATION_FIELDS:
                add("response", f"body.{key}", "not an async operation field")
        return
    if record.status == 202:
        if not _header(record.headers, "Location"):
            add("response", "header Location", "an operation result still in progress must say where to poll")
        return
    if record.response is not None and op is not None and op.response_model is not None:
        for problem in check_body(op.response_model, record.response, "response"):
            add("response", problem.where, problem.message)
