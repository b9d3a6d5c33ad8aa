"""O2: mail through a server that takes only OAuth 2.0 (SASL XOAUTH2), as Microsoft 365 does once
Basic authentication for SMTP AUTH is off.

Real parts only: aiosmtpd on loopback requiring XOAUTH2 (and refusing any other login), and a
local token endpoint speaking the OAuth 2.0 client-credentials grant (RFC 6749 §4.4) with
Microsoft's error shape. The outbox's own sending path runs unchanged against them.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import ssl
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote_plus

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlmodel import Session, select

from models import EmailMessage
from models.enums import EmailStatus
from models.errors import ConfigError
from models.settings import Settings, get_settings
from models.types import utcnow
from tasks.mailserver import TOKEN_FILE, OAuthClient, smtp_backend
from tasks.outbox import send_pending
from tests.smtp import Recorder, free_port, queue_notices, statuses

ROOT = Path(__file__).resolve().parent.parent
# The relays here run on loopback without TLS (as the product allows only there).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
CLIENT_ID = "5f0c1a2e-app"
CLIENT_SECRET = "Oauth-Secret-q81x"
MAILBOX = "qa-mailbox@yot.example.org"
SCOPE = "https://outlook.office365.com/.default"


class TokenEndpoint(BaseHTTPRequestHandler):
    """The client-credentials grant: form-encoded POST in, a bearer token (or an error) out."""

    issued: dict[str, float]  # token -> when it expires (the server's own view)
    requests: list[dict[str, list[str]]]
    expires_in = 3600

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode()
        form = parse_qs(body)
        self.requests.append(form)
        one = {k: v[0] for k, v in form.items()}
        if one.get("grant_type") != "client_credentials":
            return self._answer(400, {"error": "unsupported_grant_type"})
        if one.get("client_id") != CLIENT_ID or one.get("client_secret") != CLIENT_SECRET:
            return self._answer(
                401,
                {
                    "error": "invalid_client",
                    # Echoing what was sent, as a careless endpoint or proxy might: never shown.
                    "error_description": "AADSTS7000215: Invalid client secret provided: "
                    + one.get("client_secret", "")
                    + " in "
                    + body,  # and as the form encoded it
                },
            )
        if self.path.endswith("/missing"):  # a wrong tenant or URL: a web page, not OAuth
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html><body>Not found</body></html>")
            return None
        if one.get("scope") != SCOPE:
            return self._answer(400, {"error": "invalid_scope"})
        token = secrets.token_urlsafe(24)
        self.issued[token] = time.time() + self.expires_in
        self._answer(
            200, {"token_type": "Bearer", "expires_in": self.expires_in, "access_token": token}
        )

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:  # quiet
        pass


class Endpoint:
    def __init__(self) -> None:
        handler = type("Handler", (TokenEndpoint,), {"issued": {}, "requests": []})
        self.handler = handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tenant/oauth2/v2.0/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def calls(self) -> int:
        return len(self.handler.requests)

    def valid(self, token: str) -> bool:
        return self.handler.issued.get(token, 0) > time.time()

    def expire_all(self) -> None:
        """Every token issued so far stops working (expired or revoked at the server)."""
        for token in self.handler.issued:
            self.handler.issued[token] = 0


class OAuthOnly(Recorder):
    """A relay taking only XOAUTH2 with a token the endpoint issued for the mailbox."""

    def __init__(self, endpoint: Endpoint):
        super().__init__()
        self.endpoint, self.logins, self.refused = endpoint, [], 0

    async def auth_XOAUTH2(self, server, args):  # type: ignore[no-untyped-def]
        blob = base64.b64decode(args[1]) if len(args) > 1 else await server.challenge_auth("")
        fields = dict(p.split("=", 1) for p in blob.decode().split("\x01") if "=" in p)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        self.logins.append(user)
        if user == MAILBOX and self.endpoint.valid(token):
            return AuthResult(success=True, handled=False)
        self.refused += 1
        # Microsoft's way: a 334 with a JSON error, an empty answer, then 535.
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer"}))
        return AuthResult(success=False, handled=False)


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    e = Endpoint()
    e.thread.start()
    yield e
    e.server.shutdown()
    e.server.server_close()


@pytest.fixture
def relay(endpoint: Endpoint) -> Iterator[tuple[OAuthOnly, int]]:
    handler = OAuthOnly(endpoint)
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        auth_required=True,
        auth_require_tls=False,  # loopback, as the product allows only there
        auth_exclude_mechanism=["LOGIN", "PLAIN"],
    )
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture
def oauth_env(
    monkeypatch: pytest.MonkeyPatch, settings_env: None, endpoint: Endpoint, relay
) -> Iterator[Settings]:
    for name, value in {
        "YOTQA_SMTP_HOST": "127.0.0.1",
        "YOTQA_SMTP_PORT": str(relay[1]),
        "YOTQA_SMTP_AUTH": "xoauth2",
        "YOTQA_SMTP_USER": MAILBOX,
        "YOTQA_SMTP_OAUTH_TOKEN_URL": endpoint.url,
        "YOTQA_SMTP_OAUTH_CLIENT_ID": CLIENT_ID,
        "YOTQA_SMTP_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_o2_xoauth2_sends_a_batch_with_one_token_kept_until_it_nears_expiry(
    session: Session, oauth_env: Settings, endpoint: Endpoint, relay
) -> None:
    handler, _ = relay
    queue_notices(session, 3, "o2")
    report = send_pending(session, oauth_env)
    assert (report.sent, report.stopped) == (3, "")
    assert len(handler.messages) == 3 and set(handler.logins) == {MAILBOX}
    assert endpoint.calls == 1
    grant = {k: v[0] for k, v in endpoint.handler.requests[0].items()}
    assert grant["grant_type"] == "client_credentials" and grant["scope"] == SCOPE

    # Kept for the next batch (another process would read the same file), owner-only,
    # holding the token but never the app's secret.
    cache = Path(oauth_env.output_dir) / TOKEN_FILE
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert CLIENT_SECRET not in cache.read_text()
    queue_notices(session, 2, "o2-later")
    assert send_pending(session, oauth_env).sent == 2
    assert endpoint.calls == 1

    # Five minutes before it expires it is replaced, before any server sees it stale.
    held = json.loads(cache.read_text())
    cache.write_text(json.dumps({**held, "expires_at": time.time() + 120}))
    endpoint.expire_all()
    queue_notices(session, 1, "o2-refresh")
    assert send_pending(session, oauth_env).sent == 1
    assert endpoint.calls == 2 and handler.refused == 0
    assert statuses(session) == {EmailStatus.SENT: 6}


def test_o2_a_token_the_server_refuses_stops_the_batch_then_a_new_one_is_fetched(
    session: Session, oauth_env: Settings, endpoint: Endpoint, relay
) -> None:
    """A token revoked or expired at the server (the cache still thinks it good): one login is
    tried, the rest wait; the cached token is dropped, and the next run fetches another."""
    handler, _ = relay
    queue_notices(session, 1, "warm")
    send_pending(session, oauth_env)
    endpoint.expire_all()
    queue_notices(session, 4, "o2")
    report = send_pending(session, oauth_env)
    assert report.sent == 0 and handler.refused == 1
    assert "refused the login" in report.stopped
    assert "YOTQA_SMTP_OAUTH_CLIENT_ID" in report.stopped
    assert not (Path(oauth_env.output_dir) / TOKEN_FILE).exists()
    assert statuses(session) == {EmailStatus.SENT: 1, EmailStatus.PENDING: 4}

    report = send_pending(session, oauth_env, now=utcnow() + timedelta(minutes=5))
    assert report.sent == 4 and endpoint.calls == 2
    assert statuses(session) == {EmailStatus.SENT: 5}


@pytest.mark.parametrize("expired", ["an-expired-secret", "an+expired/secret=="])
def test_o2_a_refused_client_secret_is_asked_once_a_batch_and_names_the_settings(
    session: Session,
    oauth_env: Settings,
    endpoint: Endpoint,
    relay,
    monkeypatch: pytest.MonkeyPatch,
    expired: str,
) -> None:
    monkeypatch.setenv("YOTQA_SMTP_OAUTH_CLIENT_SECRET", expired)
    get_settings.cache_clear()
    queue_notices(session, 5, "o2")
    report = send_pending(session, get_settings())
    handler, _ = relay
    assert endpoint.calls == 1 and handler.logins == []  # no login tried without a token
    assert "invalid_client" in report.stopped and "AADSTS7000215" in report.stopped
    assert "YOTQA_SMTP_OAUTH_CLIENT_SECRET" in report.stopped
    # Neither as sent nor as the form encoded it ("an%2Bexpired%2Fsecret%3D%3D").
    shown = [expired, quote_plus(expired)]
    assert not [s for s in shown if s in report.stopped], report.stopped
    assert statuses(session) == {EmailStatus.PENDING: 5}
    session.expire_all()
    errors = {m.last_error for m in session.exec(select(EmailMessage))}
    assert all("invalid_client" in e and not [s for s in shown if s in e] for e in errors)


def test_o2_a_web_page_for_a_token_names_the_url_and_a_damaged_cache_is_replaced(
    session: Session, oauth_env: Settings, endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YOTQA_SMTP_OAUTH_TOKEN_URL", endpoint.url + "/missing")
    get_settings.cache_clear()
    queue_notices(session, 2, "o2")
    report = send_pending(session, get_settings())
    assert report.sent == 0 and "answered 404, not as OAuth 2.0" in report.stopped
    assert "YOTQA_SMTP_OAUTH_TOKEN_URL" in report.stopped

    cache = Path(oauth_env.output_dir) / TOKEN_FILE
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"key": "k", "access_token": "t", "expires_at": None}))
    report = send_pending(session, oauth_env, now=utcnow() + timedelta(minutes=5))
    assert report.sent == 2 and endpoint.calls == 2  # the 404, then a new token


def test_o2_a_stopped_batch_never_fails_its_message_for_the_attempts_it_waited(
    session: Session, oauth_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused secret over a long weekend: the message keeps waiting (4 hours apart), and is
    sent once the secret is put right, however many runs found it refused."""
    monkeypatch.setenv("YOTQA_SMTP_OAUTH_CLIENT_SECRET", "an-expired-secret")
    get_settings.cache_clear()
    queue_notices(session, 1, "o2")
    later = utcnow()
    for _ in range(12):
        assert "invalid_client" in send_pending(session, get_settings(), now=later).stopped
        later += timedelta(hours=5)
    assert statuses(session) == {EmailStatus.PENDING: 1}
    session.expire_all()
    assert session.exec(select(EmailMessage)).one().attempts == 12
    monkeypatch.setenv("YOTQA_SMTP_OAUTH_CLIENT_SECRET", CLIENT_SECRET)
    get_settings.cache_clear()
    assert send_pending(session, get_settings(), now=later).sent == 1


def test_o2_an_unreachable_token_endpoint_is_tried_again_later(
    session: Session, oauth_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YOTQA_SMTP_OAUTH_TOKEN_URL", f"http://127.0.0.1:{free_port()}/token")
    get_settings.cache_clear()
    queue_notices(session, 3, "o2")
    report = send_pending(session, get_settings())
    assert report.sent == 0 and report.retrying == 1
    assert "no token from" in report.stopped and "ConnectionError" in report.stopped
    assert statuses(session) == {EmailStatus.PENDING: 3}


def test_o2_xoauth2_settings_checked_and_the_token_sent_only_over_tls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Refused when the settings are read (every command), not at every send.
    monkeypatch.setenv("YOTQA_SMTP_AUTH", "xoauth2")
    monkeypatch.setenv("YOTQA_SMTP_OAUTH_CLIENT_ID", "app")
    get_settings.cache_clear()
    with pytest.raises(ConfigError) as missing:
        get_settings()
    get_settings.cache_clear()
    assert "YOTQA_SMTP_AUTH=xoauth2 needs YOTQA_SMTP_OAUTH_CLIENT_SECRET" in str(missing.value)
    assert "YOTQA_SMTP_OAUTH_TENANT" in str(missing.value)
    assert "YOTQA_=" not in str(missing.value)

    client = OAuthClient.of(
        Settings(
            smtp_auth="xoauth2",
            smtp_oauth_tenant="contoso.onmicrosoft.com",
            smtp_oauth_client_id="app",
            smtp_oauth_client_secret="s",
        )
    )
    assert client.token_url == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    )
    assert client.scope == SCOPE

    remote = dict(smtp_auth="xoauth2", smtp_oauth_tenant="t", smtp_oauth_client_id="a")
    secret = {"smtp_oauth_client_secret": "s"}
    office = smtp_backend(
        Settings(smtp_host="smtp.office365.com", smtp_port=587, **remote, **secret)
    )
    assert office.tls is True  # STARTTLS even when YOTQA_SMTP_TLS was left false
    assert smtp_backend(Settings(smtp_host="127.0.0.1", **remote, **secret)).tls is None
    # Logged in as the sender's address, not its display name.
    named = Settings(
        smtp_host="h", mail_from="Youth Justice QA <qa@yot.example.org>", **remote, **secret
    )
    assert smtp_backend(named).smtp_cls_kwargs["user"] == "qa@yot.example.org"
    # `none` never logs in, even with a user and password set.
    none = smtp_backend(Settings(smtp_host="h", smtp_auth="none", smtp_user="u", smtp_password="p"))
    assert "user" not in none.smtp_cls_kwargs or none.smtp_cls_kwargs["user"] is None


def test_o2_xoauth2_logs_in_only_after_starttls(
    session: Session,
    oauth_env: Settings,
    endpoint: Endpoint,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Port 587's way: STARTTLS first, then AUTH XOAUTH2 inside TLS (a relay with a self-made
    certificate that refuses AUTH before TLS)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = OAuthOnly(endpoint)
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        auth_exclude_mechanism=["LOGIN", "PLAIN"],
    )
    controller.start()
    try:
        monkeypatch.setenv("YOTQA_SMTP_PORT", str(controller.port))
        get_settings.cache_clear()
        queue_notices(session, 1, "plain")
        plain = send_pending(session, get_settings())  # YOTQA_SMTP_TLS left false, loopback
        assert plain.sent == 0 and handler.logins == []

        monkeypatch.setenv("YOTQA_SMTP_TLS", "true")
        get_settings.cache_clear()
        tls = send_pending(session, get_settings(), now=utcnow() + timedelta(minutes=5))
    finally:
        controller.stop()
    assert tls.sent == 1 and handler.logins == [MAILBOX]


def test_o2_outbox_check_logs_in_and_names_the_settings_when_refused(
    oauth_env: Settings, offline_cli, relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`yotqa outbox check`: the council's IT can try the app registration before go-live."""
    done = offline_cli("outbox", "check")
    assert done.exit_code == 0, done.output
    assert f"as {MAILBOX} with an OAuth 2.0 token (XOAUTH2)" in done.output
    assert relay[0].logins == [MAILBOX] and relay[0].messages == []

    monkeypatch.setenv("YOTQA_SMTP_USER", "someone-else@yot.example.org")
    refused = offline_cli("outbox", "check")
    assert refused.exit_code != 0
    assert "refused the login (535" in refused.output
    assert "YOTQA_SMTP_OAUTH_CLIENT_ID" in refused.output


def test_o2_the_command_line_sends_with_xoauth2_from_the_environment(
    session: Session, oauth_env: Settings, db_url: str, relay
) -> None:
    """`yotqa outbox send` in its own process, configured only by YOTQA_* variables."""
    queue_notices(session, 2, "o2")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "yotqa"), "outbox", "send"],
        cwd=ROOT,
        env={**os.environ, "YOTQA_DATABASE_URL": db_url, "DO_NOT_TRACK": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert CLIENT_SECRET not in done.stdout + done.stderr
    assert len(relay[0].messages) == 2
    assert statuses(session) == {EmailStatus.SENT: 2}
