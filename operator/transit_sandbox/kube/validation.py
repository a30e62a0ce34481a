"""ObjectMeta and Secret validation as the Kubernetes API server does it, for the emulator (`kube.KubeApi`).

k8s.io/apimachinery `pkg/api/validation/objectmeta.go` `ValidateObjectMeta`, with the checks of
`pkg/util/validation/validation.go`: the name a DNS-1123 subdomain (a label for namespaces), the
namespace a DNS-1123 label, `generateName` a valid name prefix, label keys qualified names and values
label values (at most 63 characters), annotation keys qualified names (lower-cased) with keys and values
together at most 256 KiB (`TotalAnnotationSizeLimitB`), finalizers qualified names. Messages follow
apimachinery's field errors.

Secrets (k8s.io/kubernetes `pkg/apis/core/validation` `ValidateSecret`): every key of `data` a valid config
key (`[-._a-zA-Z0-9]+`), at most 1 MiB of data (`MaxSecretSize`); `data` values are base64, refused when
the body is decoded (400), `stringData` values strings.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from transit_sandbox.kube.schema import FieldError

__all__ = ["MAX_SECRET_SIZE", "TOTAL_ANNOTATION_SIZE", "meta_errors", "secret_decode_error", "secret_errors"]

TOTAL_ANNOTATION_SIZE = 256 * 1024
MAX_SECRET_SIZE = 1024 * 1024
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_LABEL = re.compile(f"^{_LABEL}$")
_DNS_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_TEXT = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                   "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                   "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
_SUBDOMAIN_TEXT = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                   "'.', and must start and end with an alphanumeric character")
_LABEL_TEXT = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
               "must start and end with an alphanumeric character")


def _invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError(field, "FieldValueInvalid", f"Invalid value: {json.dumps(value)[:200]}: {detail}")


def _subdomain(field: str, value: str) -> list[FieldError]:
    errors = []
    if len(value) > 253:
        errors.append(_invalid(field, value, "must be no more than 253 characters"))
    if not _DNS_SUBDOMAIN.fullmatch(value):
        errors.append(_invalid(field, value, _SUBDOMAIN_TEXT))
    return errors


def _qualified(field: str, value: str) -> list[FieldError]:
    parts = value.split("/")
    if len(parts) > 2:
        return [_invalid(field, value, "a qualified name " + _QUALIFIED_TEXT + " with an optional DNS "
                                       "subdomain prefix and '/' (e.g. 'example.com/MyName')")]
    errors: list[FieldError] = []
    if len(parts) == 2:
        if not parts[0]:
            errors.append(_invalid(field, value, "prefix part must be non-empty"))
        elif len(parts[0]) > 253 or not _DNS_SUBDOMAIN.fullmatch(parts[0]):
            errors.append(_invalid(field, value, "prefix part " + _SUBDOMAIN_TEXT))
    name = parts[-1]
    if not name:
        errors.append(_invalid(field, value, "name part must be non-empty"))
    elif len(name) > 63:
        errors.append(_invalid(field, value, "name part must be no more than 63 characters"))
    if name and not _QUALIFIED.fullmatch(name):
        errors.append(_invalid(field, value, "name part " + _QUALIFIED_TEXT))
    return errors


def meta_errors(meta: dict[str, Any], *, namespace_scoped: bool, label_name: bool) -> list[FieldError]:
    """Every ObjectMeta error but the name's (`KubeApi._admit` checks the name for the resource)."""
    errors: list[FieldError] = []
    generate = meta.get("generateName")
    if generate is not None and (not isinstance(generate, str) or (
            generate and not (_DNS_LABEL if label_name else _DNS_SUBDOMAIN).fullmatch(generate.rstrip("-") or "a"))):
        errors.append(_invalid("metadata.generateName", generate, _LABEL_TEXT if label_name else _SUBDOMAIN_TEXT))
    namespace = meta.get("namespace")
    if namespace_scoped and isinstance(namespace, str) and (len(namespace) > 63 or not _DNS_LABEL.fullmatch(namespace)):
        errors.append(_invalid("metadata.namespace", namespace, _LABEL_TEXT))
    labels = meta.get("labels")
    if labels is not None:
        if not isinstance(labels, dict):
            errors.append(_invalid("metadata.labels", labels, "must be a map of strings"))
        else:
            for key, value in labels.items():
                if not isinstance(value, str):
                    errors.append(_invalid("metadata.labels", value, "must be a string"))
                    continue
                errors += _qualified("metadata.labels", str(key))
                if len(value) > 63:
                    errors.append(_invalid("metadata.labels", value, "must be no more than 63 characters"))
                if not _LABEL_VALUE.fullmatch(value):
                    errors.append(_invalid("metadata.labels", value, "a valid label must be an empty string or "
                                           + _QUALIFIED_TEXT.replace("(e.g. 'MyName',  or 'my.name',  or '123-abc'",
                                                                     "(e.g. 'MyValue',  or 'my_value',  or '12345'")))
    annotations = meta.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, dict):
            errors.append(_invalid("metadata.annotations", annotations, "must be a map of strings"))
        else:
            size = 0
            for key, value in annotations.items():
                if not isinstance(value, str):
                    errors.append(_invalid("metadata.annotations", value, "must be a string"))
                    continue
                size += len(str(key)) + len(value)
                errors += _qualified("metadata.annotations", str(key).lower())
            if size > TOTAL_ANNOTATION_SIZE:
                errors.append(FieldError("metadata.annotations", "FieldValueTooLong",
                                         f"Too long: must have at most {TOTAL_ANNOTATION_SIZE} bytes"))
    finalizers = meta.get("finalizers")
    if finalizers is not None:
        if not isinstance(finalizers, list):
            errors.append(_invalid("metadata.finalizers", finalizers, "must be a list of strings"))
        else:
            for index, finalizer in enumerate(finalizers):
                errors += _qualified(f"metadata.finalizers[{index}]", str(finalizer))
    return errors


def secret_decode_error(obj: dict[str, Any]) -> str | None:
    """Why the body of a Secret cannot be decoded (the API server answers 400), or None."""
    for section in ("data", "stringData"):
        values = obj.get(section)
        if values is None:
            continue
        if not isinstance(values, dict):
            return f"{section}: expected a map of strings"
        for value in values.values():
            if not isinstance(value, str):
                return f"{section}: expected a string value"
            if section == "data":
                try:
                    base64.b64decode(value, validate=True)
                except (ValueError, binascii.Error):
                    return "illegal base64 data"
    return None


def secret_errors(obj: dict[str, Any]) -> list[FieldError]:
    """Field errors of a decoded Secret (`data` keys and size), after `stringData` was merged into `data`."""
    errors: list[FieldError] = []
    total = 0
    for key, value in (obj.get("data") or {}).items():
        if not _CONFIG_KEY.fullmatch(str(key)) or len(str(key)) > 253:
            errors.append(_invalid(f"data[{key}]", key, "a valid config key must consist of alphanumeric "
                                                          "characters, '-', '_' or '.' (e.g. 'key.name',  or "
                                                          "'KEY_NAME',  or 'key-name', regex used for validation "
                                                          "is '[-._a-zA-Z0-9]+')"))
        total += len(base64.b64decode(value))
    if total > MAX_SECRET_SIZE:
        errors.append(FieldError("data", "FieldValueTooLong", f"Too long: must have at most {MAX_SECRET_SIZE} bytes"))
    return errors
