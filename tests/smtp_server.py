"""A real SMTP server on 127.0.0.1 for the tests (aiosmtpd), keeping every message it
accepts so a test can read them back: recipients, headers, the Swedish text."""

from __future__ import annotations

import socket
import threading
import warnings
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    """One message as the server got it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        """The text as a person reads it (line ends as in Python)."""
        return self.message.get_content().replace("\r\n", "\n")


class _Handler:
    def __init__(self, server: SmtpServer):
        self.server = server

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        with self.server.lock:
            self.server.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                                 message_from_bytes(raw, policy=policy.default), raw))
        return "250 OK"


class SmtpServer:
    """aiosmtpd on 127.0.0.1:``port``; with ``user``/``password`` it requires a login (over
    plain SMTP, which utkast allows only to a server on this machine)."""

    def __init__(self, port: int | None = None, user: str | None = None, password: str | None = None):
        self.port = port or free_port()
        self.user, self.password = user, password
        self.received: list[Received] = []
        self.logins: list[tuple[str, bool]] = []
        self.lock = threading.Lock()
        self.controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == self.user
              and auth_data.password.decode() == self.password)
        self.logins.append((auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "?", ok))
        return AuthResult(success=ok, handled=False)  # a failure answers 535

    def start(self) -> SmtpServer:
        from aiosmtpd.controller import Controller

        extra = {}
        if self.user:
            extra = dict(authenticator=self._authenticate, auth_required=True, auth_require_tls=False)
        with warnings.catch_warnings():  # AUTH without TLS: on 127.0.0.1, for the tests, on purpose
            warnings.simplefilter("ignore")
            self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **extra)
            self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def take(self) -> list[Received]:
        """The messages received since the last call."""
        with self.lock:
            got, self.received = self.received, []
        return got

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
