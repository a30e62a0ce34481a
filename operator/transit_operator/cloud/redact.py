"""Keep credentials out of every text the operator shows: conditions, Events and log lines.

An exception's text can carry a credential: `requests` refuses a header value with a trailing newline and
quotes the whole `Authorization: Bearer ...` value in its message; an HTTP library's debug output carries
headers; a misconfigured proxy echoes a request back. Whatever the source, the text passes one of three
doors before anyone reads it, and each door calls `scrub`:

- `cloud.errors.classify` (the classification boundary: every condition and Event message about a cloud
  error is built from its `Classified.message`);
- the runtime, on every status it writes and every Event it posts (`runtime.driver`);
- the log record factory installed by `install_log_redaction` (every log record of the process, whatever
  logger or handler, before any formatter sees it).

`scrub` removes two kinds of things:

1. the *values* of the credentials in use, registered as they are read: the Databricks credentials from a
   Secret (`register_secret` in `CloudContext.databricks`), the static sandbox token, and every ARM access
   token azure-identity hands out (`RedactingCredential`). Each value is removed as is, stripped of
   surrounding whitespace, and in the escaped form `repr()` gives it (`'...\\n'`), which is how exception
   texts quote header values. Values shorter than `MIN_SECRET_LENGTH` are not registered (they would
   mangle ordinary words); real tokens and client secrets are far longer;
2. anything that *looks* like a credential whatever its value: `Bearer`/`Basic` header values,
   `Authorization`, `client_secret`, `token`, `password`, `api-key` assignments, Databricks personal
   access tokens (`dapi...`) and JSON Web Tokens (`eyJ...`).

The registry keeps the most recent `MAX_SECRETS` values (ARM tokens rotate hourly).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential

__all__ = [
    "MAX_SECRETS",
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "RedactingCredential",
    "install_log_redaction",
    "register_secret",
    "scrub",
    "scrub_tree",
]

REDACTED = "***"
MIN_SECRET_LENGTH = 8
MAX_SECRETS = 256

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # HTTP authorization schemes followed by a credential.
    (re.compile(r"(?i)\b(bearer|basic|negotiate)(\s+|%20)[A-Za-z0-9\-._~+/=%]{4,}"), rf"\1\2{REDACTED}"),
    # key = value / key: value / "key": "value" for keys that name a credential.
    (
        re.compile(
            r"(?i)([\"']?\b(?:authorization|proxy-authorization|x-databricks-[a-z-]*token|api[-_]?key|"
            r"client[-_]?secret|azure[-_]client[-_]secret|access[-_]?token|refresh[-_]?token|id[-_]?token|"
            r"password|passwd|secret|token)\b[\"']?\s*[:=]\s*)([\"']?)(?!\*\*\*)[^\s\"',;&}\]]+"
        ),
        rf"\1\2{REDACTED}",
    ),
    # Databricks personal access tokens: `dapi` + 32 hex digits (+ an optional `-N` suffix).
    (re.compile(r"\bdapi[0-9a-f]{32}(-[0-9]+)?\b"), f"dapi{REDACTED}"),
    # JSON Web Tokens (Entra ID access tokens, OIDC id tokens): three base64url parts, the first `eyJ`.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
)


class _Registry:
    """The credential values in use (most recent first out), as one compiled alternation."""

    def __init__(self) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        forms = {value, value.strip(), repr(value)[1:-1]}
        with self._lock:
            changed = False
            for form in forms:
                if len(form) < MIN_SECRET_LENGTH:
                    continue
                if form in self._values:
                    self._values.move_to_end(form)
                    continue
                self._values[form] = None
                changed = True
            while len(self._values) > MAX_SECRETS:
                self._values.popitem(last=False)
                changed = True
            if changed:
                # Longest first, so a value that contains another is removed whole.
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(REDACTED, text) if pattern is not None else text


_REGISTRY = _Registry()


def register_secret(value: str | bytes | None) -> None:
    """Remember a credential value so that `scrub` removes it from every text from now on."""
    if value is None:
        return
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    _REGISTRY.add(value)


def scrub(text: str) -> str:
    """`text` without any registered credential value and without anything shaped like a credential."""
    if not text:
        return text
    out = _REGISTRY.scrub(text)
    for pattern, replacement in _PATTERNS:
        out = pattern.sub(replacement, out)
    return out


def scrub_tree(value: Any) -> Any:
    """Every string in a JSON-like value (dicts, lists, scalars) scrubbed; keys are kept."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {k: scrub_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_tree(v) for v in value]
    return value


class RedactingCredential:
    """An azure-core `TokenCredential` that registers every access token it hands out (see the module
    docstring); everything else is the wrapped credential's."""

    def __init__(self, inner: TokenCredential) -> None:
        self._inner = inner

    @property
    def wrapped(self) -> TokenCredential:
        return self._inner

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        token = self._inner.get_token(*scopes, **kwargs)
        register_secret(token.token)
        return token

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


_FACTORY_LOCK = threading.Lock()


def install_log_redaction() -> None:
    """Scrub every log record of the process when it is made (idempotent).

    A record factory rather than a handler filter: it sees records of every logger whatever handlers are
    attached later (kopf's, a test's), and the traceback text of `exc_info` is rendered and scrubbed here,
    since an exception's message is where a credential usually hides."""
    with _FACTORY_LOCK:
        current = logging.getLogRecordFactory()
        if getattr(current, "_transit_redacting", False):
            return

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = current(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:  # a malformed format string: keep what logging would show
                message = str(record.msg)
            record.msg, record.args = scrub(message), None
            if record.exc_info and record.exc_info[0] is not None:
                record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
            if record.stack_info:
                record.stack_info = scrub(record.stack_info)
            return record

        factory._transit_redacting = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)
