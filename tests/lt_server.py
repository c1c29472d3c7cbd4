"""A small LanguageTool HTTP server for tests and the benchmark, backed by the embedded engine.

It speaks the parts of LanguageTool's ``/v2`` protocol that clients use: ``GET /v2/languages``
and ``POST /v2/check`` (form fields ``text``, ``language``, ``disabledRules``, ``username``,
``apiKey``), answering with offsets in UTF-16 code units like the Java server. It binds to
127.0.0.1 only. Tests can look at the requests it received and make it fail on purpose.

Run it alone with ``python -m tests.lt_server [PORT]`` (prints the URL).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from tasks.review.checker import (
    _load_engine,
    char_to_utf16,
    check_with_engine,
    embedded_version,
)

CONTEXT = 40


class LanguageToolStandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0):
        super().__init__(("127.0.0.1", port), _Handler)
        self.requests: list[dict] = []
        # Every request as (method, path, Authorization header or None), in order of arrival.
        self.seen: list[tuple[str, str, str | None]] = []
        self.fail_next = 0  # answer this many /v2/check requests with a dropped connection
        self.refuse_next = 0  # answer this many with HTTP 413 (text too long), as a real server does
        self.delay = 0.0  # seconds to hold each /v2/check answer (to see how many run at once)
        self.in_flight = 0
        self.max_in_flight = 0
        self._engines: dict[tuple[str, ...], object] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def engine(self, disabled: tuple[str, ...]):
        with self._lock:
            if disabled not in self._engines:
                self._engines[disabled] = _load_engine("sv-SE", disabled, None)
            return self._engines[disabled]

    def start(self) -> "LanguageToolStandIn":
        self._thread = threading.Thread(target=self.serve_forever, name="lt-stand-in", daemon=True)
        self._thread.start()
        return self

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return  # the client stopped waiting (a timeout test): nothing to report
        super().handle_error(request, client_address)

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def answer(server: LanguageToolStandIn, fields: dict[str, str]) -> dict:
    """The /v2/check answer for the given form fields."""
    text = fields.get("text", "")
    disabled = tuple(sorted(r for r in fields.get("disabledRules", "").split(",") if r))
    matches = []
    for f in check_with_engine(server.engine(disabled), text):
        start, end = f.offset, f.offset + f.length
        left = max(0, start - CONTEXT)
        right = min(len(text), end + CONTEXT)
        prefix, suffix = ("..." if left else ""), ("..." if right < len(text) else "")
        context = prefix + text[left:right].replace("\n", " ") + suffix
        offset16, end16 = char_to_utf16(text, [start, end])
        matches.append({
            "message": f.message, "shortMessage": f.short_message,
            "replacements": [{"value": s} for s in f.suggestions],
            "offset": offset16, "length": end16 - offset16,
            "context": {"text": context, "offset": len(prefix) + start - left, "length": end - start},
            "sentence": f.sentence,
            "type": {"typeName": "Other"},
            "rule": {"id": f.rule_id, "description": f.description, "issueType": f.issue_type,
                     "category": {"id": f.category_id, "name": f.category_name}},
        })
    return {
        "software": {"name": "LanguageTool stand-in", "version": embedded_version(), "apiVersion": 1},
        "language": {"name": "Swedish", "code": "sv-SE"},
        "matches": matches,
    }


class _Handler(BaseHTTPRequestHandler):
    server: LanguageToolStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body: dict | str) -> None:
        data = (json.dumps(body) if not isinstance(body, str) else body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if not isinstance(body, str) else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _note(self) -> None:
        with self.server._lock:
            self.server.seen.append((self.command, urlparse(self.path).path, self.headers.get("Authorization")))

    def do_GET(self):
        self._note()
        path = urlparse(self.path).path
        if path.rstrip("/").endswith("/v2/languages"):
            self._send(200, [{"name": "Swedish", "code": "sv", "longCode": "sv-SE"}])
        elif path.rstrip("/").endswith("/v2/healthcheck"):
            self._send(200, "OK")
        elif path.rstrip("/").endswith("/v2/check"):
            self._check({k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()})
        else:
            self._send(404, "not found")

    def do_POST(self):
        self._note()
        if not urlparse(self.path).path.rstrip("/").endswith("/v2/check"):
            self._send(404, "not found")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8")
        self._check({k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()})

    def _check(self, fields: dict[str, str]) -> None:
        with self.server._lock:
            self.server.requests.append(fields)
            fail = self.server.fail_next > 0
            if fail:
                self.server.fail_next -= 1
            refuse = not fail and self.server.refuse_next > 0
            if refuse:
                self.server.refuse_next -= 1
        if fail:  # a dropped connection, as from a server that restarts
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if refuse:
            self._send(413, "Error: Your text exceeds the limit of 20000 characters")
            return
        if fields.get("language", "").lower() not in ("sv", "sv-se"):
            self._send(400, f"Error: unsupported language {fields.get('language')!r}")
            return
        server = self.server
        with server._lock:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        try:
            if server.delay:
                time.sleep(server.delay)
            body = answer(server, fields)
        finally:
            with server._lock:
                server.in_flight -= 1
        self._send(200, body)


if __name__ == "__main__":
    server = LanguageToolStandIn(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(server.url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
