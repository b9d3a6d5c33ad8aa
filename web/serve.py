"""`yotqa web`: serve the people's pages with uvicorn, with no token ever in the log (L1)."""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any

import uvicorn

from models.errors import ConfigError
from models.settings import get_settings
from web.main import create_app

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# A link's token wherever it stands in a line (a path, a query string, an odd spelling).
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}\.[A-Za-z0-9_-]{20,100}")


LINK_PATH = re.compile(r"/l/+[^\s?\"]*", re.IGNORECASE)


def redact(text: str) -> str:
    """A request line or message with every link token replaced: whatever follows /l/ (a real
    token, a forged one, half of one), and anything shaped like a token anywhere else."""
    return TOKEN.sub("[link]", LINK_PATH.sub("/l/[link]", text))


class RedactTokens(logging.Filter):
    """Rewrites access-log and error lines so a link's token never reaches a log (L1)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's own format, every handler filtered."""
    config: dict[str, Any] = {**uvicorn.config.LOGGING_CONFIG}
    config["filters"] = {"redact": {"()": RedactTokens}}
    config["handlers"] = {
        name: {**handler, "filters": ["redact"]} for name, handler in config["handlers"].items()
    }
    config["loggers"] = {
        **config["loggers"],
        "yotqa": {"handlers": ["default"], "level": "INFO", "propagate": False},
    }
    return config


def check_host(host: str) -> None:
    """Beyond this machine only with a secret of the admin's own (and behind TLS: README)."""
    if host not in LOOPBACK and not get_settings().web_secret:
        raise ConfigError(
            f"the people's pages would listen on {host}, beyond this machine, signed with a key "
            "generated on this machine alone: set YOTQA_WEB_SECRET to a long random value (the "
            "same for `yotqa web` and every worker that sends emails), put a TLS proxy in front "
            "(README: the people's pages), or keep --host 127.0.0.1"
        )


def run(
    host: str,
    port: int,
    *,
    as_of: date | None = None,
    proxy: bool = False,
    proxy_address: str = "127.0.0.1",
) -> None:
    """Serve until stopped (Ctrl+C or SIGTERM); `as_of` pins the pages' date. Behind a proxy,
    only the proxy's own address is trusted for X-Forwarded-For, so the client address is the
    one the proxy saw, not one a client wrote."""
    check_host(host)
    app = create_app(today=(lambda: as_of) if as_of else None)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=log_config(),
        proxy_headers=proxy,
        forwarded_allow_ips=proxy_address if proxy else None,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
