"""The one place that sends e-mail: the SMTP server from the settings and the environment,
and :class:`Mailer`, which hands messages to it (the standard library's ``smtplib``).

The server is ``[email] server`` in ``templates/settings.toml`` or ``UTKAST_SMTP_URL`` (which
wins): ``smtp://host:port`` (STARTTLS when the server offers it) or ``smtps://host:port``
(TLS from the start). A user name comes from the URL (``smtp://user@host``) or
``UTKAST_SMTP_USER``; the password only from ``UTKAST_SMTP_PASSWORD``. It is never shown:
:meth:`SmtpTarget.describe` gives scheme, host and port, and every problem's text is
cleaned of it before anyone sees it.
"""

from __future__ import annotations

import base64
import os
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from ipaddress import ip_address
from urllib.parse import unquote, urlsplit

from tasks.core.config import EmailSettings
from tasks.notify.messages import Message

URL_VARIABLE = "UTKAST_SMTP_URL"
USER_VARIABLE = "UTKAST_SMTP_USER"
PASSWORD_VARIABLE = "UTKAST_SMTP_PASSWORD"


@dataclass(frozen=True)
class SmtpTarget:
    """Where mail goes and how to log in (the password is kept out of ``repr``)."""

    scheme: str  # smtp | smtps
    host: str
    port: int
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 20.0

    def describe(self) -> str:
        """``smtp://host:port``: what messages may say about the server."""
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def local(self) -> bool:
        try:
            return ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"


def smtp_target(settings: EmailSettings, environ=os.environ) -> SmtpTarget | None:
    """The server to send through, or None when none is set (``UTKAST_SMTP_URL`` wins over
    ``[email] server``). An unusable ``UTKAST_SMTP_URL`` raises ``ValueError`` naming it."""
    url = environ.get(URL_VARIABLE) or settings.server
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"{URL_VARIABLE} must look like smtp://host:port or smtps://host:port")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError:
        raise ValueError(f"{URL_VARIABLE} has a port that is not a number") from None
    user = environ.get(USER_VARIABLE) or (unquote(parts.username) if parts.username else None)
    password = environ.get(PASSWORD_VARIABLE) or (unquote(parts.password) if parts.password else None)
    return SmtpTarget(parts.scheme, parts.hostname, port, user, password, float(settings.timeout_seconds))


class SendProblem(Exception):
    """A message could not be handed over. ``lasting``: the server refused it for good (a 5xx
    answer to its recipients or text), so sending it again would not help; otherwise the
    server is away or failing (refused, timed out, login failed) and the message waits.
    The text never holds the password."""

    def __init__(self, text: str, lasting: bool = False, whole_server: bool = True):
        super().__init__(text)
        self.lasting = lasting
        self.whole_server = whole_server  # no point trying the other messages now


def email_message(message: Message, sender: str) -> EmailMessage:
    """``message`` as an e-mail: UTF-8 text, Swedish, its stable id as the Message-ID, replies
    to the coordinator."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "utkast.invalid"
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = ", ".join(message.to)
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = f"<{message.id}@{domain}>"
    if message.reply_to:  # the coordinator: a reply reaches a person, not the sending address
        mail["Reply-To"] = ", ".join(message.reply_to)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    mail.set_content(message.body, charset="utf-8")
    mail["Content-Language"] = "sv"  # after set_content, which replaces Content-* headers
    return mail


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """``smtp.login``; a user name or password beyond ASCII (which ``smtplib`` cannot encode)
    goes as UTF-8 with AUTH PLAIN (RFC 4616)."""
    try:
        smtp.login(user, password)
    except UnicodeEncodeError:
        token = base64.b64encode(f"\0{user}\0{password}".encode("utf-8")).decode("ascii")
        code, answer = smtp.docmd("AUTH", f"PLAIN {token}")
        if code != 235:
            raise smtplib.SMTPAuthenticationError(code, answer) from None


class Mailer:
    """One connection to the server for a batch of messages: opened at the first
    :meth:`send`, closed by :meth:`close`."""

    def __init__(self, target: SmtpTarget, sender: str):
        self.target, self.sender = target, sender
        self.smtp: smtplib.SMTP | None = None

    def _clean(self, text: str) -> str:
        if self.target.password:
            text = text.replace(self.target.password, "[lösenord]")
        return text

    def _connect(self) -> smtplib.SMTP:
        t = self.target
        try:
            if t.scheme == "smtps":
                smtp = smtplib.SMTP_SSL(t.host, t.port, timeout=t.timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(t.host, t.port, timeout=t.timeout)
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
            if t.user:
                if not t.password:
                    smtp.close()
                    raise SendProblem(f"{t.describe()}: a user name but no password ({PASSWORD_VARIABLE})")
                if not (isinstance(smtp.sock, ssl.SSLSocket) or t.local):
                    smtp.close()
                    raise SendProblem(f"{t.describe()} offers no encryption; the password is not sent in the clear")
                _login(smtp, t.user, t.password)
            return smtp
        except SendProblem:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise SendProblem(self._clean(f"{t.describe()}: login failed ({exc.smtp_code})")) from None
        except (OSError, smtplib.SMTPException) as exc:
            reason = "timed out" if isinstance(exc, (socket.timeout, TimeoutError)) else \
                exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise SendProblem(self._clean(f"could not reach {t.describe()}: {reason}")) from None

    def send(self, message: Message) -> None:
        """Hand ``message`` to the server; raises :class:`SendProblem`."""
        if self.smtp is None:
            self.smtp = self._connect()
        try:
            self.smtp.send_message(email_message(message, self.sender))  # some refused, others took it: sent
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise SendProblem(f"every recipient refused ({', '.join(map(str, codes))})",
                              lasting=all(c >= 500 for c in codes), whole_server=False) from None
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
            raise SendProblem(self._clean(f"refused by {self.target.describe()} ({exc.smtp_code})"),
                              lasting=exc.smtp_code >= 500, whole_server=False) from None
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise SendProblem(self._clean(f"{self.target.describe()} stopped answering: {type(exc).__name__}")) \
                from None

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
            self.smtp = None
