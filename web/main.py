"""The people's web surface (L1-L3): pages reached only through the personal links in emails.

`create_app()` builds it; `yotqa web` serves it (web/serve.py). The work itself is done by the
same domain functions every other way in uses (L2).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from models.db import make_engine
from models.settings import Settings, get_settings
from tasks.links import web_secret
from tasks.workdays import today as london_today
from web.app import HANDLERS, STATIC, CatchAll
from web.pages import router
from web.security import BodyLimit, Csrf, FailureLimit, SecurityHeaders


def create_app(
    *, engine: sa.Engine | None = None, today: Callable[[], date] | None = None
) -> FastAPI:
    """The web app on the configured database; `today` pins the date (a simulation, a test)."""
    settings = get_settings()
    web_secret(settings)  # make or read the key now: a bad one fails here, not on first click
    # No automatic slash redirects: Starlette builds them from the Host header, which would send a
    # token to whatever site a request names.
    app = FastAPI(
        docs_url=None, redoc_url=None, openapi_url=None, title="yotqa", redirect_slashes=False
    )
    app.state.settings = settings
    app.state.engine = engine or _engine(settings)
    app.state.today = today or london_today
    app.state.csrf = Csrf(settings)
    app.state.failures = FailureLimit(settings.web_failed_checks)
    app.add_middleware(CatchAll)
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for exc, handler in HANDLERS.items():
        app.add_exception_handler(exc, handler)
    app.include_router(router)
    return app


def _engine(settings: Settings) -> sa.Engine:
    # Parameters stay out of error messages and logs (they can hold a link's nonce or free text).
    kwargs: dict[str, Any] = {"hide_parameters": True}
    if not settings.resolved_database_url.startswith("sqlite"):
        kwargs.update(pool_size=10, max_overflow=20)
    return make_engine(**kwargs)
