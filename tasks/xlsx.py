"""Spreadsheets the product writes: bold headers, frozen first row, sensible widths, no formulas."""

from __future__ import annotations

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

_FORMULA_START = ("=", "+", "-", "@")


def safe_cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula is written as text (CSV/formula injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def first_sheet(book: Workbook, title: str) -> Worksheet:
    """A new workbook's one worksheet, given its title (openpyxl types `active` loosely)."""
    sheet = book.active
    if not isinstance(sheet, Worksheet):
        raise TypeError(f"the workbook's active sheet is {type(sheet).__name__}, not a worksheet")
    sheet.title = title
    return sheet


def write_table(sheet: Worksheet, header: list[str], rows: list[list[object]]) -> None:
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([safe_cell(v) for v in row])
    sheet.freeze_panes = "A2"
    for i, title in enumerate(header, start=1):
        width = max([len(title)] + [len(str(r[i - 1])) for r in rows[:500]])
        sheet.column_dimensions[get_column_letter(i)].width = min(60, width + 2)
