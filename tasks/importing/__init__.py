"""Importers for the files of SPEC §7: staff, cases and feedback, from CSV or XLSX."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlmodel import Session

from models.enums import ImportKind
from tasks.importing.cases import CASE_COLUMNS, case_manager_on, import_cases
from tasks.importing.common import ImportReport
from tasks.importing.feedback import FEEDBACK_COLUMNS, import_feedback
from tasks.importing.reader import PLAIN, Layout
from tasks.importing.staff import STAFF_COLUMNS, import_staff

IMPORTERS: dict[ImportKind, Callable[..., ImportReport]] = {
    ImportKind.STAFF: import_staff,
    ImportKind.CASES: import_cases,
    ImportKind.FEEDBACK: import_feedback,
}
COLUMNS = {
    ImportKind.STAFF: STAFF_COLUMNS,
    ImportKind.CASES: CASE_COLUMNS,
    ImportKind.FEEDBACK: FEEDBACK_COLUMNS,
}


def import_file(
    session: Session, kind: ImportKind, path: Path, *, as_of: date, layout: Layout = PLAIN
) -> ImportReport:
    """Import one file of `kind`, laid out as an import profile says (O3) or as ours; raises
    InputFileError listing every bad cell, writing nothing."""
    return IMPORTERS[kind](session, path, as_of=as_of, layout=layout)


__all__ = ["COLUMNS", "ImportReport", "Layout", "case_manager_on", "import_file"]
