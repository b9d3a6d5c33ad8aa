"""Streams rows out of a CSV or XLSX file, whatever the file turns out to be, laid out as an
import profile says (O3): title rows above the header, the source system's own headers and values."""

from __future__ import annotations

import codecs
import csv
import re
import zipfile
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from models.errors import CellError, InputFileError

_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0"
_CHUNK = 1 << 20
# A single enormous cell is a broken file, not data: the csv module's limit, stated.
MAX_FIELD_CHARS = 100_000
# A row of a sheet: its number as a spreadsheet counts rows, and its cells, or why it cannot be read.
Row = tuple[int, list[Any] | str]
Sheet = Generator[Row, None, None]
_FIELD_NAME = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")  # opened_on, date_of_birth: never prose


def _file_error(name: str, message: str) -> InputFileError:
    """An error about the whole file rather than one cell."""
    return InputFileError(name, [CellError(name, None, None, message)])


def in_file_order(errors: list[CellError], columns: list[str]) -> list[CellError]:
    """Errors by row, then by the column's place in the file, as a person reads the sheet."""
    place = {c: i for i, c in enumerate(columns)}
    return sorted(errors, key=lambda e: (e.row or 0, place.get(e.column or "", -1)))


def normalise_header(name: object) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name or "").strip().lower()).strip("_")


def cell_text(value: Any) -> str:
    """A cell as text: numbers from spreadsheets lose a trailing .0, None is empty."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value).strip()


def value_key(text: str) -> str:
    """A source system's value as a profile's `values` match it: case and spacing ignored."""
    return " ".join(text.split()).casefold()


@dataclass(frozen=True)
class Layout:
    """Where our fields are in a source system's extract: an import profile, as the reader uses it."""

    source: str = ""  # the profile's file name, for messages
    # our field: their header(s), joined by a space when more than one
    columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # our field: {value_key(their value): ours}
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    date_format: str | None = None
    skip_rows: int = 0

    def wanted(self, name: str) -> tuple[str, ...]:
        """The header(s) a field is looked for under: the profile's, else its own name."""
        return self.columns.get(name) or (name,)


PLAIN = Layout()


@dataclass(frozen=True)
class Placed:
    """Where each field is in a header row: its cells, the file's name for it, or what was missing."""

    at: dict[str, tuple[int, ...]]
    labels: dict[str, str]
    missing: dict[str, str]


def place_columns(
    header: Sequence[object], fields: Iterable[str], layout: Layout = PLAIN
) -> Placed:
    """Find each field's column(s) by header, ignoring case, spaces and punctuation."""
    first: dict[str, int] = {}
    for i, h in enumerate(header):
        first.setdefault(normalise_header(h), i)
    at: dict[str, tuple[int, ...]] = {}
    labels: dict[str, str] = {}
    missing: dict[str, str] = {}
    for name in fields:
        wanted = layout.wanted(name)
        found = [first.get(normalise_header(w)) for w in wanted]
        if any(i is None or not normalise_header(w) for i, w in zip(found, wanted, strict=True)):
            missing[name] = " + ".join(wanted)
            continue
        at[name] = tuple(i for i in found if i is not None)
        labels[name] = " + ".join(str(header[i]).strip() for i in at[name])
    return Placed(at, labels, missing)


@dataclass
class Table:
    """An open file: its display name, its columns and a row iterator."""

    name: str
    columns: list[str]
    rows: Iterator[tuple[int, dict[str, Any]]]
    labels: dict[str, str] = field(default_factory=dict)  # field: the column as the file names it
    order: list[str] = field(default_factory=list)  # those names, in the file's order
    date_format: str | None = None

    def refused(self, errors: list[CellError]) -> InputFileError:
        """The refusal of the whole file: every error in file order, in the file's own headers
        (a message naming another of our fields, such as opened_on, names it as the file does)."""
        named = [
            replace(
                e,
                column=self.labels.get(e.column or "", e.column),
                message=_FIELD_NAME.sub(lambda m: self.labels.get(m[0], m[0]), e.message),
            )
            for e in errors
        ]
        return InputFileError(self.name, in_file_order(named, self.order))


def open_table(path: Path, required: list[str], layout: Layout = PLAIN) -> Table:
    """Check the file's kind and header; rows come as (spreadsheet row number, {column: value}),
    the layout's fields keyed by our names and with our values."""
    name = path.name
    sheet, is_csv = _open_sheet(path, required, header_line=layout.skip_rows)
    try:
        header = _header(name, sheet, layout.skip_rows + 1)
        # A spreadsheet's blank cells right of the header are not columns; a CSV's trailing
        # delimiters are its width, which every row is held to.
        while header and not is_csv and cell_text(header[-1]) == "":
            header.pop()
        placed = place_columns(header, required, layout)
        _check_header(name, layout.skip_rows + 1, header, required, placed, layout)
    except InputFileError:
        sheet.close()
        raise
    columns = [normalise_header(h) for h in header]
    rows = _records(sheet, columns, placed, layout, width=len(header) if is_csv else None)
    order = [placed.labels[f] for f in sorted(placed.at, key=lambda f: placed.at[f])]
    return Table(name, columns, rows, placed.labels, order, layout.date_format)


def _header(name: str, sheet: Sheet, row: int) -> list[Any]:
    """The header row's cells, the title rows above it passed over."""
    header: list[Any] | str | None = None
    for number, cells in sheet:
        if number == row:
            header = cells
            break
    if header is None or isinstance(header, str):
        why = header or "the file ends before it"
        raise InputFileError(
            name, [CellError(name, row, None, f"cannot read the header row: {why}")]
        )
    return header


def _check_header(
    name: str, row: int, header: list[Any], required: list[str], placed: Placed, layout: Layout
) -> None:
    normalised = [normalise_header(h) for h in header]
    errors = []
    for at in placed.at.values():
        for i in at:
            if normalised.count(normalised[i]) > 1:
                text = str(header[i]).strip()
                errors.append(CellError(name, row, text, "this column appears twice in the header"))
    for field_name, wanted in placed.missing.items():
        why = "required column is missing from the header"
        if field_name in layout.columns:
            why += f" (the profile {layout.source} names it for {field_name})"
        errors.append(CellError(name, row, wanted, why))
    if errors:
        hint = ""
        if placed.missing:
            expected = [placed.labels.get(f) or placed.missing[f] for f in required]
            hint = "; the header must include: " + ", ".join(expected)
        raise InputFileError(name, list(dict.fromkeys(errors)), what=f"nothing was imported{hint}")


def _records(
    sheet: Sheet, columns: list[str], placed: Placed, layout: Layout, width: int | None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each row that is not blank as {column: value}; a profile's fields under our names."""
    mapped = {f: at for f, at in placed.at.items() if f in layout.columns}
    for number, cells in sheet:
        if isinstance(cells, str):
            yield number, {"__error__": cells}
            continue
        if all(cell_text(v) == "" for v in cells):
            continue
        record = {c: cells[i] if i < len(cells) else None for i, c in enumerate(columns) if c}
        if width is not None and len(cells) > width:
            record["__error__"] = (
                f"this row has {len(cells)} fields but the header has {width}: "
                "a value probably holds an unquoted delimiter"
            )
        for f, at in mapped.items():
            parts = [cells[i] if i < len(cells) else None for i in at]
            record[f] = (
                parts[0] if len(parts) == 1 else " ".join(filter(None, map(cell_text, parts)))
            )
        for f, ours in layout.values.items():
            if f in record and (value := ours.get(value_key(cell_text(record[f])))) is not None:
                record[f] = value
        yield number, record


def _open_sheet(path: Path, required: list[str], header_line: int = 0) -> tuple[Sheet, bool]:
    """Every row of the file, blank or not, numbered from 1, and whether it is CSV; a CSV's
    delimiter is the one its header line (`header_line` lines down) uses most."""
    name = path.name
    if not path.is_file():
        raise _file_error(name, f"no such file: {path}")
    with path.open("rb") as fh:
        head = fh.read(8192)
    if head.startswith(_XLSX_MAGIC):
        return _xlsx_rows(path, name), False
    if head.startswith(_XLS_MAGIC):
        raise _file_error(
            name,
            "this is an old-style Excel .xls file: save it as .xlsx or as CSV UTF-8 and import that",
        )
    if b"\x00" in head or not head.strip():
        what = "it is empty" if not head.strip() else "it holds binary data"
        raise _file_error(
            name, f"not a CSV or XLSX file ({what}): expected a header row of {', '.join(required)}"
        )
    return _csv_rows(path, header_line), True


def first_rows(path: Path, limit: int) -> list[Row]:
    """The first `limit` rows of a file, to look at before importing it (a CSV's delimiter
    taken from them all, as where the header is is not known yet)."""
    sheet, is_csv = _open_sheet(path, ["a header row"])
    if is_csv:
        sheet.close()
        sheet = _csv_rows(path, None, limit)
    try:
        return list(islice(sheet, limit))
    finally:
        sheet.close()


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


def _delimiter(lines: Iterable[str]) -> str:
    """The delimiter of , ; and tab that these lines use most."""
    lines = list(lines) or [""]
    return max(",;\t", key=lambda d: max(line.count(d) for line in lines))


def _csv_rows(path: Path, header_line: int | None, lines_to_scan: int = 1) -> Sheet:
    """Rows of a CSV file; its delimiter from line `header_line`, or from the first lines."""
    encoding = _encoding(path)
    with path.open(encoding=encoding, errors="replace", newline="") as fh:
        lines = [fh.readline() for _ in range((header_line or 0) + lines_to_scan)]
    delimiter = _delimiter(lines[-1:] if header_line is not None else lines)
    csv.field_size_limit(MAX_FIELD_CHARS)
    with path.open(encoding=encoding, errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        row_number = 0
        while True:
            row_number += 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield row_number, _csv_problem(exc)
                continue
            yield row_number, list(values)


def _csv_problem(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return (
            f"a value is longer than {MAX_FIELD_CHARS:,} characters: this is not a caseload value"
        )
    return f"this row cannot be read as CSV ({text})"


def _xlsx_rows(path: Path, name: str) -> Sheet:
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

    def rows() -> Sheet:
        try:
            for number, raw in enumerate(workbook.worksheets[0].iter_rows(values_only=True), 1):
                yield number, list(raw or ())
        finally:
            workbook.close()
            handle.close()

    return rows()
