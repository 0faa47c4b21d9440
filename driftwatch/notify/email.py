"""The email notifier: a plain-text and HTML report from templates, sent through SMTP with smtplib."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import jinja2

from driftwatch.errors import NotifyError
from driftwatch.model import Notification, Severity
from driftwatch.notify import register
from driftwatch.notify.render import environment, preload, render, report_context

SUBJECT_TEMPLATE = "email_subject.txt.j2"
TEXT_TEMPLATE = "email.txt.j2"
HTML_TEMPLATE = "email.html.j2"
SECURITY = ("starttls", "ssl", "none")


@register("email")
class EmailNotifier:
    """Sends one message per run to ``recipients``; nothing when nothing is at or above the threshold.

    ``security`` is ``starttls`` (upgrade a plain connection, usually port 587), ``ssl`` (TLS from
    the start, usually port 465) or ``none`` (a relay on a trusted network). Certificates are
    checked against the system's trust store.
    """

    name = "email"

    def __init__(
        self,
        host: str,
        sender: str,
        recipients: Sequence[str],
        min_severity: Severity = Severity.LOW,
        port: int = 587,
        security: str = "starttls",
        username: str = "",
        password: str = "",
        timeout: float = 30.0,
        templates: jinja2.Environment | None = None,
    ) -> None:
        if security not in SECURITY:
            raise ValueError(f"security must be one of {SECURITY}, not {security!r}")
        self.host, self.port, self.security = host, port, security
        self.sender, self.recipients = sender, tuple(recipients)
        self.min_severity = min_severity
        self.username = username
        self.timeout = timeout
        self._password = password
        self.templates = templates or environment()
        preload(self.templates, SUBJECT_TEMPLATE, TEXT_TEMPLATE, HTML_TEMPLATE)

    def __repr__(self) -> str:
        return f"EmailNotifier(host={self.host!r}, to={self.recipients!r}, min_severity={self.min_severity})"

    def message(self, notification: Notification) -> EmailMessage | None:
        """The message: text and HTML alternatives; None when the run has no news at the threshold."""
        if not notification.has_news(self.min_severity):
            return None
        context = report_context(notification, self.min_severity)
        subject = render(self.templates, SUBJECT_TEMPLATE, **context)
        message = EmailMessage()
        message["Subject"] = " ".join(subject.split())  # one line, whatever the template's newlines
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=self.sender.rsplit("@", 1)[-1])
        message.set_content(render(self.templates, TEXT_TEMPLATE, **context))
        message.add_alternative(render(self.templates, HTML_TEMPLATE, **context), subtype="html")
        return message

    def notify(self, notification: Notification) -> None:
        """Send the message; NotifyError naming the server and what to check when it fails."""
        message = self.message(notification)
        if message is None:
            return
        where = f"SMTP server {self.host}:{self.port}"
        try:
            refused = self._send(message)
        except smtplib.SMTPAuthenticationError as err:
            raise NotifyError(
                f"{where} refused the login of {self.username!r} ({_reply(err)}): check [[notify]] "
                "username and the password in the environment variable named by password_env"
            ) from None
        except smtplib.SMTPNotSupportedError as err:
            raise NotifyError(f"{where}: {err}; check [[notify]] security and username") from None
        except smtplib.SMTPRecipientsRefused as err:
            raise NotifyError(f"{where} refused every recipient: {_refused(err.recipients)}") from None
        except smtplib.SMTPResponseException as err:
            raise NotifyError(f"{where} answered {_reply(err)}") from None
        except ssl.SSLError as err:
            reason = err.reason or err
            raise NotifyError(f"{where}: TLS failed ({reason}); check [[notify]] security") from None
        except (smtplib.SMTPException, OSError) as err:
            raise NotifyError(f"{where}: cannot send ({type(err).__name__}: {err})") from None
        if refused:
            raise NotifyError(
                f"{where} refused some recipients (the others got the message): {_refused(refused)}"
            )

    def _send(self, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self._password)
            return smtp.send_message(message)


def _reply(err: smtplib.SMTPResponseException) -> str:
    reply = err.smtp_error
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{err.smtp_code} {text}".strip()


def _refused(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{to} ({code} {text.decode(errors='replace')})" for to, (code, text) in refused.items())
