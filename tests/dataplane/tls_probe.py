"""TLS probe run inside the client namespace by the data-plane tests (prints one JSON object).

    python tls_probe.py <ca> <port> <connect-to|-> <sni|-> [<sni|-> ...]

For each SNI (`-` for none) opens a TLS connection (to `connect-to`, or to the SNI name itself resolved
through the namespace's /etc/hosts) and reports the peer certificate's CN (which names the Confluent zone
terminator reached) or `ERR:<exception>`. `plain` as SNI sends non-TLS bytes and reports what came back.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys


def probe(ca: str, port: int, connect_to: str | None, sni: str | None) -> str:
    host = connect_to or sni or "localhost"
    try:
        with socket.create_connection((host, port), timeout=4) as sock:
            if sni == "plain":
                sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
                return f"PLAIN:{sock.recv(100)!r}"
            ctx = ssl.create_default_context(cafile=ca)
            ctx.check_hostname = sni is not None
            with ctx.wrap_socket(sock, server_hostname=sni) as tls:
                subject = dict(pair[0] for pair in tls.getpeercert()["subject"])
                return str(subject["commonName"]).removesuffix(".terminator")
    except (OSError, ssl.SSLError) as exc:
        return f"ERR:{type(exc).__name__}"


if __name__ == "__main__":
    ca, port, connect_to, *names = sys.argv[1:]
    target = None if connect_to == "-" else connect_to
    print(json.dumps({n: probe(ca, int(port), target, None if n == "-" else n) for n in names}))
