"""The portal for tests: `utkast serve`'s application on uvicorn in a thread, on a free port
of 127.0.0.1, stopped when the block ends; and a small HTTP client (standard library)."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import uuid
from urllib.parse import urlsplit


@contextlib.contextmanager
def running_portal(inbox, out, config=None):
    """Yield the base URL of the service over ``inbox`` and ``out`` (paths or URLs)."""
    import uvicorn

    from flows.serve import make_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(make_app(str(inbox), str(out), config), log_level="warning",
                                           server_header=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the portal did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


class Answer:
    def __init__(self, status: int, headers, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def request(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> Answer:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        chunked = (headers or {}).get("Transfer-Encoding") == "chunked"
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        resp = conn.getresponse()
        return Answer(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def get(url: str) -> Answer:
    return request("GET", url)


def form(fields: dict[str, str] | None = None, filename: str | None = None, data: bytes = b"",
         file_field: str = "fil") -> tuple[bytes, str]:
    """A multipart/form-data body as a browser sends it (file name as raw UTF-8)."""
    boundary = f"----utkast{uuid.uuid4().hex}"
    out = bytearray()
    for name, value in (fields or {}).items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n').encode()
    if filename is not None:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def upload(url: str, filename: str | None, data: bytes = b"", fields: dict | None = None) -> Answer:
    """POST the personal page's form (``url`` ends in ``/``)."""
    body, ctype = form(fields, filename, data)
    return request("POST", url + "lamna", body, {"Content-Type": ctype})
