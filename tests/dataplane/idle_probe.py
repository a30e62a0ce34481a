"""An idle Kafka connection through the transit (run inside a client namespace; prints one JSON object).

    python idle_probe.py <ca> <host> <port> <idle seconds>

Connects to `host:port` (TLS, server name checked), sends a Kafka ApiVersions request and reads the answer,
stays idle for `idle seconds` without sending anything, then asks again: `after_idle` is `answered`, or
`timeout`/`closed`/`ERR:...` when the connection did not survive the idle time.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import sys
import time


def api_versions(tls: ssl.SSLSocket, correlation_id: int, timeout: float) -> str:
    client_id = b"idle-probe"
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    tls.settimeout(timeout)
    try:
        tls.sendall(struct.pack(">i", len(body)) + body)
        header = tls.recv(4)
        if len(header) < 4:
            return "closed"
        size = struct.unpack(">i", header)[0]
        got = 0
        while got < size:
            chunk = tls.recv(size - got)
            if not chunk:
                return "closed"
            got += len(chunk)
        return "answered"
    except TimeoutError:
        return "timeout"
    except (OSError, ssl.SSLError) as exc:
        return f"ERR:{type(exc).__name__}"


if __name__ == "__main__":
    ca, host, port, idle = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection((host, port), timeout=10) as sock, ctx.wrap_socket(sock, server_hostname=host) as tls:
        first = api_versions(tls, 1, 10)
        time.sleep(idle)
        after = api_versions(tls, 2, 4)
    print(json.dumps({"first": first, "after_idle": after}))
