"""The operator's one error hierarchy, and the one table that says which cloud errors are worth retrying.

Hierarchy (everything the operator raises on purpose derives from `TransitError`; reconcile catches only
these, so a programming error - a `KeyError`, a `TypeError` - escapes to the runtime, which retries the
object with backoff and posts a `ReconcileError` Event instead of turning it into a cloud condition)::

    TransitError                       (api.errors)
     ├── InvalidSpec                   (api.errors; also a ValueError, so pydantic validators raise it)
     │    │                            a value that can never work, refused before any cloud write:
     │    │                            `Stalled/InvalidSpec` naming the field
     │    ├── InvalidCredentials       a Databricks credentials Secret that cannot be used (names the
     │    │                            Secret and the key, never the value)
     │    └── HostNotAllowed           `spec.databricks.accountHost` is not a Databricks account host and
     │                                 the operator was not told to allow it (`--allow-databricks-host`)
     ├── InputError                    (plan.command) `transit-operator plan`: files or documents refused
     ├── Blocked                       (reconcile.pass_record) the pass waits for something, or needs a
     │    │                            person; carries the condition reason
     │    └── DatabricksProblem        (reconcile.transit.databricks) the Databricks side: a region mismatch, a missing
     │                                 credentials Secret, a rejected connection
     ├── SecretUnreadable              a Secret the API server would not hand over now (not a 404)
     ├── CloudError                    an Azure or Databricks call failed; `.classified` says what to do
     │    ├── RetryableError           throttled, busy, 5xx, network; or (`classified.slow`) a permission,
     │    │                            resource group or reference that may still appear: requeue with delay
     │    └── FatalError               the request itself is wrong: `Stalled` until the spec changes
     │         ├── OwnershipConflict   the resource carries another owner's tags: never touched
     │         └── RefusedWrite        the write would reach another resource than the one meant
     └── UnsupportedResourceType       an ARM type missing from `cloud.arm`'s table (a programming error)

Every SDK error is turned into a `CloudError` inside `cloud/` (`sdk_errors()` around each SDK call), so no
layer above ever sees an azure-core, databricks-sdk or `requests` exception.

`classify(exc)` turns an exception from azure-core, azure-mgmt-*, databricks-sdk or `requests` into a
`Classified` (retryable?, slowly?, code, message, delay). Azure's own error code and message are kept so the
condition the user reads names the same code the Azure docs do - with every credential removed
(`cloud.redact.scrub`): this is the boundary where an error text becomes user-visible.

Retries inside a call are azure-core's job (RetryPolicy: 408/429/5xx with Retry-After, exponential
backoff); what reaches here has already been retried there. A retryable error is a requeue with `delay`
(the Retry-After the server sent, or the table's default; the runtime backs off further when the same
failure repeats); a fatal one is a `Stalled` condition that the drift timer or a spec change re-tries.

To classify a new error code: add one line to `_AZURE_CODES` or `_DATABRICKS_CODES`, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from databricks.sdk.errors import DatabricksError

from transit_operator.api.errors import InvalidSpec, TransitError
from transit_operator.cloud.redact import scrub

__all__ = [
    "LONG",
    "MEDIUM",
    "SHORT",
    "SLOW",
    "Classified",
    "CloudError",
    "FatalError",
    "HostNotAllowed",
    "InvalidCredentials",
    "InvalidSpec",
    "OwnershipConflict",
    "RefusedWrite",
    "RetryableError",
    "SecretUnreadable",
    "TransitError",
    "UnsupportedResourceType",
    "classify",
    "sdk_errors",
]

# Delays (seconds) when the server gave no Retry-After.
SHORT = 5.0  # another operation holds the lock; usually seconds
MEDIUM = 15.0  # server-side trouble
LONG = 60.0  # throttling without a hint
# Something outside the spec must change first: a role assignment propagates (Azure documents up to 10
# minutes: learn.microsoft.com/azure/role-based-access-control/troubleshooting), a resource group or
# subnet is created by someone else's pipeline. Retried this often, then slower (runtime backoff).
SLOW = 120.0


class SecretUnreadable(TransitError):
    """A Secret exists (or may) but cannot be read now (the API server refused or failed): wait for it."""


class InvalidCredentials(InvalidSpec):
    """The Databricks credentials Secret cannot be used; the message names the Secret and the key only."""


class HostNotAllowed(InvalidSpec):
    """A Databricks account host the operator will not send credentials to."""


class CloudError(TransitError):
    """A cloud call failed. `.classified` carries Azure's (or Databricks') code and message."""

    def __init__(self, classified: Classified) -> None:
        super().__init__(f"{classified.code}: {classified.message}")
        self.classified = classified


class RetryableError(CloudError):
    """Try again after `classified.delay` seconds."""


class FatalError(CloudError):
    """Retrying will not help until the spec changes."""


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


class RefusedWrite(FatalError):
    """A write that would reach another resource than the one the operator means (an id that walks out
    of its resource, a URL the HTTP stack would normalise elsewhere, a body for another id)."""

    def __init__(self, message: str) -> None:
        super().__init__(Classified(retryable=False, code="RefusedWrite", message=message))


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
    slow: bool = False  # retryable, but waits for something outside the spec (permissions, references)
    # The server's own hint (`Retry-After`, Databricks' `retry_after_secs`), in real seconds: the next attempt
    # comes no sooner, whatever the operator's time scale (RFC 9110 section 10.2.3).
    retry_after: float | None = None

    def as_error(self) -> CloudError:
        return (RetryableError if self.retryable else FatalError)(self)


_RETRY = (True, None)
_FATAL = (False, None)
_SLOWLY = (True, SLOW)

# Azure error codes (ARM and resource providers), matched case-insensitively: (retryable, delay). A `None`
# delay means Retry-After or the HTTP status default. The model is Azure Service Operator v2's classifier
# (v2/internal/reconcilers/arm/errorclassification/error_classifier.go); every line says why.
_AZURE_CODES: dict[str, tuple[bool, float | None]] = {
    # --- retry soon: the resource or its parent is busy, or the platform is -------------------------------
    "RetryableErrorDueToAnotherOperation": (True, SHORT),  # another PUT holds the resource for seconds
    "AnotherOperationInProgress": (True, SHORT),  # same, on the parent (subnet, VNet)
    "CanceledAndSupersededDueToAnotherOperation": (True, SHORT),  # a newer PUT replaced ours
    "OperationNotAllowed": (True, MEDIUM),  # e.g. a write while the resource is updating
    "Conflict": (True, SHORT),  # VMSS run-command: one command at a time per instance
    "ReferencedResourceNotProvisioned": (True, SHORT),  # the parent (subnet, VNet) is still updating
    "PrivateDnsZoneLinkOperationInProgress": (True, SHORT),  # a link of the zone is being written
    "PreconditionFailed": (True, SHORT),  # etag race: re-read and try again
    "TooManyRequests": (True, LONG),  # throttled; Retry-After usually says how long
    "SubscriptionRequestsThrottled": (True, LONG),
    "ResourceGroupRequestsThrottled": (True, LONG),
    "InternalServerError": (True, MEDIUM),  # the platform's trouble, not ours
    "InternalError": (True, MEDIUM),
    "ServerTimeout": (True, MEDIUM),
    "GatewayTimeout": (True, MEDIUM),
    "ServiceUnavailable": (True, MEDIUM),
    # --- retry slowly: something outside the spec must appear first (ASO: retryable) ---------------------
    "AuthorizationFailed": _SLOWLY,  # a role assignment propagates for minutes after it is made
    "LinkedAuthorizationFailed": _SLOWLY,  # the same, on a linked resource (the customer's subnet or VNet)
    "PrincipalNotFound": _SLOWLY,  # a new managed identity replicates through Entra ID for minutes
    "AuthenticationFailed": _SLOWLY,  # a workload identity's federated credential is still propagating
    "InvalidAuthenticationToken": _SLOWLY,  # an expired token: azure-identity gets a new one
    "ResourceGroupNotFound": _SLOWLY,  # created by another pipeline, possibly after the CR
    "InvalidResourceReference": _SLOWLY,  # a referenced subnet/VNet/NSG is still being created
    "ResourceNotFound": _SLOWLY,  # a just-created dependency not yet visible (a GET's 404 is no error)
    "NotFound": _SLOWLY,
    "ParentResourceNotFound": _SLOWLY,  # the VNet of a subnet, the zone of a record: not there yet
    "SubnetNotFound": _SLOWLY,  # the customer's subnet may be created after the CR
    "VirtualNetworkNotFound": _SLOWLY,
    "MissingSubscriptionRegistration": _SLOWLY,  # an admin registers the resource provider once
    "SubscriptionNotRegistered": _SLOWLY,
    "MissingRegistrationForLocation": _SLOWLY,
    # --- fatal: the request itself is wrong, or needs a person (ASO: fatal) -----------------------------------
    "InvalidParameter": _FATAL,  # a value Azure refuses; retrying sends the same value
    "InvalidRequestFormat": _FATAL,
    "InvalidRequestContent": _FATAL,
    "InvalidResourceName": _FATAL,
    "InvalidResourceType": _FATAL,
    "BadRequest": _FATAL,
    "LocationNotAvailableForResourceType": _FATAL,  # spec.azure.location must change
    "InvalidSubnetId": _FATAL,  # the id itself is malformed
    "SubscriptionNotFound": _FATAL,  # a subscription id that does not exist does not start existing
    "PrivateLinkServiceNotFound": _FATAL,  # the Confluent alias/id in the spec is wrong
    "PrivateLinkServiceAliasNotFound": _FATAL,
    "PrivateEndpointCannotBeCreatedInSubnetThatHasNetworkPoliciesEnabled": _FATAL,  # a subnet setting to fix
    "PrivateIPAddressNotInSubnet": _FATAL,  # the App Gateway frontend IP must change
    "PrivateIPAddressInReservedRange": _FATAL,
    "RequestDisallowedByPolicy": _FATAL,  # an Azure Policy assignment refuses the body
    "QuotaExceeded": _FATAL,  # a quota increase is a support request; the drift timer looks again
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
    # A Secret or an account role is fixed without any spec change: only retrying notices the fix.
    "PERMISSION_DENIED": _SLOWLY,
    "UNAUTHENTICATED": _SLOWLY,
    "INVALID_PARAMETER_VALUE": _FATAL,
    "INVALID_STATE": _FATAL,
    "BAD_REQUEST": _FATAL,
    "RESOURCE_DOES_NOT_EXIST": _FATAL,  # an NCC id or workspace id in the spec that is wrong
    "NOT_FOUND": _FATAL,
    "RESOURCE_ALREADY_EXISTS": _FATAL,
    "ALREADY_EXISTS": _FATAL,
    "PRIVATE_LINK_VALIDATION_ERROR": _FATAL,
    "QUOTA_EXCEEDED": _FATAL,
}

_AZURE = {code.lower(): verdict for code, verdict in _AZURE_CODES.items()}


def _by_status(status: int | None) -> tuple[bool, float | None]:
    """When the code is unknown, the HTTP status decides (the statuses azure-core retries, plus 401/403/404
    as "may appear", as ASO retries every unknown status but 400)."""
    if status is None:
        return True, MEDIUM  # no response at all: network trouble
    if status in (401, 403, 404):
        return True, SLOW
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


def _verdict(retryable: bool, delay: float | None, default: float) -> tuple[bool, float | None, bool]:
    """(retryable, delay, slow) from a table entry."""
    if not retryable:
        return False, None, False
    return True, delay if delay is not None else default, delay == SLOW


def classify(exc: BaseException) -> Classified:
    """Classify an exception from azure-core, azure-mgmt-*, databricks-sdk, `requests` or this module.

    Messages are scrubbed of credentials here (`cloud.redact`). Anything else is classified as a fatal
    error of its type; callers in `cloud/` only pass SDK errors (`sdk_errors`)."""
    if isinstance(exc, CloudError):
        return exc.classified
    if isinstance(exc, ClientAuthenticationError) and getattr(exc, "response", None) is None:
        # the credential could not get a token (no identity yet, a federated credential still propagating)
        return Classified(True, "AuthenticationFailed", scrub(str(exc.message or exc)), SLOW, slow=True)
    if isinstance(exc, HttpResponseError):
        status = exc.status_code
        error = exc.error
        # No status: the answer itself broke (azure-core's DecodeError/IncompleteReadError when the
        # connection dies mid-body) - name that, not "HTTPNone".
        code = (error.code if error is not None else None) or (f"HTTP{status}" if status else type(exc).__name__)
        message = (error.message if error is not None else None) or str(exc.message or exc)
        table = _AZURE.get(code.lower())
        retryable, delay, slow = _verdict(*(table or _by_status(status)), default=MEDIUM)
        hinted = _retry_after(getattr(getattr(exc, "response", None), "headers", None))
        if retryable and hinted is not None and not slow:
            delay = hinted
        return Classified(retryable, code, scrub(message), delay, status, slow, hinted if retryable else None)
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return Classified(True, type(exc).__name__, scrub(str(exc.message or exc)), MEDIUM)
    if isinstance(exc, DatabricksError):
        code = exc.error_code or type(exc).__name__
        retryable, delay, slow = _verdict(*_DATABRICKS_CODES.get(code.upper(), _FATAL), default=MEDIUM)
        hint = float(exc.retry_after_secs) if retryable and exc.retry_after_secs else None
        if hint is not None and not slow:
            delay = hint
        return Classified(retryable, code, scrub(str(exc)), delay, slow=slow, retry_after=hint)
    if isinstance(exc, AzureError):  # e.g. a decode error: the response was not what the API promises
        return Classified(True, type(exc).__name__, scrub(str(exc.message or exc)), MEDIUM)
    if isinstance(exc, (requests.RequestException, OSError)):
        return Classified(True, type(exc).__name__, scrub(str(exc)), MEDIUM)
    return Classified(False, type(exc).__name__, scrub(str(exc)))


# What an SDK call may raise that is about the call, not about our code.
SDK_ERRORS: tuple[type[BaseException], ...] = (AzureError, DatabricksError, requests.RequestException, OSError)


@contextmanager
def sdk_errors() -> Iterator[None]:
    """Turn an SDK error raised inside the block into the matching `CloudError` (retryable or fatal).
    The project's own errors pass through; anything else (a bug) propagates unchanged."""
    try:
        yield
    except TransitError:
        raise
    except SDK_ERRORS as exc:
        raise classify(exc).as_error() from exc
