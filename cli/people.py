"""`yotqa web`: the pages behind the links in people's emails (L1)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import date_option, out, ready_engine
from models.settings import get_settings


def web(
    host: Annotated[
        str,
        typer.Option(help="Address to listen on (keep 127.0.0.1 unless behind a TLS proxy)."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8400,
    proxy: Annotated[
        bool,
        typer.Option(
            "--proxy/--no-proxy",
            help="Behind a reverse proxy: trust its X-Forwarded-For and X-Forwarded-Proto.",
        ),
    ] = False,
    proxy_address: Annotated[
        str,
        typer.Option(
            "--proxy-address",
            help="With --proxy: the reverse proxy's own address, the only one whose "
            "X-Forwarded-For is believed.",
        ),
    ] = "127.0.0.1",
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="The pages' 'today', YYYY-MM-DD (a simulated service; default today)."
        ),
    ] = None,
) -> None:
    """Serve the pages behind the personal links in emails (audit forms, action points, findings).

    Emails link to YOTQA_WEB_URL; links are signed with YOTQA_WEB_SECRET (or a key kept in
    var/web-secret). Stop with Ctrl+C."""
    from web.serve import check_host, run

    check_host(host)
    ready_engine().dispose()  # refuse early if the database is not ready
    settings = get_settings()
    day = date_option(as_of) if as_of else None
    out.print(f"The people's pages: http://{host}:{port}/  (emails link to {settings.web_url})")
    out.print("Stop with Ctrl+C.")
    run(host, port, as_of=day, proxy=proxy, proxy_address=proxy_address)
