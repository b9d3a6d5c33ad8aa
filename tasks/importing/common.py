"""What every importer shares: the report, the file's checksum, the import record."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlmodel import Session

from models import ImportRun
from models.enums import ImportKind


@dataclass
class ImportReport:
    kind: ImportKind
    file: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    closed: int = 0
    reallocated: int = 0

    def summary(self) -> str:
        parts = [
            f"{self.rows} rows",
            f"{self.created} new",
            f"{self.updated} updated",
            f"{self.unchanged} unchanged",
        ]
        if self.kind is ImportKind.CASES:
            parts += [f"{self.closed} closed", f"{self.reallocated} moved to another case manager"]
        return f"Imported {self.kind.value} from {self.file}: " + ", ".join(parts)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def record_import(session: Session, report: ImportReport, path: Path, as_of: date) -> None:
    session.add(
        ImportRun(
            kind=report.kind,
            file_name=path.name,
            sha256=sha256_of(path),
            as_of=as_of,
            rows=report.rows,
            created=report.created,
            updated=report.updated,
            closed=report.closed,
            reallocated=report.reallocated,
        )
    )
