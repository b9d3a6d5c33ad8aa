"""Streams rows out of a CSV or XLSX file, whatever the file turns out to be."""

from __future__ import annotations

import codecs
import csv
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.errors import CellError, InputFileError

_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0"
_CHUNK = 1 << 20
# A single enormous cell is a broken file, not data: the csv module's limit, stated.
MAX_FIELD_CHARS = 100_000


def _file_error(name: str, message: str) -> InputFileError:
    """An error about the whole file rather than one cell."""
    return InputFileError(name, [CellError(name, None, None, message)])


def in_file_order(errors: list[CellError], columns: list[str]) -> list[CellError]:
    """Errors by row, then by the column's place in the file, as a person reads the sheet."""
    place = {c: i for i, c in enumerate(columns)}
    return sorted(errors, key=lambda e: (e.row or 0, place.get(e.column or "", -1)))


def normalise_header(name: object) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name or "").strip().lower()).strip("_")


@dataclass
class Table:
    """An open file: its display name, its columns and a row iterator."""

    name: str
    columns: list[str]
    rows: Iterator[tuple[int, dict[str, Any]]]


def open_table(path: Path, required: list[str]) -> Table:
    """Check the file's kind and header; rows come as (spreadsheet row number, {column: value})."""
    name = path.name
    if not path.is_file():
        raise _file_error(name, f"no such file: {path}")
    with path.open("rb") as fh:
        head = fh.read(8192)
    if head.startswith(_XLSX_MAGIC):
        columns, rows = _open_xlsx(path, name)
    elif head.startswith(_XLS_MAGIC):
        raise _file_error(
            name,
            "this is an old-style Excel .xls file: save it as .xlsx or as CSV UTF-8 and import that",
        )
    elif b"\x00" in head or not head.strip():
        what = "it is empty" if not head.strip() else "it holds binary data"
        raise _file_error(
            name, f"not a CSV or XLSX file ({what}): expected a header row of {', '.join(required)}"
        )
    else:
        columns, rows = _open_csv(path, name)
    _check_header(name, columns, required)
    return Table(name, columns, rows)


def _check_header(name: str, columns: list[str], required: list[str]) -> None:
    errors = []
    seen: set[str] = set()
    for col in columns:
        if col and col in seen:
            errors.append(CellError(name, 1, col, "this column appears twice in the header"))
        seen.add(col)
    missing = [col for col in required if col not in seen]
    errors += [
        CellError(name, 1, col, "required column is missing from the header") for col in missing
    ]
    if errors:
        hint = f"; the header must include: {', '.join(required)}" if missing else ""
        raise InputFileError(name, errors, what=f"nothing was imported{hint}")


def _encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes as such, else Windows-1252."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as fh:
        try:
            while chunk := fh.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8-sig"


def _open_csv(path: Path, name: str) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    encoding = _encoding(path)
    with path.open(encoding=encoding, errors="replace", newline="") as fh:
        first = fh.readline()
    delimiter = max(",;\t", key=first.count)
    fh = path.open(encoding=encoding, errors="replace", newline="")
    csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.reader(fh, delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        fh.close()
        raise InputFileError(
            name, [CellError(name, 1, None, f"cannot read the header row: {exc}")]
        ) from None
    columns = [normalise_header(h) for h in header]

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        row_number = 1
        try:
            while True:
                row_number += 1
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield row_number, {"__error__": _csv_problem(exc)}
                    continue
                if not any(v.strip() for v in values):
                    continue
                record: dict[str, Any] = dict(zip(columns, values, strict=False))
                if len(values) > len(columns):
                    record["__error__"] = (
                        f"this row has {len(values)} fields but the header has {len(columns)}: "
                        "a value probably holds an unquoted delimiter"
                    )
                yield row_number, record
        finally:
            fh.close()

    return columns, rows()


def _csv_problem(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return (
            f"a value is longer than {MAX_FIELD_CHARS:,} characters: this is not a caseload value"
        )
    return f"this row cannot be read as CSV ({text})"


def _open_xlsx(path: Path, name: str) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    # Opened from a file object: the content decides, whatever the file's extension says.
    handle = path.open("rb")
    try:
        workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, InvalidFileException) as exc:
        handle.close()
        raise _file_error(
            name, f"not a readable XLSX workbook ({type(exc).__name__}): save it again from Excel"
        ) from None
    sheet = workbook.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    try:
        header = next(values)
    except StopIteration:
        workbook.close()
        handle.close()
        raise InputFileError(
            name, [CellError(name, 1, None, "the first sheet is empty: expected a header row")]
        ) from None
    columns = [normalise_header(h) for h in header]
    while columns and not columns[-1]:
        columns.pop()

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        try:
            for row_number, raw in enumerate(values, start=2):
                if raw is None or all(
                    v is None or (isinstance(v, str) and not v.strip()) for v in raw
                ):
                    continue
                record = {
                    col: raw[i] if i < len(raw) else None for i, col in enumerate(columns) if col
                }
                yield row_number, record
        finally:
            workbook.close()
            handle.close()

    return columns, rows()
