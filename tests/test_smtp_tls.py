"""O2: a password or token goes to a mail server only inside TLS, with its certificate checked.

`emails` alone starts TLS without checking the server's certificate (so anyone in the path could
take the council's mailbox password) and sends a password in clear text when TLS is not asked
for. The product checks the certificate against this machine's trusted authorities and refuses
to log in without TLS, except to a relay on this machine (loopback, as most tests use).

Real parts: aiosmtpd on this machine's own network address (not loopback, so the product treats
it as another machine), with a certificate made here; the outbox's own sending path.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlmodel import Session

from models.enums import EmailStatus
from models.settings import Settings, get_settings
from models.types import utcnow
from tasks.mailserver import smtp_backend
from tasks.outbox import send_pending
from tests.smtp import Recorder, queue_notices, statuses

USER, PASSWORD = "qa-relay", "Relay-Pw-5kq2"


def _this_machines_address() -> str:
    """The address this machine reaches others from (no packet is sent), or a skip."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("198.51.100.1", 9))
        except OSError:
            pytest.skip("this machine has no network address other than loopback")
        address = str(s.getsockname()[0])
    if address.startswith("127."):
        pytest.skip("this machine has no network address other than loopback")
    return address


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


class Login:
    """Accepts one user and password; notes each try and whether it came inside TLS."""

    def __init__(self) -> None:
        self.tries: list[tuple[str, bool]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        assert isinstance(auth_data, LoginPassword)
        self.tries.append((auth_data.login.decode(), bool(session.ssl)))
        return AuthResult(success=auth_data.password == PASSWORD.encode(), handled=False)


class Relay:
    def __init__(self, address: str, tls_context: ssl.SSLContext | None) -> None:
        self.recorder, self.login = Recorder(), Login()
        self.controller = Controller(
            self.recorder,
            hostname=address,
            port=_free_port(address),
            tls_context=tls_context,
            authenticator=self.login,
            auth_required=True,
            # Without TLS this relay would take a password in clear text: the product must not.
            auth_require_tls=tls_context is not None,
        )


@pytest.fixture
def address() -> str:
    return _this_machines_address()


@pytest.fixture
def certificate(tmp_path: Path, address: str) -> tuple[Path, ssl.SSLContext]:
    """A certificate made here for this machine's address, and the relay's context with it."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=relay.yot.example.org"]
        + ["-addext", f"subjectAltName=IP:{address}"],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


@pytest.fixture
def relay_env(monkeypatch: pytest.MonkeyPatch, settings_env: None, address: str) -> Iterator[None]:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    for name, value in {
        "YOTQA_SMTP_HOST": address,
        "YOTQA_SMTP_USER": USER,
        "YOTQA_SMTP_PASSWORD": PASSWORD,
    }.items():
        monkeypatch.setenv(name, value)
    yield
    get_settings.cache_clear()


def _serve(relay: Relay, monkeypatch: pytest.MonkeyPatch) -> Settings:
    relay.controller.start()
    monkeypatch.setenv("YOTQA_SMTP_PORT", str(relay.controller.port))
    get_settings.cache_clear()
    return get_settings()


def test_o2_a_password_goes_only_to_a_server_whose_certificate_checks_out(
    session: Session,
    relay_env: None,
    address: str,
    certificate: tuple[Path, ssl.SSLContext],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert, context = certificate
    relay = Relay(address, context)
    settings = _serve(relay, monkeypatch)  # YOTQA_SMTP_TLS left false: STARTTLS all the same
    try:
        queue_notices(session, 3, "tls")
        untrusted = send_pending(session, settings)
        # A certificate nobody here vouches for: no password sent, the batch stopped after one
        # try, nothing failed for good, and the admin told what to put right.
        assert (untrusted.sent, untrusted.retrying) == (0, 1)
        assert relay.login.tries == [] and relay.recorder.messages == []
        assert f"the certificate of {address}:{relay.controller.port} could not be checked" in (
            untrusted.stopped
        )
        assert "SSL_CERT_FILE" in untrusted.stopped
        assert statuses(session) == {EmailStatus.PENDING: 3}

        # The council's own authority trusted (here, the certificate itself): all three sent,
        # logged in once, inside TLS.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        trusted = send_pending(session, settings, now=utcnow() + timedelta(hours=1))
    finally:
        relay.controller.stop()
    assert (trusted.sent, trusted.stopped) == (3, "")
    assert relay.login.tries == [(USER, True)] and len(relay.recorder.messages) == 3


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # on purpose
def test_o2_a_password_is_never_sent_to_a_server_without_starttls(
    session: Session, relay_env: None, address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = Relay(address, None)  # offers no STARTTLS, and would take a password in clear text
    settings = _serve(relay, monkeypatch)
    try:
        queue_notices(session, 2, "clear")
        report = send_pending(session, settings)
    finally:
        relay.controller.stop()
    assert report.sent == 0 and relay.login.tries == []
    assert f"{address}:{relay.controller.port} does not offer STARTTLS" in report.stopped
    assert "a password is never sent in clear text" in report.stopped
    assert "587 (YOTQA_SMTP_PORT)" in report.stopped
    assert statuses(session) == {EmailStatus.PENDING: 2}


def test_o2_outbox_check_names_the_certificate_it_could_not_check(
    relay_env: None,
    address: str,
    certificate: tuple[Path, ssl.SSLContext],
    offline_cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    relay = Relay(address, certificate[1])
    _serve(relay, monkeypatch)
    try:
        done = offline_cli("outbox", "check")
    finally:
        relay.controller.stop()
    assert done.exit_code != 0
    assert f"Not logged in to {address}:{relay.controller.port}: the certificate" in done.output
    assert relay.login.tries == []


def test_o2_when_tls_is_started_and_the_certificate_checked() -> None:
    def backend(**settings: object):  # type: ignore[no-untyped-def]
        return smtp_backend(Settings(**settings))  # type: ignore[arg-type]

    login = {"smtp_user": "u", "smtp_password": "p"}
    remote = backend(smtp_host="smtp.council.example", **login)
    assert remote.tls is True and remote.tls_context.verify_mode == ssl.CERT_REQUIRED
    assert remote.tls_context.check_hostname
    assert backend(smtp_host="127.0.0.1", **login).tls is None  # a relay on this machine
    assert backend(smtp_host="localhost", smtp_tls=True, **login).tls_context is None
    # No login, no TLS unless asked for; asked for, the certificate is checked as well.
    assert backend(smtp_host="relay.council.example").tls is None
    assert backend(smtp_host="relay.council.example", smtp_auth="none", **login).tls is None
    asked = backend(smtp_host="relay.council.example", smtp_tls=True)
    assert asked.tls is True and asked.tls_context.verify_mode == ssl.CERT_REQUIRED
