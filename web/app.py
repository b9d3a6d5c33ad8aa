"""What the people's pages share: the database session, the checked link, rendering, the error
pages and the catch-all that keeps tracebacks off every page.

web/main.py builds the app; the routes are in web/pages.py (the audit form's handlers in
audit_pages.py, the rest after feedback in feedback_pages.py), the defences in web/security.py.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.base import id_of
from models.settings import Settings, get_settings
from tasks.links import Grant, LinkRefused, Links, check
from tasks.mail import environment
from web.security import (
    CSRF_COOKIE,
    BodyTooLarge,
    Csrf,
    FailureLimit,
)

log = logging.getLogger("yotqa.web")
STATIC = Path(__file__).resolve().parent / "static"


class TooManyFailures(Exception):
    """This address has failed too many link or form checks lately."""


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def get_grant(request: Request, token: str, session: SessionDep) -> Grant:
    """The checked link of the address; on a POST its item is locked until the work is done, so
    two submits at once are one record and one "already done"."""
    failures: FailureLimit = request.app.state.failures
    address = client_of(request)
    if failures.blocked(address):
        raise TooManyFailures
    try:
        return check(
            session,
            token,
            request.app.state.settings,
            request.app.state.today(),
            lock=request.method == "POST",
        )
    except LinkRefused as refused:
        if refused.status == 403:
            failures.fail(address)
        raise


GrantDep = Annotated[Grant, Depends(get_grant)]


# Control characters no one types (NUL, which PostgreSQL cannot store, and the rest of C0 but
# tab and line breaks): dropped from what is posted.
_CONTROL = dict.fromkeys(c for c in range(32) if chr(c) not in "\t\n\r")


# What a form sent, or the problems with it, by field name.
Fields = dict[str, str]


async def get_fields(request: Request) -> Fields:
    """The posted form as plain strings (no file uploads; a bounded number of fields)."""
    form = await request.form(max_files=0, max_fields=800, max_part_size=64 * 1024)
    return {
        k.translate(_CONTROL): v.translate(_CONTROL)
        for k, v in form.multi_items()
        if isinstance(v, str)
    }


FieldsDep = Annotated[Fields, Depends(get_fields)]


def render(
    request: Request, template: str, *, status: int = 200, title: str, **context: Any
) -> HTMLResponse:
    """A page from templates/web/ (autoescaped, strict), with a CSRF cookie and field."""
    settings: Settings = request.app.state.settings
    csrf: Csrf = request.app.state.csrf
    cookie = csrf.cookie(request.cookies.get(CSRF_COOKIE))
    grant: Grant | None = context.get("grant")
    html = (
        environment()
        .get_template(f"web/{template}.html")
        .render(
            title=title,
            service=settings.service_name,
            csrf_token=csrf.field(cookie, grant.link.nonce) if grant else "",
            **{"items_url": None, "notice": None, **context},
        )
    )
    response = HTMLResponse(html, status_code=status)
    response.set_cookie(
        CSRF_COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
        max_age=12 * 3600,
    )
    return response


def items_url(request: Request, session: Session, person_id: int) -> str:
    """The person's own list of open items (a link of its own)."""
    url = Links(session, request.app.state.today(), request.app.state.settings).items(person_id)
    session.commit()
    return url


def _refused(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, LinkRefused):
        raise exc
    own = None
    if exc.person_id is not None:  # the item is done or gone: the rest of theirs is a click away
        with Session(request.app.state.engine, expire_on_commit=False) as session:
            own = items_url(request, session, exc.person_id)
    return render(
        request,
        "refused",
        status=exc.status,
        title=exc.title,
        message=exc.message,
        ask=exc.ask,
        items_url=own,
    )


def refusal(request: Request, status: int, title: str, message: str, ask: str = "") -> Response:
    """A plain page saying what happened, that nothing changed, and whom to ask."""
    return render(request, "refused", status=status, title=title, message=message, ask=ask)


def _too_many(request: Request, exc: Exception) -> Response:
    return refusal(
        request,
        429,
        "Too many links that did not work",
        "Too many links that could not be checked came from your network in the last "
        "ten minutes, so links are refused for a while. Wait ten minutes, then open the link "
        "from your email again, whole.",
        ask="the QA manager, if it goes on",
    )


def _too_large(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(
        "The form sent was too large: nothing was saved. Shorten the longest answers and try again.",
        status_code=413,
    )


def _http(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    if status == 404:
        message = "There is no page here. Open the link from your email again, whole."
    elif status == 405:
        message = "That is not a way this page can be used. Open the link from your email again."
    else:
        message = "The request could not be read. Go back, reload the page and try again."
    return refusal(
        request, status, "Page not found" if status == 404 else "That did not work", message
    )


def _invalid(request: Request, exc: Exception) -> Response:
    return refusal(
        request,
        400,
        "That did not work",
        "The request could not be read. Go back, reload the page and try again.",
    )


class CatchAll:
    """Any error a page did not expect becomes a plain page saying nothing was saved; the log
    gets the route, the error's type and where it was raised, never its message (which can hold
    what someone typed) nor the address (which holds a token)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # noqa: BLE001 (the one place every unexpected error ends)
            route = scope.get("route")
            where = "".join(traceback.format_tb(exc.__traceback__, limit=-3))
            log.error(
                "page %s failed with %s at\n%s",
                getattr(route, "name", "-"),
                type(exc).__name__,
                where,
            )
            if started or scope["type"] != "http":
                return
            html = (
                environment()
                .get_template("web/refused.html")
                .render(
                    title="Something went wrong",
                    service=get_settings().service_name,
                    message="Nothing was saved. Try again in a few minutes; if it happens again, tell "
                    "the QA manager which email's link you used and when.",
                    ask="",
                    items_url=None,
                    notice=None,
                    csrf_token="",
                )
            )
            await HTMLResponse(html, status_code=500)(scope, receive, send)


HANDLERS: dict[Any, Callable[[Request, Exception], Response]] = {
    LinkRefused: _refused,
    TooManyFailures: _too_many,
    BodyTooLarge: _too_large,
    StarletteHTTPException: _http,
    RequestValidationError: _invalid,
}


# What the page handlers (web/pages.py, audit_pages.py, feedback_pages.py) share.


def settings_of(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def today_of(request: Request) -> date:
    return request.app.state.today()  # type: ignore[no-any-return]


def links_of(request: Request, session: Session) -> Links:
    return Links(session, today_of(request), settings_of(request))


@dataclass(frozen=True)
class Visit:
    """One request through a person's link: the request, the checked link, and a session."""

    request: Request
    grant: Grant
    session: Session

    @property
    def person_id(self) -> int:
        return id_of(self.grant.person)

    @property
    def item_id(self) -> int:
        return self.grant.item_id

    @property
    def today(self) -> date:
        return today_of(self.request)

    @property
    def settings(self) -> Settings:
        return settings_of(self.request)

    def links(self) -> Links:
        return links_of(self.request, self.session)

    def page(self, template: str, title: str, *, status: int = 200, **context: Any) -> Response:
        """A page about one of the person's items, with the way to their own list of items."""
        return render(
            self.request,
            template,
            status=status,
            title=title,
            grant=self.grant,
            items_url=items_url(self.request, self.session, self.person_id),
            **context,
        )

    def form(
        self,
        template: str,
        title: str,
        fields: Fields,
        errors: Fields,
        status: int = 200,
        **context: Any,
    ) -> Response:
        """A page with a form: what was typed, and each problem beside its field."""
        return self.page(template, title, status=status, fields=fields, errors=errors, **context)

    def done(self, title: str, lines: list[str]) -> Response:
        """The page after something was done: what happened, and the way to the person's list."""
        return self.page("done", title, lines=lines)


# A page handler: what a link shows (with what was typed and the problems beside their fields),
# and what it does when its form is submitted.
Show = Callable[..., Response]
Act = Callable[[Visit, Fields], Response]
