"""JSON merge patch (RFC 7386, republished as RFC 7396): the one implementation both emulators use.

ARM PATCH and the Kubernetes API's `application/merge-patch+json` (and strategic merge patch on custom
resources, after its `$directives` are dropped) apply the same rules.
"""

from __future__ import annotations

import copy
from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """Objects merge recursively, `null` removes, everything else (lists too) replaces. `target` is not
    changed; the values the patch brings are copies."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
