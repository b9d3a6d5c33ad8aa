"""The web surface's defences, each in one place: response headers, a cap on request bodies,
CSRF on every form, and a limit on failed link checks from one address."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import defaultdict, deque

from itsdangerous import Signer
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.settings import Settings
from tasks.links import web_secret

# No script at all; styles only from our own static file; forms post only to ourselves; never
# framed; and no Referer, so a token in the address never reaches another site.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
MAX_BODY = 1024 * 1024  # a full audit form with long evidence is well under this


class SecurityHeaders:
    """Sets HEADERS on every response, and `Cache-Control: no-store` on pages (they hold links)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
                if not scope["path"].startswith("/static/"):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyTooLarge(Exception):
    """A request body over MAX_BODY: refused with 413 before anything is read into a form."""


class BodyLimit:
    """Refuses bodies over `limit` bytes, by Content-Length or while they stream in."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await _too_large(send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        await self.app(scope, counted, send)


async def _too_large(send: Send) -> None:
    body = b"The form sent was too large: nothing was saved. Shorten the longest answers and try again."
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *((k.lower().encode(), v.encode()) for k, v in HEADERS.items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


CSRF_COOKIE = "yotqa_csrf"
CSRF_FIELD = "csrf_token"
_COOKIE_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,64}")


class Csrf:
    """Double-submit: a random cookie, and in each form a signature of that cookie and the link.
    A form posted from anywhere else lacks one or the other, and is refused."""

    def __init__(self, settings: Settings) -> None:
        self._signer = Signer(web_secret(settings), salt="yotqa.csrf", digest_method=hashlib.sha256)

    @staticmethod
    def cookie(existing: str | None) -> str:
        """The browser's cookie if it has a good one (so two open tabs agree), else a new one."""
        return (
            existing
            if existing and _COOKIE_SHAPE.fullmatch(existing)
            else secrets.token_urlsafe(32)
        )

    def field(self, cookie: str, nonce: str) -> str:
        return self._signer.get_signature(f"{cookie}.{nonce}").decode("ascii")

    def valid(self, cookie: str | None, field: str | None, nonce: str) -> bool:
        if not cookie or not field or not _COOKIE_SHAPE.fullmatch(cookie) or len(field) > 100:
            return False
        return self._signer.verify_signature(f"{cookie}.{nonce}", field)  # constant time


class FailureLimit:
    """Counts failed link and form checks per client address; over `limit` in `window` seconds,
    that address is refused (429) until the window has passed."""

    def __init__(self, limit: int, window: float = 600.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures[client]
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def blocked(self, client: str) -> bool:
        with self._lock:
            return len(self._recent(client, time.monotonic())) >= self.limit

    def fail(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._recent(client, now).append(now)
            if len(self._failures) > 10_000:  # forget the quietest addresses, not the busy one
                for key in [k for k, v in self._failures.items() if not v][:5_000]:
                    del self._failures[key]
