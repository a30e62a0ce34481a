"""Bounds on what the sandbox reads: request bodies, YAML aliases, nesting.

The Kubernetes API server refuses a request body over 3 MiB with 413 and a `Status`
(k8s.io/apiserver `limitedReadBody`: "Request entity too large: limit is 3145728"), and go-yaml refuses a
document whose aliases expand it excessively ("billion laughs"). The emulators do the same, so a hostile
document is refused there as it would be by the real thing, instead of exhausting memory. The operator
has its own bounded loader (`transit_operator.plan.command.load_yaml_documents`): the sandbox never
imports the operator.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from aiohttp import web

__all__ = [
    "MAX_REQUEST_BYTES",
    "MAX_YAML_ALIASES",
    "MAX_YAML_NODES",
    "BodyTooLarge",
    "load_json",
    "load_yaml",
    "read_limited",
]

MAX_REQUEST_BYTES = 3 * 1024 * 1024  # the API server's MaxRequestBodyBytes
MAX_YAML_NODES = 100_000
MAX_YAML_ALIASES = 1000


class BodyTooLarge(Exception):
    """The request body is over the limit (the caller answers 413)."""


async def read_limited(request: web.Request, limit: int = MAX_REQUEST_BYTES) -> bytes:
    """The request body, refusing (`BodyTooLarge`) beyond `limit` bytes without reading more than that."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class _Loader(yaml.SafeLoader):
    def __init__(self, stream: str | bytes) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_YAML_ALIASES} aliases")
        return super().compose_node(parent, index)


def _nodes(node: yaml.Node, memo: dict[int, int]) -> int:
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1
    size = 1
    if isinstance(node, yaml.MappingNode):
        size += sum(_nodes(k, memo) + _nodes(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size += sum(_nodes(item, memo) for item in node.value)
    memo[id(node)] = min(size, MAX_YAML_NODES + 1)
    return memo[id(node)]


def load_yaml(text: str | bytes) -> Any:
    """One YAML document, refused (`yaml.YAMLError`) when its aliases would expand it beyond
    `MAX_YAML_NODES` nodes, or it nests deeper than Python's recursion allows."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _nodes(node, {}) > MAX_YAML_NODES:
            raise yaml.YAMLError(f"the document expands to more than {MAX_YAML_NODES} nodes")
        return loader.construct_document(node)
    except RecursionError:
        raise yaml.YAMLError("nested too deeply") from None
    finally:
        loader.dispose()


def load_json(text: str | bytes) -> Any:
    """`json.loads`, with nesting beyond Python's recursion limit a `ValueError` like any bad JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
