"""A reverse proxy that injects faults between a stage and a real server (MLflow, fake-gcs-server).

The stage is pointed at the proxy (MLFLOW_TRACKING_URI or STORAGE_EMULATOR_HOST); every request is
forwarded to the real server unless the test's rule says otherwise: answer with an error status,
or hang (accept the request and never answer). Rules see the method, the path with its query and
the request body (a GCS multipart upload names its object in the body).

    with FaultProxy(mlflow.url, rule) as proxy:
        run_stage(..., env={"MLFLOW_TRACKING_URI": proxy.url})
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HANG = -1  # a rule's answer: keep the connection open and never reply
# (method, path?query, body) -> None (forward), an HTTP status to answer with, or HANG
Rule = Callable[[str, str, bytes], int | None]
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclass
class Seen:
    """What the proxy did: every request, and the ones it faulted."""

    requests: list[tuple[float, str, str, int]] = field(default_factory=list)  # (time, method, path, status)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.requests.append((time.monotonic(), method, path, status))

    def faulted(self) -> list[tuple[float, str, str, int]]:
        with self.lock:
            return [r for r in self.requests if r[3] >= 500 or r[3] in (403, HANG)]


class FaultProxy:
    def __init__(self, upstream: str, rule: Rule) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rule = rule
        self.seen = Seen()
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # releases hanging handlers
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                verdict = proxy.rule(self.command, self.path, body)
                if verdict == HANG:
                    proxy.seen.add(self.command, self.path, HANG)
                    proxy._stop.wait(600)
                    self.close_connection = True
                    return
                if verdict is not None:
                    proxy.seen.add(self.command, self.path, verdict)
                    payload = b'{"error_code": "INTERNAL_ERROR", "message": "injected fault"}'
                    self.send_response(verdict)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=120)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                finally:
                    conn.close()
                proxy.seen.add(self.command, self.path, response.status)
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_HEADERS and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        return Handler
