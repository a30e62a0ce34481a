"""A connection that dies in the middle of an answer: the fault the sandbox's servers inject as `reset`.

The request was served - the write applied - and the client gets the status line, the headers and the
first half of the body announced by `Content-Length`, then the connection is aborted (a TCP reset), as
when a load balancer or the server's host fails mid-response. HTTP clients see an incomplete read
(`urllib3`'s `ProtocolError`, azure-core's `ServiceResponseError`, aiohttp's `ClientPayloadError`), and
cannot tell whether the request took effect.
"""

from __future__ import annotations

from aiohttp import web


async def cut_answer(request: web.Request, answer: web.Response) -> web.StreamResponse:
    """Send `answer` up to half of its body, then abort the connection."""
    body = bytes(answer.body or b"")  # type: ignore[arg-type]
    stream = web.StreamResponse(status=answer.status, headers=answer.headers)
    stream.content_length = max(len(body), 2)
    await stream.prepare(request)
    await stream.write(body[: len(body) // 2] or b"{")
    if request.transport is not None:
        request.transport.abort()
    return stream
