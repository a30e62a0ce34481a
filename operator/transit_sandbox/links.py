"""How the emulated Databricks account API reaches into the emulated ARM.

In Azure, creating an NCC private endpoint rule makes Databricks create a private endpoint in its own
subscription, and a connection appears on the customer's target (a Private Link Service or an Application
Gateway) in state `Pending`. The ARM emulator implements this protocol; the Databricks emulator calls it.
"""

from __future__ import annotations

from typing import Protocol


class LinkError(Exception):
    """The target refused the connection (Azure's error code and message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class PrivateLinkBroker(Protocol):
    def connect(self, target_id: str, group_id: str | None, endpoint_id: str, request_message: str) -> str:
        """A private endpoint `endpoint_id` (in Databricks' subscription) asks to connect to `target_id`.

        Returns the connection's name on the target. Raises LinkError when the target does not exist,
        is not a private-link-capable resource, or `group_id` is wrong for it (App Gateway: the name of a
        frontend IP configuration that carries a private link configuration; PLS: must be None/empty).
        """
        ...

    def status(self, target_id: str, connection_name: str) -> str | None:
        """`Pending` | `Approved` | `Rejected` | `Disconnected`, or None when the connection is gone."""
        ...

    def approved_since(self, target_id: str, connection_name: str) -> float | None:
        """Seconds since the connection was approved; None when it is not approved (or gone)."""
        ...

    def disconnect(self, target_id: str, connection_name: str) -> None:
        """The consumer's endpoint was deleted: remove the connection from the target (no error if gone)."""
        ...
