"""Errors of the cloud layer, and the one table that says which cloud errors are worth retrying.

Hierarchy (everything the operator raises on purpose derives from `TransitError`)::

    TransitError
     ├── CloudError                 an Azure or Databricks call failed; `.classified` says what to do
     │    ├── RetryableError        throttled, locked by another operation, 5xx, network: requeue with delay
     │    └── FatalError            bad reference, authorization, invalid parameter: Stalled until fixed
     │         └── OwnershipConflict   the resource carries another owner's tags: never touched
     └── UnsupportedResourceType    an ARM type missing from `cloud.arm`'s table (a programming error)

`classify(exc)` turns any exception from azure-core, azure-mgmt-*, databricks-sdk or this module into a
`Classified` (retryable?, code, message, delay). Azure's own error code and message are kept verbatim so the
condition the user reads names the same code the Azure docs do.

Retries inside a call are azure-core's job (RetryPolicy: 408/429/5xx with Retry-After, exponential
backoff); what reaches here has already been retried there. A retryable error is a requeue with `delay`
(the Retry-After the server sent, or the table's default); a fatal one is a `Stalled` condition that only
the drift timer or a spec change re-tries.

To classify a new error code: add one line to `_AZURE_CODES` or `_DATABRICKS_CODES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from databricks.sdk.errors import DatabricksError

# Delays (seconds) when the server gave no Retry-After.
SHORT = 5.0  # another operation holds the lock; usually seconds
MEDIUM = 15.0  # server-side trouble
LONG = 60.0  # throttling without a hint


class TransitError(Exception):
    """Base of every error the operator raises on purpose."""


class CloudError(TransitError):
    """A cloud call failed. `.classified` carries Azure's (or Databricks') code and message verbatim."""

    def __init__(self, classified: Classified) -> None:
        super().__init__(f"{classified.code}: {classified.message}")
        self.classified = classified


class RetryableError(CloudError):
    """Try again after `classified.delay` seconds."""


class FatalError(CloudError):
    """Retrying will not help until the spec (or the cloud, e.g. a role assignment) changes."""


class OwnershipConflict(FatalError):
    """The resource exists and is tagged as managed by another owner; the operator never touches it."""

    def __init__(self, resource_id: str, owner: str) -> None:
        super().__init__(
            Classified(
                retryable=False,
                code="OwnershipConflict",
                message=f"{resource_id} is managed by {owner}; refusing to adopt or change it",
            )
        )
        self.resource_id = resource_id
        self.owner = owner


class UnsupportedResourceType(TransitError):
    """An ARM resource type that `cloud.arm` has no table entry for."""


@dataclass(frozen=True)
class Classified:
    """What to do about one error."""

    retryable: bool
    code: str
    message: str
    delay: float | None = None  # seconds before the next attempt (retryable only)
    status: int | None = None  # HTTP status, when there was a response

    def as_error(self) -> CloudError:
        return (RetryableError if self.retryable else FatalError)(self)


# Azure error codes (ARM and resource providers). Matched case-insensitively; `None` delay = use
# Retry-After or the status default. Sources: ASO v2 error_classifier.go, ARM/NRP error docs.
_AZURE_CODES: dict[str, tuple[bool, float | None]] = {
    # retryable: the resource or its parent is busy, or the platform is
    "RetryableErrorDueToAnotherOperation": (True, SHORT),
    "AnotherOperationInProgress": (True, SHORT),
    "OperationNotAllowed": (True, MEDIUM),  # e.g. operation on a resource being updated
    "Conflict": (True, SHORT),  # VMSS run-command: one command at a time per instance
    "ReferencedResourceNotProvisioned": (True, SHORT),  # the parent (subnet, VNet) is still updating
    "PrivateDnsZoneLinkOperationInProgress": (True, SHORT),
    "TooManyRequests": (True, LONG),
    "SubscriptionRequestsThrottled": (True, LONG),
    "ResourceGroupRequestsThrottled": (True, LONG),
    "InternalServerError": (True, MEDIUM),
    "InternalError": (True, MEDIUM),
    "ServerTimeout": (True, MEDIUM),
    "GatewayTimeout": (True, MEDIUM),
    "ServiceUnavailable": (True, MEDIUM),
    "CanceledAndSupersededDueToAnotherOperation": (True, SHORT),
    "ResourceNotFound": (
        True,
        SHORT,
    ),  # a just-created dependency not yet visible; 404 of a GET is not an error
    # fatal: the request itself is wrong, or we may not make it
    "InvalidResourceReference": (False, None),
    "LinkedAuthorizationFailed": (False, None),
    "AuthorizationFailed": (False, None),
    "AuthenticationFailed": (False, None),
    "InvalidAuthenticationToken": (False, None),
    "PrivateLinkServiceNotFound": (False, None),
    "PrivateLinkServiceAliasNotFound": (False, None),
    "PrivateEndpointCannotBeCreatedInSubnetThatHasNetworkPoliciesEnabled": (False, None),
    "InvalidParameter": (False, None),
    "InvalidRequestFormat": (False, None),
    "InvalidRequestContent": (False, None),
    "InvalidResourceName": (False, None),
    "InvalidResourceType": (False, None),
    "LocationNotAvailableForResourceType": (False, None),
    "SubnetNotFound": (False, None),
    "InvalidSubnetId": (False, None),
    "NotFound": (False, None),
    "VirtualNetworkNotFound": (False, None),
    "ResourceGroupNotFound": (False, None),
    "SubscriptionNotFound": (False, None),
    "MissingSubscriptionRegistration": (False, None),
    "QuotaExceeded": (False, None),
    "PreconditionFailed": (True, SHORT),  # etag race: re-read and try again
    "BadRequest": (False, None),
}

# Databricks account API error codes (databricks-sdk `DatabricksError.error_code`).
_DATABRICKS_CODES: dict[str, tuple[bool, float | None]] = {
    "TEMPORARILY_UNAVAILABLE": (True, MEDIUM),
    "INTERNAL_ERROR": (True, MEDIUM),
    "DEADLINE_EXCEEDED": (True, MEDIUM),
    "ABORTED": (True, SHORT),
    "RESOURCE_CONFLICT": (True, SHORT),
    "REQUEST_LIMIT_EXCEEDED": (True, LONG),
    "RESOURCE_EXHAUSTED": (True, LONG),
    "TOO_MANY_REQUESTS": (True, LONG),
    "INVALID_PARAMETER_VALUE": (False, None),
    "INVALID_STATE": (False, None),
    "BAD_REQUEST": (False, None),
    "PERMISSION_DENIED": (False, None),
    "UNAUTHENTICATED": (False, None),
    "RESOURCE_DOES_NOT_EXIST": (False, None),
    "NOT_FOUND": (False, None),
    "RESOURCE_ALREADY_EXISTS": (False, None),
    "ALREADY_EXISTS": (False, None),
    "PRIVATE_LINK_VALIDATION_ERROR": (False, None),
}

_AZURE = {code.lower(): verdict for code, verdict in _AZURE_CODES.items()}


def _by_status(status: int | None) -> tuple[bool, float | None]:
    """When the code is unknown, the HTTP status decides (the same statuses azure-core retries)."""
    if status is None:
        return True, MEDIUM  # no response at all: network trouble
    if status in (408, 409, 412, 423, 429) or status >= 500:
        return True, LONG if status == 429 else MEDIUM if status >= 500 else SHORT
    return False, None


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(float(value) * scale, 0.0)
        except ValueError:
            continue  # an HTTP date: fall back to the table
    return None


def classify(exc: BaseException) -> Classified:
    """Classify an exception from azure-core, azure-mgmt-*, databricks-sdk or this module."""
    if isinstance(exc, CloudError):
        return exc.classified
    if isinstance(exc, ClientAuthenticationError) and getattr(exc, "response", None) is None:
        # the credential could not get a token (no identity, bad secret): fixing it is an admin's job
        return Classified(False, "AuthenticationFailed", str(exc.message or exc))
    if isinstance(exc, HttpResponseError):
        status = exc.status_code
        error = exc.error
        code = (error.code if error is not None else None) or f"HTTP{status}"
        message = (error.message if error is not None else None) or str(exc.message or exc)
        retryable, delay = _AZURE.get(code.lower(), _by_status(status))
        response = getattr(exc, "response", None)
        hinted = _retry_after(getattr(response, "headers", None))
        if retryable and hinted is not None:
            delay = hinted
        return Classified(retryable, code, message, delay if retryable else None, status)
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return Classified(True, type(exc).__name__, str(exc.message or exc), MEDIUM)
    if isinstance(exc, DatabricksError):
        code = exc.error_code or type(exc).__name__
        retryable, delay = _DATABRICKS_CODES.get(code.upper(), (False, None))
        if retryable and exc.retry_after_secs:
            delay = float(exc.retry_after_secs)
        return Classified(retryable, code, str(exc), delay)
    if isinstance(exc, OSError):
        return Classified(True, type(exc).__name__, str(exc), MEDIUM)
    return Classified(False, type(exc).__name__, str(exc))
