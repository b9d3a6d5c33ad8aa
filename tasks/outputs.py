"""Where every file the product writes goes: one name for each, under the output folder
(YOTQA_OUTPUT_DIR, default var/). Nothing else builds an output path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from models.settings import get_settings


@dataclass(frozen=True)
class PackPaths:
    """A pack's forms (Q4, O4): the tagged PDF, the same pack as HTML, the same data as XLSX,
    and the markdown summary."""

    pdf: Path
    xlsx: Path
    md: Path
    html: Path

    @classmethod
    def of(cls, folder: Path, stem: str) -> PackPaths:
        return cls(
            folder / f"{stem}.pdf",
            folder / f"{stem}.xlsx",
            folder / f"{stem}.md",
            folder / f"{stem}.html",
        )


@dataclass(frozen=True)
class Outputs:
    root: Path

    @classmethod
    def configured(cls) -> Outputs:
        return cls(get_settings().output_dir)

    # Folders an admin is pointed at.
    @property
    def outbox(self) -> Path:
        """Emails written as .eml files when no SMTP host is set."""
        return self.root / "outbox"

    @property
    def packs(self) -> Path:
        return self.root / "packs"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def alerts(self) -> Path:
        """Alerts to the admins (O1) written as .eml files when no SMTP host is set."""
        return self.outbox / "alerts"

    @property
    def alerts_log(self) -> Path:
        """What the alert watcher beside `yotqa serve` did."""
        return self.root / "alerts.log"

    @property
    def examples(self) -> Path:
        """One example of every email (`yotqa outbox examples`)."""
        return self.root / "examples"

    @property
    def demo(self) -> Path:
        """The demo service's import files."""
        return self.root / "demo"

    @property
    def simulated(self) -> Path:
        """Feedback extracts made by simulated people."""
        return self.root / "simulated"

    # Files.
    def email(self, message_id: int, kind: str) -> Path:
        return self.outbox / f"{message_id:06d}-{kind}.eml"

    def audit_form(self, audit_id: int) -> Path:
        return self.root / "forms" / f"audit-{audit_id}.xlsx"

    def selections(self, period: str | None = None) -> Path:
        """S12: the record of the cases selected in `period` (a month), or in every period."""
        return self.exports / f"selections-{period or 'all'}.xlsx"

    def case_level_data(self, period: str) -> Path:
        return self.reports / period / f"case-level-data-{period}.xlsx"

    def exceptions(self, period: str) -> Path:
        return self.reports / period / f"exceptions-{period}.xlsx"

    def team_audits(self, period: str) -> Path:
        return self.reports / period / f"team-audits-{period}.xlsx"

    def feedback_report(self, period: str) -> Path:
        return self.reports / period / f"feedback-{period}.xlsx"

    def quarterly_pack(self, quarter: str) -> PackPaths:
        return PackPaths.of(self.packs / quarter, f"qa-pack-{quarter}")

    def annual_pack(self, year: int) -> PackPaths:
        return PackPaths.of(self.packs / str(year), f"annual-pack-{year}")

    def qa_year(self, year: int, on: date) -> Path:
        """T7: the last four quarters' figures for the staff QA forum."""
        return self.packs / str(year) / f"qa-year-{on:%Y-%m}.xlsx"

    def appraisal(self, year: int, manager_id: int, on: date) -> Path:
        """T12: one operational manager's case managers' QA figures."""
        return self.packs / str(year) / f"appraisal-qa-{manager_id}-{on:%Y-%m}.xlsx"

    def supervisee_summary(self, quarter: str, staff_id: int) -> Path:
        """A3: one case manager's quarterly summary (named by staff id, not name)."""
        return self.reports / "supervisee" / quarter / f"summary-{quarter}-{staff_id}.pdf"

    def needs_summary(self, quarter: str) -> Path:
        """A4: the quarter's support and training needs by theme and team, and those open, for
        the workforce development lead."""
        return self.reports / "needs" / quarter / f"support-needs-{quarter}.xlsx"

    def peer_report(self, period: str) -> Path:
        """T9R: the peer audit day's results and agreement."""
        return self.packs / f"peer-day-{period}" / f"peer-audit-day-{period}.xlsx"

    def prefect_file(self, service: str) -> Path:
        """A service's own prefect.yaml, beside its data (`yotqa deploy --service`)."""
        return self.root / f"prefect-{service}.yaml"

    @property
    def prefect_home(self) -> Path:
        return self.root / "prefect"

    @property
    def prefect_log(self) -> Path:
        return self.root / "prefect-server.log"

    @property
    def web_log(self) -> Path:
        return self.root / "web.log"
