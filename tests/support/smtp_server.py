"""A local SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives; STARTTLS and login optional."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class Delivery:
    """One accepted message, with how the session that sent it was secured."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: str | None


@dataclass
class Mailbox:
    """Everything the server accepted, and its port."""

    port: int = 0
    deliveries: list[Delivery] = field(default_factory=list)


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.decode() if session.authenticated else None
        self.mailbox.deliveries.append(
            Delivery(envelope.mail_from, list(envelope.rcpt_tos), message, session.ssl is not None, login)
        )
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_smtp_server(
    users: dict[str, str] | None = None, tls: ssl.SSLContext | None = None
) -> Iterator[Mailbox]:
    """An SMTP server for the ``with`` block. With ``users``, AUTH LOGIN/PLAIN checks them; with
    ``tls``, STARTTLS is offered and required before anything else."""
    mailbox = Mailbox(_free_port())

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        known = users or {}
        ok = isinstance(data, LoginPassword) and known.get(data.login.decode()) == data.password.decode()
        return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)

    options: dict[str, Any] = {}
    if users is not None:
        options.update(authenticator=authenticator, auth_require_tls=tls is not None)
    if tls is not None:
        options.update(tls_context=tls, require_starttls=True)
    controller = Controller(_Handler(mailbox), hostname="127.0.0.1", port=mailbox.port, **options)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
