"""The connection to the mail server, logged in as YOTQA_SMTP_AUTH says (O2).

`password` logs in with YOTQA_SMTP_USER and YOTQA_SMTP_PASSWORD (when a user is set), `none`
never logs in, and `xoauth2` presents an OAuth 2.0 app token (SASL XOAUTH2), which is what
Microsoft 365 keeps once it turns Basic authentication for SMTP off. The token comes from the
client-credentials grant at YOTQA_SMTP_OAUTH_TOKEN_URL (Microsoft's v2.0 endpoint for
YOTQA_SMTP_OAUTH_TENANT by default) and is kept, owner-readable, under the output folder until
five minutes before it expires, so the outbox's frequent small runs ask for one about hourly.

A password or a token goes to the server only inside TLS (STARTTLS), and only once the server's
certificate has been checked against this machine's trusted authorities, as `emails` alone does
not; a relay on this machine (as the tests use) is the one exception.

Mail still goes through the `emails` package: only its connection class is extended, to check
the certificate on STARTTLS and to log in with XOAUTH2 instead of a password.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import ssl
import tempfile
import time
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from emails.backend.response import SMTPResponse
from emails.backend.smtp.backend import SMTPBackend
from emails.backend.smtp.client import SMTPClientWithResponse

from models.settings import Settings

MICROSOFT_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"  # noqa: S105 (an address)
TOKEN_FILE = "smtp-oauth-token.json"  # noqa: S105 (a file name)
# A token this close to its expiry is replaced before use: a batch can take minutes.
REFRESH_BEFORE = 300


class LoginWithheld(Exception):
    """Nothing is sent, as logging in would not be safe or possible; the message says what to put
    right. Returned as the response's error (as `emails` returns its own), it stops the batch."""


class TokenError(LoginWithheld):
    """No token to log in with: the endpoint refused our client, or could not be reached."""


# SMTP replies that mean the relay refused our credentials (RFC 4954): 530 authentication
# required, 534 mechanism too weak, 535 credentials invalid.
LOGIN_REFUSED = {530, 534, 535}


def refused_login(error: object) -> bool:
    """An error of the mail library's that carries one of those replies."""
    return getattr(error, "smtp_code", None) in LOGIN_REFUSED


@dataclass(frozen=True)
class OAuthClient:
    """Who asks for the token, and where (the settings, checked)."""

    token_url: str
    client_id: str
    client_secret: str
    scope: str

    @classmethod
    def of(cls, settings: Settings) -> OAuthClient:
        """The settings' client (checked complete when the settings were read)."""
        url = settings.smtp_oauth_token_url or MICROSOFT_TOKEN_URL.format(
            tenant=settings.smtp_oauth_tenant.strip()
        )
        return cls(
            url,
            settings.smtp_oauth_client_id.strip(),
            settings.smtp_oauth_client_secret,
            settings.smtp_oauth_scope,
        )

    @property
    def key(self) -> str:
        """Names the cached token: another client, endpoint or scope never reuses it."""
        return hashlib.sha256(
            f"{self.token_url}\n{self.client_id}\n{self.scope}".encode()
        ).hexdigest()


class Tokens:
    """The client's access token, from the cache file while it is fresh, else from the endpoint."""

    def __init__(self, client: OAuthClient, cache: Path, clock: Any = time.time):
        self.client, self.cache, self.clock = client, cache, clock

    def get(self) -> str:
        cached = self._read()
        if cached is not None:
            return cached
        token, expires_at = self._fetch()
        self._write(token, expires_at)
        return token

    def forget(self) -> None:
        """The server refused the token (revoked, or the mailbox's permission withdrawn)."""
        self.cache.unlink(missing_ok=True)

    def _read(self) -> str | None:
        try:
            held = json.loads(self.cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(held, dict) or held.get("key") != self.client.key:
            return None
        try:
            if float(held.get("expires_at", 0)) - REFRESH_BEFORE <= self.clock():
                return None
        except (TypeError, ValueError):
            return None  # a damaged cache: ask for a new token
        token = held.get("access_token")
        return token if isinstance(token, str) and token else None

    def _write(self, token: str, expires_at: float) -> None:
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        # Owner-only (mkstemp's 0600), unique to this writer, then moved into place.
        fd, partial = tempfile.mkstemp(dir=self.cache.parent, prefix=f".{self.cache.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(
                {"key": self.client.key, "access_token": token, "expires_at": expires_at}, handle
            )
        os.replace(partial, self.cache)  # readers see the old token or the new, never half

    def _fetch(self) -> tuple[str, float]:
        c = self.client
        check = (
            "check YOTQA_SMTP_OAUTH_CLIENT_ID, YOTQA_SMTP_OAUTH_CLIENT_SECRET (it may have "
            "expired) and YOTQA_SMTP_OAUTH_TENANT or YOTQA_SMTP_OAUTH_TOKEN_URL"
        )
        try:
            with OAuth2Session(
                c.client_id,
                c.client_secret,
                scope=c.scope,
                token_endpoint_auth_method="client_secret_post",  # noqa: S106
            ) as session:
                token = session.fetch_token(
                    c.token_url, grant_type="client_credentials", timeout=30
                )
        except OAuthError as exc:
            described = f"{exc.error}: {exc.description}" if exc.description else str(exc.error)
            raise TokenError(
                f"the token endpoint {c.token_url} refused the app's credentials "
                f"({self._said(described)}): {check}"
            ) from None
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status >= 500:
                raise TokenError(
                    f"no token from {c.token_url} (it answered {status}); tried again later"
                ) from None
            raise TokenError(  # a 404 page or a proxy's 403: not the OAuth endpoint
                f"the token endpoint {c.token_url} answered {status}, not as OAuth 2.0: check "
                "YOTQA_SMTP_OAUTH_TENANT or YOTQA_SMTP_OAUTH_TOKEN_URL"
            ) from None
        except requests.RequestException as exc:
            raise TokenError(
                f"no token from {c.token_url} ({type(exc).__name__}: {self._said(str(exc))}); "
                "tried again later"
            ) from None
        except ValueError as exc:  # not JSON: a proxy's page, or the wrong URL
            raise TokenError(
                f"the token endpoint {c.token_url} did not answer as OAuth 2.0 "
                f"({self._said(str(exc))}): check YOTQA_SMTP_OAUTH_TOKEN_URL"
            ) from None
        access = token.get("access_token")
        if not access:
            raise TokenError(f"the token endpoint {c.token_url} sent no access_token: {check}")
        expires_at = token.get("expires_at") or self.clock() + float(token.get("expires_in", 0))
        return str(access), float(expires_at)

    def _said(self, text: str) -> str:
        """The first line of what the endpoint said, never with the app's secret in it, as sent
        or as a form or URL would encode it (masked before the line is cut short)."""
        secret = self.client.client_secret
        line = (text.strip().splitlines() or [""])[0]
        for form in {secret, quote_plus(secret), quote(secret, safe="")} if secret else ():
            line = line.replace(form, "***")
        return line[:300]


class _CheckedConnection(SMTPClientWithResponse):
    """`emails`'s connection, checking the server's certificate on STARTTLS before logging in."""

    parent: CheckedBackend

    def initialize(self) -> None:
        if not self._initialized:
            self.set_debuglevel(self.debug)
            if self.tls:
                self._starttls()
            self.ehlo_or_helo_if_needed()
            self.log_in()
            self._initialized = True

    def _starttls(self) -> None:
        where = f"{self.parent.host}:{self.parent.port}"
        self.ehlo_or_helo_if_needed()
        if not self.has_extn("starttls"):
            self.close()
            raise LoginWithheld(f"{where} does not offer STARTTLS, {self.parent.tls_because}")
        try:
            self.starttls(context=self.parent.tls_context)
        except ssl.SSLCertVerificationError as exc:
            self.close()
            raise LoginWithheld(
                f"the certificate of {where} could not be checked ({exc.verify_message}): "
                "YOTQA_SMTP_HOST must be the name the certificate is for, and its issuer trusted "
                "by this machine (a council's own authority can be added with SSL_CERT_FILE)"
            ) from None

    def log_in(self) -> None:
        if self.user:
            self.login(user=self.user, password=self.password)


class _XOAuth2Connection(_CheckedConnection):
    """Logging in with SASL XOAUTH2 (the user and a bearer token) instead of a password."""

    parent: XOAuth2Backend

    def log_in(self) -> None:
        initial = f"user={self.user}\x01auth=Bearer {self.parent.token}\x01\x01"
        # On refusal the server sends a 334 challenge (a JSON error); the answer is empty,
        # and then comes the 535, raised as the mail library's error.
        self.auth("XOAUTH2", lambda challenge=None: "" if challenge else initial)


class CheckedBackend(SMTPBackend):
    """`emails`'s backend with the connection above; what withholds the login comes back as
    the response's error."""

    connection_cls = _CheckedConnection

    def __init__(self, tls_context: ssl.SSLContext | None, tls_because: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.tls_context, self.tls_because = tls_context, tls_because

    def _send(self, **kwargs: Any) -> SMTPResponse | None:
        try:
            return super()._send(**kwargs)
        except LoginWithheld as exc:
            return self.make_response(exception=exc)


class XOAuth2Backend(CheckedBackend):
    connection_cls = _XOAuth2Connection

    def __init__(self, tokens: Tokens, tls_context: ssl.SSLContext | None, **kwargs: Any):
        super().__init__(tls_context, **kwargs)
        self.tokens, self.token = tokens, ""

    def get_client(self) -> SMTPClientWithResponse:
        """The token first (a TokenError, before any connection), then the connection; a token
        the server refuses (revoked, the mailbox's permission withdrawn) is not kept."""
        if self._client is None:
            self.token = self.tokens.get()
            try:
                return super().get_client()
            except OSError as exc:  # the mail library's errors are OSErrors
                if refused_login(exc):
                    self.tokens.forget()
                raise
        return super().get_client()


def smtp_backend(settings: Settings) -> SMTPBackend:
    """One connection to the configured mail server; errors come back in the response.

    A login (password or token) goes only inside TLS, and TLS to another machine only with its
    certificate checked; a relay on this machine (as the tests use) may have a self-made one
    and may be spoken to in clear text."""
    common: dict[str, Any] = {
        "host": settings.smtp_host,
        "port": settings.smtp_port,
        "fail_silently": True,
        "timeout": 30,
    }
    local = _loopback(settings.smtp_host)
    context = None if local else ssl.create_default_context()
    if settings.smtp_auth == "xoauth2":
        tokens = Tokens(OAuthClient.of(settings), Path(settings.output_dir) / TOKEN_FILE)
        return XOAuth2Backend(
            tokens,
            context,
            tls_because="and an OAuth token is never sent in clear text (YOTQA_SMTP_AUTH=xoauth2): "
            "use the server's submission port, 587 for Microsoft 365 (YOTQA_SMTP_PORT)",
            tls=settings.smtp_tls or not local or None,
            user=mailbox(settings),
            **common,
        )
    login = settings.smtp_auth == "password" and bool(settings.smtp_user)
    because = (
        "as YOTQA_SMTP_TLS asks"
        if settings.smtp_tls
        else "and a password is never sent in clear text: use the server's submission port, "
        "usually 587 (YOTQA_SMTP_PORT)"
    )
    return CheckedBackend(
        context,
        tls_because=because,
        tls=settings.smtp_tls or (login and not local) or None,
        user=settings.smtp_user if login else None,
        password=settings.smtp_password if login else None,
        **common,
    )


def mailbox(settings: Settings) -> str:
    """Whom XOAUTH2 logs in as: YOTQA_SMTP_USER, else the address in YOTQA_MAIL_FROM (without
    a display name such as "Youth Justice QA <qa@council.gov.uk>")."""
    return settings.smtp_user or parseaddr(settings.mail_from)[1] or settings.mail_from


def check_login(settings: Settings) -> tuple[bool, str]:
    """Connect and log in as the outbox would, then log out; whether it worked, in words."""
    backend = smtp_backend(settings)
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        backend.get_client()
    except LoginWithheld as exc:
        return False, f"Not logged in to {where}: {exc}"
    except OSError as exc:  # the mail library's errors are OSErrors
        if not refused_login(exc):
            return False, f"Could not talk to {where}: {type(exc).__name__}: {exc}"
        said = getattr(exc, "smtp_error", b"")
        said = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
        return False, (
            f"{where} refused the login ({getattr(exc, 'smtp_code', '')} {said}): "
            f"check {login_settings(settings)}"
        )
    finally:
        backend.close()
    how = {
        "xoauth2": f"as {mailbox(settings)} with an OAuth 2.0 token (XOAUTH2)",
        "password": f"as {settings.smtp_user} with a password"
        if settings.smtp_user
        else "without a login",
        "none": "without a login",
    }[settings.smtp_auth]
    return True, f"Logged in to {where} {how}; nothing was sent."


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def login_settings(settings: Settings) -> str:
    """The settings to check when the server refuses our login, as an admin would read them."""
    if settings.smtp_auth == "xoauth2":
        return (
            "YOTQA_SMTP_USER (the mailbox), YOTQA_SMTP_OAUTH_CLIENT_ID, "
            "YOTQA_SMTP_OAUTH_CLIENT_SECRET, YOTQA_SMTP_OAUTH_TENANT, and the app's SMTP "
            "permission on the mailbox (README, Microsoft 365)"
        )
    return "YOTQA_SMTP_USER and YOTQA_SMTP_PASSWORD"
