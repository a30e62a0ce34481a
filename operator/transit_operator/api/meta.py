"""ObjectMeta checks the Kubernetes API server makes, so that `plan` refuses the same objects it does.

The rules and messages are those of k8s.io/apimachinery `pkg/util/validation` (`IsDNS1123Subdomain`,
`IsDNS1123Label`, `IsQualifiedName`, `IsValidLabelValue`) and `pkg/api/validation/objectmeta.go`
(`ValidateObjectMeta`: the name for the resource, the namespace a DNS-1123 label, label keys qualified
names and values label values, annotation keys qualified names (lower-cased) with at most 256 KiB of keys
and values together, finalizers qualified names).

One rule is this operator's own: the names of its objects have at most `MAX_NAME_LENGTH` characters
(the CRDs say so too, so the API server refuses longer ones). The reason is Azure's: every cloud object
carries the tag `transit-operator-owner: <kind>/<namespace>/<name>`, and a tag value holds at most 256
characters (learn.microsoft.com/azure/azure-resource-manager/management/tag-resources#limitations).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_NAME_LENGTH", "TOTAL_ANNOTATION_SIZE", "object_meta_errors"]

MAX_NAME_LENGTH = 63
TOTAL_ANNOTATION_SIZE = 256 * 1024  # apimachinery TotalAnnotationSizeLimitB

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(f"^{_LABEL}$")
_DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character"
)
_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character"
)


def _dns1123(value: str, pattern: re.Pattern[str], max_length: int, message: str) -> list[str]:
    errors = []
    if len(value) > max_length:
        errors.append(f"must be no more than {max_length} characters")
    if not pattern.fullmatch(value):
        errors.append(message)
    return errors


def _dns1123_subdomain(value: str) -> list[str]:
    return _dns1123(value, _DNS1123_SUBDOMAIN, 253, _SUBDOMAIN_MESSAGE)


def _dns1123_label(value: str) -> list[str]:
    return _dns1123(value, _DNS1123_LABEL, 63, _LABEL_MESSAGE)


def _qualified_name(value: str) -> list[str]:
    parts = value.split("/")
    errors: list[str] = []
    if len(parts) > 2:
        return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                "end with an alphanumeric character, with an optional DNS subdomain prefix and '/'"]
    name = parts[-1]
    if len(parts) == 2:
        if not parts[0]:
            errors.append("prefix part must be non-empty")
        else:
            errors += [f"prefix part {e}" for e in _dns1123_subdomain(parts[0])]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if name and not _QUALIFIED_NAME.fullmatch(name):
        errors.append("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                      "with an alphanumeric character")
    return errors


def _label_value(value: str) -> list[str]:
    errors = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not _LABEL_VALUE.fullmatch(value):
        errors.append("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                      "'.', and must start and end with an alphanumeric character")
    return errors


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def object_meta_errors(metadata: Any) -> list[tuple[str, str]]:
    """(field path, message) for every ObjectMeta problem of one of this operator's objects."""
    if not isinstance(metadata, Mapping):
        return [("metadata", "must be an object")]
    errors: list[tuple[str, str]] = []
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        errors.append(("metadata.name", "Required value: name is required"))
    else:
        errors += [("metadata.name", f"Invalid value: {_shown(name)}: {e}") for e in _dns1123_subdomain(name)]
        if len(name) > MAX_NAME_LENGTH:
            errors.append(("metadata.name", f"Too long: may not be more than {MAX_NAME_LENGTH} characters "
                                            "(the Azure ownership tag carries it)"))
    namespace = metadata.get("namespace")
    if namespace is not None:
        if not isinstance(namespace, str):
            errors.append(("metadata.namespace", "must be a string"))
        elif namespace:
            errors += [("metadata.namespace", f"Invalid value: {_shown(namespace)}: {e}")
                       for e in _dns1123_label(namespace)]
    labels = metadata.get("labels")
    if labels is not None:
        if not isinstance(labels, Mapping):
            errors.append(("metadata.labels", "must be a map of strings"))
        else:
            for key, value in labels.items():
                path = f"metadata.labels[{key!r}]" if isinstance(key, str) else "metadata.labels"
                if not isinstance(key, str) or not isinstance(value, str):
                    errors.append((path, "label keys and values must be strings"))
                    continue
                errors += [(path, f"Invalid value: {_shown(key)}: {e}") for e in _qualified_name(key)]
                errors += [(path, f"Invalid value: {_shown(value)}: {e}") for e in _label_value(value)]
    annotations = metadata.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, Mapping):
            errors.append(("metadata.annotations", "must be a map of strings"))
        else:
            size = 0
            for key, value in annotations.items():
                path = f"metadata.annotations[{key!r}]" if isinstance(key, str) else "metadata.annotations"
                if not isinstance(key, str) or not isinstance(value, str):
                    errors.append((path, "annotation keys and values must be strings"))
                    continue
                size += len(key) + len(value)
                errors += [(path, f"Invalid value: {_shown(key)}: {e}") for e in _qualified_name(key.lower())]
            if size > TOTAL_ANNOTATION_SIZE:
                errors.append(("metadata.annotations", f"Too long: must have at most {TOTAL_ANNOTATION_SIZE} bytes"))
    finalizers = metadata.get("finalizers")
    if finalizers is not None:
        if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
            errors.append(("metadata.finalizers", "must be a list of strings"))
        else:
            for index, finalizer in enumerate(finalizers):
                errors += [(f"metadata.finalizers[{index}]", f"Invalid value: {_shown(finalizer)}: {e}")
                           for e in _qualified_name(finalizer)]
    return errors
