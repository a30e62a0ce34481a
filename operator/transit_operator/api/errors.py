"""The root of the operator's error hierarchy, at the bottom layer so that every layer can raise it.

The whole hierarchy is drawn once, in `transit_operator.cloud.errors`' docstring. Here live only the two
classes the layers below `cloud` need: `TransitError` (the root: everything raised on purpose derives from
it, so the reconcilers can catch exactly the project's errors and let a programming error reach the
runtime) and `InvalidSpec` (a value the operator refuses before any cloud call).
"""

from __future__ import annotations

__all__ = ["InvalidSpec", "TransitError"]


class TransitError(Exception):
    """Base of every error the operator raises on purpose."""


class InvalidSpec(TransitError, ValueError):
    """A spec (or Secret, or status) value that can never work: refused before any cloud write.

    A `ValueError` too, so a pydantic validator may raise it and report it with the field's path.
    `field` is the camelCase path of the value (`spec.network.frontendSubnetId`), when one is known.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
