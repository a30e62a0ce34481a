"""cloud.errors.classify: Azure/Databricks errors -> retryable (with delay) or fatal, code and message verbatim."""

from __future__ import annotations

import json

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    IncompleteReadError,
    ServiceRequestError,
)
from azure.core.utils import case_insensitive_dict
from azure.mgmt.core.exceptions import ARMErrorFormat
from databricks.sdk.errors import (
    InvalidParameterValue,
    PermissionDenied,
    TemporarilyUnavailable,
    TooManyRequests,
)

from transit_operator.cloud.errors import (
    SLOW,
    CloudError,
    FatalError,
    OwnershipConflict,
    RetryableError,
    TransitError,
    classify,
)


class _Response:
    """The little of azure-core's HttpResponse that HttpResponseError reads."""

    def __init__(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.reason = "reason"
        self.headers = case_insensitive_dict(headers or {})
        self.request = None
        self._body = body

    def text(self, encoding: str | None = None) -> str:
        return self._body if isinstance(self._body, str) else json.dumps(self._body)


def arm_error(status: int, code: str | None, message: str = "msg", headers: dict[str, str] | None = None):
    body = {"error": {"code": code, "message": message}} if code else "<html>gateway</html>"
    return HttpResponseError(response=_Response(status, body, headers), error_format=ARMErrorFormat)


@pytest.mark.parametrize(
    ("exc", "retryable", "code", "delay"),
    [
        pytest.param(arm_error(429, "TooManyRequests", headers={"Retry-After": "7"}), True, "TooManyRequests", 7.0,
                     id="throttled-uses-retry-after"),
        pytest.param(arm_error(429, "RetryableErrorDueToAnotherOperation"), True,
                     "RetryableErrorDueToAnotherOperation", 5.0, id="locked-by-another-operation"),
        pytest.param(arm_error(409, "AnotherOperationInProgress"), True, "AnotherOperationInProgress", 5.0,
                     id="another-operation-in-progress"),
        pytest.param(arm_error(409, "Conflict", headers={"retry-after-ms": "1500"}), True, "Conflict", 1.5,
                     id="run-command-conflict-retry-after-ms"),
        pytest.param(arm_error(503, None), True, "HTTP503", 15.0, id="5xx-without-body"),
        pytest.param(arm_error(500, "InternalServerError"), True, "InternalServerError", 15.0, id="internal-error"),
        pytest.param(arm_error(400, "InvalidParameter"), False, "InvalidParameter", None, id="invalid-parameter"),
        pytest.param(arm_error(400, "invalidparameter"), False, "invalidparameter", None, id="codes-case-insensitive"),
        pytest.param(arm_error(400, "PrivateIPAddressNotInSubnet"), False, "PrivateIPAddressNotInSubnet", None,
                     id="frontend-ip-outside-subnet-fatal"),
        pytest.param(arm_error(400, "SomethingNewAndUnknown"), False, "SomethingNewAndUnknown", None,
                     id="unknown-4xx-fatal"),
        pytest.param(arm_error(502, "SomethingNewAndUnknown"), True, "SomethingNewAndUnknown", 15.0,
                     id="unknown-5xx-retryable"),
        pytest.param(ServiceRequestError("connection refused"), True, "ServiceRequestError", 15.0,
                     id="no-connection-retryable"),
        pytest.param(IncompleteReadError("Connection broken: IncompleteRead(10 bytes read, 10 more expected)"),
                     True, "IncompleteReadError", 15.0, id="connection-reset-mid-answer"),

        pytest.param(TooManyRequests("slow", error_code="REQUEST_LIMIT_EXCEEDED", retry_after_secs=9), True,
                     "REQUEST_LIMIT_EXCEEDED", 9.0, id="databricks-throttled"),
        pytest.param(TemporarilyUnavailable("later", error_code="TEMPORARILY_UNAVAILABLE"), True,
                     "TEMPORARILY_UNAVAILABLE", 15.0, id="databricks-unavailable"),
        pytest.param(InvalidParameterValue("bad domain", error_code="INVALID_PARAMETER_VALUE"), False,
                     "INVALID_PARAMETER_VALUE", None, id="databricks-invalid-parameter"),

        pytest.param(OwnershipConflict("/subscriptions/x/rg", "Other/ns/n"), False, "OwnershipConflict", None,
                     id="ownership-conflict-fatal"),
    ],
)
def test_classify(exc: BaseException, retryable: bool, code: str, delay: float | None) -> None:
    classified = classify(exc)
    assert (classified.retryable, classified.code, classified.delay) == (retryable, code, delay)
    assert not classified.slow


@pytest.mark.parametrize(
    ("exc", "retry_after"),
    [
        pytest.param(arm_error(429, "TooManyRequests", headers={"Retry-After": "7"}), 7.0, id="arm-retry-after"),
        pytest.param(arm_error(409, "Conflict", headers={"retry-after-ms": "1500"}), 1.5, id="arm-retry-after-ms"),
        pytest.param(arm_error(503, None), None, id="no-hint"),
        pytest.param(arm_error(400, "InvalidParameter", headers={"Retry-After": "7"}), None, id="fatal-has-none"),
        pytest.param(TooManyRequests("slow", error_code="REQUEST_LIMIT_EXCEEDED", retry_after_secs=9), 9.0,
                     id="databricks-retry-after"),
    ],
)
def test_the_servers_retry_after_is_kept_apart_from_the_delay(exc: BaseException, retry_after: float | None) -> None:
    """`Classified.retry_after` is the server's own hint, which the runtime honours at any time scale."""
    assert classify(exc).retry_after == retry_after


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        # Each resolves without any change to the object: a role assignment propagates, a resource group or
        # subnet is created by another pipeline, an identity replicates, an admin registers a provider.
        pytest.param(arm_error(403, "AuthorizationFailed", headers={"Retry-After": "3"}), "AuthorizationFailed",
                     id="authorization-ignores-retry-after"),
        pytest.param(arm_error(403, "LinkedAuthorizationFailed"), "LinkedAuthorizationFailed",
                     id="linked-authorization"),
        pytest.param(arm_error(404, "ResourceGroupNotFound"), "ResourceGroupNotFound", id="resource-group"),
        pytest.param(arm_error(400, "InvalidResourceReference"), "InvalidResourceReference", id="reference"),
        pytest.param(arm_error(400, "subnetnotfound"), "subnetnotfound", id="subnet-case-insensitive"),
        pytest.param(arm_error(409, "MissingSubscriptionRegistration"), "MissingSubscriptionRegistration",
                     id="provider-registration"),
        pytest.param(arm_error(403, "SomethingNewAndUnknown"), "SomethingNewAndUnknown", id="unknown-403"),
        pytest.param(ClientAuthenticationError("no identity"), "AuthenticationFailed", id="no-token-yet"),
        pytest.param(PermissionDenied("no", error_code="PERMISSION_DENIED"), "PERMISSION_DENIED",
                     id="databricks-permission-denied"),
    ],
)
def test_errors_that_resolve_by_themselves_are_retried_slowly(exc: BaseException, code: str) -> None:
    classified = classify(exc)
    assert (classified.retryable, classified.slow, classified.code, classified.delay) == (True, True, code, SLOW)


def test_azure_message_is_kept_verbatim() -> None:
    text = "Subnet /subscriptions/1/x referenced by resource y is not found."
    assert classify(arm_error(400, "InvalidResourceReference", text)).message == text


def test_classified_becomes_the_matching_exception() -> None:
    assert isinstance(classify(arm_error(429, "TooManyRequests")).as_error(), RetryableError)
    assert isinstance(classify(arm_error(400, "InvalidParameter")).as_error(), FatalError)


def test_hierarchy() -> None:
    assert issubclass(OwnershipConflict, FatalError)
    assert issubclass(FatalError, CloudError) and issubclass(RetryableError, CloudError)
    assert issubclass(CloudError, TransitError)


def test_every_error_raised_on_purpose_is_in_the_one_hierarchy() -> None:
    from transit_operator.api.errors import InvalidSpec
    from transit_operator.cloud.errors import (
        HostNotAllowed,
        InvalidCredentials,
        RefusedWrite,
        SecretUnreadable,
    )
    from transit_operator.plan.command import InputError
    from transit_operator.reconcile.transit.databricks import DatabricksProblem

    for error in (InvalidSpec, InvalidCredentials, HostNotAllowed, InputError, DatabricksProblem, SecretUnreadable,
                  CloudError, RefusedWrite):
        assert issubclass(error, TransitError), error
    assert issubclass(InvalidSpec, ValueError)  # pydantic validators may raise it
    assert issubclass(RefusedWrite, FatalError)
    import transit_operator.plan as plan

    assert not hasattr(plan, "PlanNotSupported")


def test_sdk_errors_become_cloud_errors_and_bugs_stay_bugs() -> None:
    from transit_operator.cloud.errors import sdk_errors

    with pytest.raises(RetryableError) as info, sdk_errors():
        raise arm_error(429, "TooManyRequests")
    assert isinstance(info.value.__cause__, HttpResponseError)
    with pytest.raises(RetryableError), sdk_errors():
        raise ServiceRequestError("connection reset")
    with pytest.raises(OwnershipConflict), sdk_errors():
        raise OwnershipConflict("/x", "y")
    with pytest.raises(KeyError), sdk_errors():
        raise KeyError("a bug")


def test_a_programming_error_in_a_pass_reaches_the_runtime_instead_of_a_cloud_condition(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: the transit reconciler caught `Exception` and reported a KeyError as Stalled/CloudError."""
    from transit_operator.cloud.context import CloudContext
    from transit_operator.reconcile import preflight, transit
    from transit_operator.reconcile.transit import databricks

    sub = "11111111-2222-3333-4444-555555555555"
    net = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet"
    cpl = {"apiVersion": "transit.privatelink.io/v1alpha1", "kind": "ConfluentPrivateLink",
           "metadata": {"name": "c", "namespace": "ns", "generation": 1},
           "spec": {"azure": {"subscriptionId": sub, "resourceGroup": "rg", "location": "westeurope"},
                    "confluent": {"networkId": "n-abc", "dnsDomain": "n-abc.westeurope.azure.confluent.cloud",
                                  "bootstrapServer": "lkc.n-abc.westeurope.azure.confluent.cloud:9092",
                                  "zones": [{"name": "az1", "privateLinkServiceAlias":
                                             "s-a.0b0b0b0b-2222-4222-8222-000000000001.westeurope.azure.privatelinkservice"}]},
                    "privateEndpoints": {"subnetId": f"{net}/subnets/pe"}},
           "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled", "observedGeneration": 1}],
                      "zones": [{"name": "az1", "privateIp": "10.0.1.4", "connectionState": "Approved"}]}}
    sxt = {"apiVersion": "transit.privatelink.io/v1alpha1", "kind": "ServerlessTransit",
           "metadata": {"name": "t", "namespace": "ns", "generation": 1, "uid": "u"},
           "spec": {"option": "haproxy", "confluentPrivateLinkRef": {"name": "c"},
                    "azure": {"subscriptionId": sub, "resourceGroup": "rg", "location": "westeurope"},
                    "network": {"frontendSubnetId": f"{net}/subnets/a", "privateLinkSubnetId": f"{net}/subnets/b"},
                    "haproxy": {"sshPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI x"},
                    "databricks": {"accountId": "22222222-3333-4444-5555-666666666666", "ncc": {"name": "ncc-x"}}}}

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("status.ncc")

    monkeypatch.setattr(preflight, "needed", lambda status, generation: False)
    monkeypatch.setattr(databricks, "preflight", broken)
    ctx = CloudContext.for_sandbox("https://127.0.0.1:1", "/ca.pem", "token-0123456789")
    with pytest.raises(KeyError):
        transit.reconcile(sxt, cpl, ctx)
