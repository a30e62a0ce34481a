"""Reading and writing `.status`: strict when written, tolerant when read back.

The status models (`api.v1alpha1.ConfluentPrivateLinkStatus`, `ServerlessTransitStatus` and their parts)
refuse unknown fields like every API model, so a misspelled field in a reconciler is an error, not a key
that passes silently. What is read back is another matter: an older operator version may have written
fields this one does not know, and anyone allowed to write the status subresource may have written
anything. `read_status` takes such a document apart gently:

    unknown fields          dropped (`drop_invalid=False` too: they are simply not ours to read)
    values that fail        dropped with `drop_invalid=True` (a reconciler's own previous status: a value
                            it cannot trust is never used, it is recomputed); raised as `ValidationError`
                            otherwise (another object's status whose values flow into our writes)

`dump_status` is the one way a status model becomes the document the runtime writes: camelCase by alias,
JSON types, and no `null`s: an unset value is an absent key (what a merge patch leaves on the server
anyway, so the written document and the stored one are the same).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

__all__ = ["dump_status", "known_fields_only", "read_status"]

Model = TypeVar("Model", bound=BaseModel)

# Bound on the clean-up: a status is at most ~1.5 MiB (etcd), but a pass that has to drop more than this
# many separate values gets an empty status instead (everything is recomputed).
_MAX_REPAIRS = 200


def _drop(document: Any, loc: tuple[int | str, ...], missing: bool) -> bool:
    """Remove what `loc` names from `document` in place (for a missing field: the item that lacks it). True
    when something was removed."""
    path = loc[:-1] if missing else loc
    parents: list[tuple[Any, int | str]] = []
    node = document
    for part in path:
        if isinstance(node, list):
            if not (isinstance(part, int) and 0 <= part < len(node)):
                break  # a union member tag or a path into a wrong type: drop what holds it
            parents.append((node, part))
            node = node[part]
        elif isinstance(node, Mapping) and part in node:
            parents.append((node, part))
            node = node[part]
        else:
            break
    if not parents:
        return False
    container, key = parents[-1]
    if isinstance(container, list):
        container.pop(int(key))
    else:
        del container[key]
    return True


def _without(document: dict[str, Any], model: type[BaseModel], drop: Any) -> dict[str, Any]:
    """`document` with the errors `drop` picks out of a validation removed, until none is left."""
    for _ in range(_MAX_REPAIRS):
        try:
            model.model_validate(document)
            return document
        except ValidationError as exc:
            chosen = [e for e in exc.errors() if drop(e)]
            if not chosen:
                return document
            # Deepest first, and list items from the end, so earlier removals do not move later ones.
            for error in sorted(chosen, key=lambda e: [(str(type(p)), p) for p in e["loc"]], reverse=True):
                _drop(document, tuple(error["loc"]), error["type"] == "missing")
    return {}


def _unknown(error: Any) -> bool:
    return bool(error["type"] == "extra_forbidden")


def read_status(model: type[Model], raw: Any, *, drop_invalid: bool) -> Model:
    """`raw` as a `model`, with unknown fields dropped and (with `drop_invalid`) every value that does not
    validate dropped too; see the module docstring. A `raw` that is not an object reads as empty."""
    document = copy.deepcopy(dict(raw)) if isinstance(raw, Mapping) else {}
    document = _without(document, model, (lambda e: True) if drop_invalid else _unknown)
    return model.model_validate(document)


def known_fields_only(model: type[Model]) -> Any:
    """A pydantic `BeforeValidator` for a CR's `status`: unknown fields dropped; the rest is then validated
    as usual (errors name `status.<field>`)."""

    def read(raw: Any) -> Any:
        if not isinstance(raw, Mapping):
            return raw
        return _without(copy.deepcopy(dict(raw)), model, _unknown)

    return read


def dump_status(status: BaseModel) -> dict[str, Any]:
    """The document the runtime writes for a status model (camelCase, JSON types)."""
    return status.model_dump(by_alias=True, mode="json", exclude_none=True)
