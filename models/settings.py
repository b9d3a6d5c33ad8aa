"""One settings object for the whole product (SPEC §7), read from the environment or `.env`, or
from one service's env file alone when YOTQA_ENV_FILE names it (several services on shared
workers, README)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from models.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"
# H1: the kinds of audit that may use the inspection-style tool instead of the 2012 one.
INSPECTION_TOOL_KINDS = ("case_file", "supervision_file", "peer", "self")


class Settings(BaseSettings):
    """Configuration; relative paths are taken from the repository root."""

    model_config = SettingsConfigDict(
        env_prefix="YOTQA_", env_file=REPO_ROOT / ".env", extra="ignore"
    )

    database_url: str = Field(
        default="", description="SQLAlchemy URL; empty = var/yotqa.db", repr=False
    )
    output_dir: Path = Path("var")
    timetable_file: Path = DATA_DIR / "timetable.yaml"
    question_sets_dir: Path = DATA_DIR / "question_sets"
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = Field(default="", repr=False)
    # STARTTLS even when false for a login to another machine; the certificate always checked
    # there (tasks/mailserver.py).
    smtp_tls: bool = False
    # O2: how to log in to the mail server: `password` (YOTQA_SMTP_USER and YOTQA_SMTP_PASSWORD,
    # when a user is set), `xoauth2` (an OAuth 2.0 app token, as Microsoft 365 wants; always over
    # STARTTLS unless the server is on this machine) or `none`.
    smtp_auth: Literal["password", "xoauth2", "none"] = "password"
    smtp_oauth_tenant: str = ""
    # Empty: Microsoft's v2.0 token endpoint for the tenant.
    smtp_oauth_token_url: str = ""
    smtp_oauth_client_id: str = ""
    smtp_oauth_client_secret: str = Field(default="", repr=False)
    smtp_oauth_scope: str = "https://outlook.office365.com/.default"
    mail_from: str = "yotqa@localhost"
    # The admins' Prefect UI, for the links in alerts (O1); empty: the one PREFECT_API_URL names.
    prefect_ui_url: str = ""
    # L1: the people's pages. Emails link to `web_url`; links are signed with `web_secret` (or a
    # key generated once under output_dir) and die `web_link_days` after their item's deadline.
    web_url: str = "http://127.0.0.1:8400"
    web_secret: str = Field(default="", repr=False)
    web_link_days: int = Field(default=30, ge=1, le=366)
    # Failed link or form checks from one address within 10 minutes before it is refused (429).
    web_failed_checks: int = Field(default=20, ge=1)
    # E2: reminders this many working days before a deadline; escalation this many working days after.
    chase_reminder_days: list[int] = [5, 1]
    chase_escalate_after: int = Field(default=5, ge=1)
    # E4: a standard judged insufficient in at least `share` of its last `window` judgements in a
    # team (and at least `minimum` judgements seen) is reported at once.
    difficulty_window: int = Field(default=6, ge=2)
    difficulty_share: float = Field(default=0.5, gt=0, le=1)
    difficulty_minimum: int = Field(default=4, ge=1)
    # A5: each month this share of the last month's completed audits is re-marked blind by the
    # moderator (this address, else the QA manager), and every auditor at least once a quarter.
    moderation_share: float = Field(default=0.10, gt=0, le=1)
    moderator_email: str = ""
    # A1: an audit whose action points were all done within this many months is re-audited.
    reaudit_months: int = Field(default=3, ge=1, le=12)
    # A4: the themes support and training needs are recorded under (a list the service edits).
    support_needs_file: Path = DATA_DIR / "support_needs.yaml"
    # H1: the kinds of audit done with the inspection-style tool (court or out-of-court set by the
    # case's disposal) instead of the 2012 case audit tool: any of case_file, supervision_file,
    # peer, self (comma-separated; a themed sample's tool is its theme's). Empty: the 2012 tool.
    inspection_tool_kinds: Annotated[list[str], NoDecode] = []
    # H4: a case manager whose last `risk_adaptive_audits` completed audits found more than
    # `risk_adaptive_share` of their judgements insufficient has one more case sampled a month
    # (within the team manager's quota, after S6's share). A share of 1 turns it off.
    risk_adaptive_audits: int = Field(default=3, ge=1, le=24)
    risk_adaptive_share: float = Field(default=0.3, gt=0, le=1)
    # H2, H3: the rating bands and the mock inspection's sizes.
    inspection_file: Path = DATA_DIR / "inspection.yaml"
    # Q2: the quarterly pack goes to the service manager and to this list (comma-separated).
    service_name: str = Field(default="Youth Offending Team", max_length=120)
    board_emails: Annotated[list[str], NoDecode] = []
    # O1: the admins told when a timetable run fails, crashes or has not started
    # `alert_late_minutes` after its time (checked every `alert_check_seconds`), and told again
    # when a later run of the same job and period succeeds. Empty: no alerts.
    admin_emails: Annotated[list[str], NoDecode] = []
    alert_late_minutes: float = Field(default=30, gt=0)
    alert_check_seconds: float = Field(default=60, gt=0)

    @field_validator("board_emails", "admin_emails", mode="before")
    @classmethod
    def _addresses(cls, value: object) -> object:
        if isinstance(value, str):
            value = [a.strip() for a in value.split(",") if a.strip()]
        if isinstance(value, list):
            bad = [a for a in value if not isinstance(a, str) or "@" not in a]
            if bad:
                raise ValueError(f"not email addresses: {', '.join(map(str, bad))}")
            return [a.strip().lower() for a in value]
        return value

    @field_validator("inspection_tool_kinds", mode="before")
    @classmethod
    def _tool_kinds(cls, value: object) -> object:
        if isinstance(value, str):
            value = [k.strip().lower() for k in value.split(",") if k.strip()]
        if isinstance(value, list):
            bad = [k for k in value if k not in INSPECTION_TOOL_KINDS]
            if bad:
                raise ValueError(
                    f"unknown kinds of audit {', '.join(map(str, bad))}: "
                    f"expected any of {', '.join(INSPECTION_TOOL_KINDS)}"
                )
        return value

    @field_validator(
        "output_dir", "timetable_file", "question_sets_dir", "support_needs_file", "inspection_file"
    )
    @classmethod
    def _from_root(cls, value: Path) -> Path:
        return value if value.is_absolute() else REPO_ROOT / value

    @model_validator(mode="after")
    def _xoauth2_complete(self) -> Settings:
        """O2: XOAUTH2 without the app registration's values could only fail at every send."""
        if self.smtp_auth != "xoauth2":
            return self
        missing = [
            name
            for name, value in (
                ("YOTQA_SMTP_OAUTH_CLIENT_ID", self.smtp_oauth_client_id),
                ("YOTQA_SMTP_OAUTH_CLIENT_SECRET", self.smtp_oauth_client_secret),
                (
                    "YOTQA_SMTP_OAUTH_TENANT (or YOTQA_SMTP_OAUTH_TOKEN_URL)",
                    self.smtp_oauth_tenant or self.smtp_oauth_token_url,
                ),
            )
            if not value.strip()
        ]
        if missing:
            raise ValueError(
                f"YOTQA_SMTP_AUTH=xoauth2 needs {', '.join(missing)}: the app registration's "
                "values from the council's IT (README, Microsoft 365)"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{self.output_dir / 'yotqa.db'}"


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given without a driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class FileSettings(Settings):
    """A service's settings from its env file alone: YOTQA_* variables in the environment are
    ignored, so a worker's own settings can never send one service's run to another's data."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, dotenv_settings


ENV_FILE_VARIABLE = "YOTQA_ENV_FILE"


@lru_cache
def get_settings() -> Settings:
    """The settings, or a ConfigError naming each bad variable and what it should hold.

    With YOTQA_ENV_FILE set (a service's runs on a shared work pool carry it), that file alone
    is read instead of the environment and REPO_ROOT/.env."""
    env_file = os.environ.get(ENV_FILE_VARIABLE, "")
    where = "the environment or .env"
    try:
        if not env_file:
            return Settings()
        path = Path(env_file)
        if not path.is_file():
            raise ConfigError(
                f"{ENV_FILE_VARIABLE}={env_file!r}: no such file; it names the service's "
                "settings file (`yotqa deploy --env-file`): create it there, or deploy the "
                "service again with the file's new path"
            )
        where = str(path)
        return FileSettings(_env_file=path)
    except ValidationError as exc:
        problems = "; ".join(
            f"YOTQA_{'_'.join(str(p) for p in e['loc']).upper()}={e.get('input')!r}: {e['msg']}"
            if e["loc"]
            else str(e["msg"]).removeprefix("Value error, ")  # a check of several settings
            for e in exc.errors()
        )
        raise ConfigError(f"bad setting in {where}: {problems}") from None
