"""The email notifier against a local SMTP server: text and HTML parts, STARTTLS, login, errors."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from driftwatch.config import load_config
from driftwatch.errors import ConfigError, NotifyError
from driftwatch.model import Notification, Severity
from driftwatch.notify.build import build_notifiers
from driftwatch.notify.email import EmailNotifier
from tests.notify.test_slack import FULL_REPORT, LOW, make_report
from tests.support.smtp_server import running_smtp_server

SENDER = "driftwatch@example.com"
TEAM = ("secops@example.com", "cloud@example.com")


def notifier(port: int, **options: object) -> EmailNotifier:
    settings: dict[str, object] = {"host": "127.0.0.1", "port": port, "security": "none"}
    return EmailNotifier(sender=SENDER, recipients=TEAM, **{**settings, **options})  # type: ignore[arg-type]


def test_one_message_with_a_text_and_an_html_part_at_or_above_the_threshold() -> None:
    with running_smtp_server() as mailbox:
        notifier(mailbox.port, min_severity=Severity.HIGH).notify(Notification.from_report(FULL_REPORT))
    [delivery] = mailbox.deliveries
    assert (delivery.mail_from, delivery.rcpt_tos) == (SENDER, list(TEAM))
    message = delivery.message
    assert message["Subject"] == (
        "driftwatch: 1 critical, 1 high findings, 1 coverage gap (run 2024-05-01T06-00-00Z)"
    )
    assert message["To"] == "secops@example.com, cloud@example.com"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "[s3-bucket-public] arn:aws:s3:::prod-customer-exports" in text
    assert "PublicAccessBlock.BlockPublicAcls: true -> false" in text
    assert "Tags.cost-center" not in text  # medium: below the threshold
    # The HTML part escapes what it shows: the finding's "&" and the change's quotes.
    assert "Bucket grants s3:GetObject to everyone &amp; no longer blocks public ACLs" in html
    assert "&#34;Principal&#34;:&#34;*&#34;" in html
    assert "<code>arn:aws:s3:::prod-customer-exports</code>" in html
    assert "ec2:DescribeSecurityGroups failed (denied: UnauthorizedOperation)" in html


def test_nothing_is_sent_when_nothing_is_at_or_above_the_threshold() -> None:
    with running_smtp_server() as mailbox:
        notifier(mailbox.port, min_severity=Severity.HIGH).notify(
            Notification.from_report(make_report((LOW,)))
        )
    assert mailbox.deliveries == []


@pytest.fixture
def tls_server_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A certificate for 127.0.0.1 from a test CA that the client trusts through SSL_CERT_FILE."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


def test_starttls_and_login_with_the_password_from_the_environment(
    tmp_path: Path, tls_server_context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "correct horse")
    with running_smtp_server(users={"drift": "correct horse"}, tls=tls_server_context) as mailbox:
        config = tmp_path / "driftwatch.toml"
        config.write_text(
            f'[[notify]]\ntype = "email"\nhost = "127.0.0.1"\nport = {mailbox.port}\nfrom = "{SENDER}"\n'
            'to = ["secops@example.com"]\nusername = "drift"\npassword_env = "TEST_SMTP_PASSWORD"\n',
            encoding="utf-8",
        )
        [built], errors = build_notifiers(load_config(config).notify, print)
        assert errors == []
        built.notify(Notification.from_report(FULL_REPORT))
    [delivery] = mailbox.deliveries
    assert (delivery.tls, delivery.login, delivery.rcpt_tos) == (True, "drift", ["secops@example.com"])


def test_a_wrong_password_is_reported_without_the_password(tls_server_context: ssl.SSLContext) -> None:
    with running_smtp_server(users={"drift": "correct horse"}, tls=tls_server_context) as mailbox:
        bad = notifier(mailbox.port, security="starttls", username="drift", password="battery staple")
        with pytest.raises(NotifyError) as error:
            bad.notify(Notification.from_report(FULL_REPORT))
    server = f"SMTP server 127.0.0.1:{mailbox.port}"
    assert str(error.value).startswith(f"{server} refused the login of 'drift' (535 ")
    assert "battery" not in str(error.value)
    assert mailbox.deliveries == []


def test_a_server_that_requires_starttls_refuses_a_plain_session(tls_server_context: ssl.SSLContext) -> None:
    with running_smtp_server(tls=tls_server_context) as mailbox, pytest.raises(NotifyError) as error:
        notifier(mailbox.port, security="none").notify(Notification.from_report(FULL_REPORT))
    server = f"SMTP server 127.0.0.1:{mailbox.port}"
    assert str(error.value) == f"{server} answered 530 Must issue a STARTTLS command first"


def test_an_untrusted_certificate_is_refused(
    tls_server_context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")  # the test CA is no longer trusted
    with running_smtp_server(tls=tls_server_context) as mailbox, pytest.raises(NotifyError) as error:
        notifier(mailbox.port, security="starttls").notify(Notification.from_report(FULL_REPORT))
    assert "TLS failed (CERTIFICATE_VERIFY_FAILED)" in str(error.value)
    assert mailbox.deliveries == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('username = "drift"\n', "[[notify]] #1 password_env: is required when username or password_env"),
        ('to = ["not-an-address"]\n', '[[notify]] #1 to[0]: "not-an-address" is not an email address'),
        ('security = "tls"\n', "[[notify]] #1 security: must be one of: starttls, ssl, none"),
        ("port = 70000\n", "[[notify]] #1 port: must be a port number between 1 and 65535, not 70000"),
    ],
)
def test_email_settings_are_checked(tmp_path: Path, entry: str, message: str) -> None:
    base = f'[[notify]]\ntype = "email"\nhost = "smtp.example.com"\nfrom = "{SENDER}"\n'
    config = tmp_path / "driftwatch.toml"
    config.write_text(base + ('to = ["a@example.com"]\n' if "to =" not in entry else "") + entry)
    with pytest.raises(ConfigError) as error:
        load_config(config)
    assert str(error.value).startswith(f"driftwatch.toml: {message}")
