"""Import profiles (O3): how a case-management system's own extract maps onto our fields, read
from a YAML file and checked strictly; and a proposed profile for a file not yet mapped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from models.enums import (
    FeedbackSource,
    Gender,
    ImportKind,
    MappaLevel,
    OrderType,
    RiskLevel,
    Role,
    SocialCareStatus,
)
from models.errors import DataFileError, InputFileError
from models.settings import DATA_DIR
from tasks.ethnicity import census_name
from tasks.importing.cases import CASE_COLUMNS
from tasks.importing.feedback import FEEDBACK_COLUMNS
from tasks.importing.reader import (
    Layout,
    Placed,
    cell_text,
    first_rows,
    normalise_header,
    place_columns,
    value_key,
)
from tasks.importing.staff import STAFF_COLUMNS

PROFILES_DIR = DATA_DIR / "import_profiles"
FIELDS = {
    ImportKind.CASES: CASE_COLUMNS,
    ImportKind.STAFF: STAFF_COLUMNS,
    ImportKind.FEEDBACK: FEEDBACK_COLUMNS,
}
KNOWN_FIELDS = list(dict.fromkeys(f for fields in FIELDS.values() for f in fields))
KEYS = ("columns", "values", "date_format", "skip_rows")
MAX_SKIP_ROWS = 100
# The formats `inspect` tries on a date column, most likely first; ISO needs no date_format.
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%y", "%d %b %Y", "%d-%b-%Y")
_SAMPLE = date(2026, 11, 25)


def _ethnicity(value: str) -> str:
    name = census_name(value)
    if name is None:
        raise ValueError(value)
    return name


# The fields whose values the importer reads from a fixed list: a profile's `values` must map
# onto something it will accept.
VALUE_CHECKS: dict[str, Callable[[str], object]] = {
    "gender": Gender.parse,
    "ethnicity": _ethnicity,
    "order_type": OrderType.parse,
    "social_care_status": SocialCareStatus.parse,
    "rosh_level": RiskLevel.parse,
    "vulnerability_level": RiskLevel.parse,
    "mappa_level": MappaLevel.parse,
    "role": Role.parse,
    "source": FeedbackSource.parse,
}


def profile_path(spec: str) -> Path:
    """A profile given as NAME (models/data/import_profiles/NAME.yaml, NAME.yaml or NAME.yml
    naming it too) or as a PATH; a file of that name in the current folder wins."""
    given = Path(spec)
    if "/" in spec or "\\" in spec:
        return given
    named = spec.endswith((".yaml", ".yml"))
    shipped = PROFILES_DIR / f"{given.stem if named else spec}.yaml"
    if named and (given.is_file() or not shipped.is_file()):
        return given
    return shipped


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def load_profile(spec: str) -> Layout:
    """Read and check a profile; a DataFileError names the file and every key that is wrong."""
    path = profile_path(spec)
    if not path.is_file():
        raise DataFileError(
            f"no import profile {spec!r} (looked for {path}): give a profile's path, or one of "
            f"the names in {PROFILES_DIR}: {', '.join(profile_names()) or 'none'}"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise DataFileError(f"{path.name}: not valid YAML{line}: {_problem(exc)}") from None
    except UnicodeDecodeError:
        raise DataFileError(f"{path.name}: not a text file (save it as UTF-8)") from None
    return parse_profile(path.name, data)


def _problem(exc: yaml.YAMLError) -> str:
    return str(getattr(exc, "problem", None) or exc).strip()


def parse_profile(source: str, data: Any) -> Layout:
    """A profile's contents as a Layout, or a DataFileError listing each problem by key."""
    if not isinstance(data, dict):
        raise DataFileError(f"{source}: expected a mapping with the keys {', '.join(KEYS)}")
    problems = [
        f"unknown key {key!r}: expected {', '.join(KEYS)}" for key in data if key not in KEYS
    ]
    columns = _columns(data.get("columns") or {}, problems)
    values = _values(data.get("values") or {}, problems)
    date_format = _date_format(data.get("date_format"), problems)
    skip_rows = data.get("skip_rows", 0)
    if type(skip_rows) is not int or not 0 <= skip_rows <= MAX_SKIP_ROWS:
        problems.append(
            f"skip_rows: {skip_rows!r} is not a number of title rows from 0 to {MAX_SKIP_ROWS}"
        )
    if problems:
        raise DataFileError(f"{source}: " + "; ".join(problems))
    return Layout(source, columns, values, date_format, skip_rows)


def _field_problem(section: str, name: object) -> str | None:
    if name in KNOWN_FIELDS:
        return None
    return f"{section}.{name}: unknown field: expected one of {', '.join(KNOWN_FIELDS)}"


def _columns(raw: Any, problems: list[str]) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        problems.append("columns: expected a mapping of our field to their header(s)")
        return {}
    columns = {}
    for name, headers in raw.items():
        if problem := _field_problem("columns", name):
            problems.append(problem)
            continue
        wanted = headers if isinstance(headers, list) else [headers]
        if not wanted or not all(isinstance(h, str) and h.strip() for h in wanted):
            problems.append(f"columns.{name}: expected a header, or a list of headers")
            continue
        columns[str(name)] = tuple(h.strip() for h in wanted)
    return columns


def _values(raw: Any, problems: list[str]) -> dict[str, dict[str, str]]:
    if not isinstance(raw, dict):
        problems.append("values: expected a mapping of our field to {their value: ours}")
        return {}
    values: dict[str, dict[str, str]] = {}
    for name, table in raw.items():
        if problem := _field_problem("values", name):
            problems.append(problem)
            continue
        if not isinstance(table, dict):
            problems.append(f"values.{name}: expected a mapping of their value to ours")
            continue
        values[str(name)] = {}
        for theirs, ours in table.items():
            # YAML reads Yes, No, On, Off as true/false and 01 as 1: a cell never holds those.
            if unquoted := [v for v in (theirs, ours) if isinstance(v, bool | int | float)]:
                problems.append(
                    f"values.{name}: {unquoted[0]!r} was read as a "
                    f"{'yes/no' if isinstance(unquoted[0], bool) else 'number'}, not as text: "
                    f'put it in quotes (e.g. "Yes": ..., "01": ...)'
                )
                continue
            ours_text = cell_text(ours)
            check = VALUE_CHECKS.get(str(name))
            try:
                if check and ours_text:
                    check(ours_text)
            except ValueError:
                problems.append(
                    f"values.{name}.{theirs}: {ours_text!r} is not a value the importer accepts "
                    f"for {name}"
                )
            values[str(name)][value_key(cell_text(theirs))] = ours_text
    return values


def _date_format(raw: Any, problems: list[str]) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, str) and _reads_back(raw):
        return raw
    problems.append(
        f"date_format: {raw!r} is not a strptime format of a whole date, e.g. '%d/%m/%Y'"
    )
    return None


def _reads_back(form: str) -> bool:
    """Whether `form` writes a date it can read back whole (day, month and year)."""
    try:
        return datetime.strptime(_SAMPLE.strftime(form), form).date() == _SAMPLE  # noqa: DTZ007
    except ValueError:
        return False


@dataclass(frozen=True)
class Inspection:
    """What `yotqa import inspect` found in a file, and the profile it proposes."""

    file: str
    kind: ImportKind
    header_row: int
    headers: list[str]
    placed: dict[str, str | list[str]]  # our field: their header (or headers, joined)
    unplaced: list[str]
    unused: list[str]
    date_format: str | None
    unknown_values: dict[str, list[str]]  # our field: values in the sample it would refuse
    # Other kinds whose fields the header fits about as well (the guess is uncertain): kind,
    # how many of its fields are placed.
    close_kinds: dict[ImportKind, int] = field(default_factory=dict)


def inspect_file(path: Path, kind: ImportKind | None = None, scan: int = 10) -> Inspection:
    """Find the header row (the one of the first `scan` rows naming most of our fields), place
    our fields by header as the importer does, and look at the rows below it. The kind, unless
    given, is the one whose own fields the header row covers the largest share of."""
    if not path.is_file():
        raise DataFileError(
            f"{path.name}: no such file ({path.absolute()}): check the file's name and folder, "
            "or give its full path"
        )
    try:
        sample = first_rows(path, scan + 50)
    except InputFileError as exc:  # inspect imports nothing: it could not read the file
        raise InputFileError(exc.file, exc.errors, "it could not be inspected") from None
    rows = dict((n, cells) for n, cells in sample if isinstance(cells, list))
    kinds = [kind] if kind else [ImportKind.CASES, ImportKind.STAFF, ImportKind.FEEDBACK]
    shipped = _shipped_columns()
    counts = {
        (n, k): len(_placed(cells, k, shipped).at)
        for n, cells in rows.items()
        if n <= scan
        for k in kinds
    }
    best = max(
        ((c, sum(map(bool, map(cell_text, rows[n]))), -n) for (n, _), c in counts.items()),
        default=None,
    )
    if best is None or best[0] == 0:
        # Never a data row shown as headers (it would print young people's names, E5).
        raise DataFileError(
            f"{path.name}: none of the first {scan} rows names any of our fields, nor a header "
            f"the profiles in {PROFILES_DIR.name}/ use: write its profile by hand (README, "
            "'Import profiles'), naming the headers of the file's header row"
        )
    number, header = -best[2], rows[-best[2]]
    # The largest share of a kind's own fields (a tie: the first of `kinds`); another kind with
    # at least half that share is close, and the guess uncertain.
    fits = sorted(
        ((counts[number, k] / len(FIELDS[k]), counts[number, k], k) for k in kinds),
        key=lambda f: f[:2],
        reverse=True,  # stable: equal fits keep the order of `kinds`
    )
    (share, _, chosen), others = fits[0], fits[1:]
    close = {k: count for s, count, k in others if count and s * 2 >= share}
    placed = _placed(header, chosen, shipped)
    labels: dict[str, str | list[str]] = {
        f: [str(header[i]).strip() for i in at] if len(at) > 1 else str(header[at[0]]).strip()
        for f, at in placed.at.items()
    }
    below = [cells for n, cells in rows.items() if n > number]
    column = {
        f: [c[at[0]] if at[0] < len(c) else None for c in below]
        for f, at in placed.at.items()
        if len(at) == 1
    }
    headers = [str(h).strip() for h in header if cell_text(h)]
    used = {i for at in placed.at.values() for i in at}
    return Inspection(
        file=path.name,
        kind=chosen,
        header_row=number,
        headers=headers,
        placed=labels,
        unplaced=list(placed.missing),
        unused=[str(h).strip() for i, h in enumerate(header) if cell_text(h) and i not in used],
        date_format=_guess_date_format(
            [c[i] if i < len(c) else None for c in below] for i in range(len(header))
        ),
        unknown_values=_unknown_values(column),
        close_kinds=close,
    )


def _shipped_columns() -> list[Mapping[str, tuple[str, ...]]]:
    """The `columns` of every profile in the profiles folder (one that does not load is passed
    over: it is its own import's business, not inspect's)."""
    found = []
    for name in profile_names():
        try:
            found.append(load_profile(name).columns)
        except DataFileError:
            continue
    return found


def _placed(
    header: list[Any], kind: ImportKind, shipped: list[Mapping[str, tuple[str, ...]]]
) -> Placed:
    """Our fields in a header row: by their own names, then fields still missing by the headers
    a shipped profile gives them (`Case Number`, [Forename, Surname]), where the row has them all."""
    placed = place_columns(header, FIELDS[kind])
    free = {normalise_header(h) for h in header if cell_text(h)} - {
        normalise_header(header[i]) for at in placed.at.values() for i in at
    }
    known: dict[str, tuple[str, ...]] = {}
    for columns in shipped:
        for field_name in set(placed.missing) - set(known):
            wanted = columns.get(field_name, ())
            keys = {normalise_header(w) for w in wanted}
            if wanted and keys <= free:
                known[field_name] = wanted
                free -= keys
    return place_columns(header, FIELDS[kind], Layout(columns=known)) if known else placed


def _guess_date_format(columns: Iterable[list[Any]]) -> str | None:
    """The format most of the file's date columns are written in: for each column of text
    cells, the first of DATE_FORMATS that reads them all (None when that is ISO, or none is)."""
    found = Counter(form for cells in columns if (form := _date_format_of(cells)))
    best = found.most_common(1)[0][0] if found else None
    return None if best == DATE_FORMATS[0] else best


def _date_format_of(cells: list[Any]) -> str | None:
    texts = [c.strip() for c in cells if isinstance(c, str) and c.strip()]
    for form in DATE_FORMATS if texts else ():
        try:
            for text in texts:
                datetime.strptime(text, form)  # noqa: DTZ007 (a date)
        except ValueError:
            continue
        return form
    return None


def _unknown_values(column: dict[str, list[Any]]) -> dict[str, list[str]]:
    unknown: dict[str, list[str]] = {}
    for name, check in VALUE_CHECKS.items():
        for text in dict.fromkeys(cell_text(v) for v in column.get(name, [])):
            try:
                if text:
                    check(text)
            except ValueError:
                unknown.setdefault(name, []).append(text)
    return unknown


def proposal_yaml(found: Inspection) -> str:
    """The proposed profile as YAML a person can save and edit; what is unknown, as comments."""
    where = PROFILES_DIR.relative_to(PROFILES_DIR.parents[2])
    lines = [
        f"# Import profile proposed by `yotqa import inspect` for {found.file} ({found.kind.value}).",
        *_kind_doubt(found),
        f"# Headers found on row {found.header_row}: {', '.join(found.headers) or 'none'}",
        f"# Fields not placed: {', '.join(found.unplaced) or 'none'}",
        f"# Complete it and save it as {where}/NAME.yaml (then --profile NAME), or anywhere",
        "# (then --profile PATH). The format: README, 'Import profiles'.",
        "columns:" if found.placed or found.unplaced else "columns: {}",
        *_indented(found.placed),
    ]
    if found.unplaced:
        lines += [
            "  # Give each field below the header that holds it (a list: joined by a space),",
            f"  # from the headers not used: {', '.join(found.unused) or 'none'}",
            *[f"  # {name}: ?" for name in found.unplaced],
        ]
    if found.unknown_values:
        # Commented out whole: a field with no values under it would not load.
        lines.append("values:  # values seen that the importer would refuse: map each to ours")
        lines.append("  # (uncomment the field and each value you map)")
        for name, seen in found.unknown_values.items():
            lines += [f"  # {name}:", *[f"    # {_scalar(v)}: ?" for v in seen]]
    if found.date_format:
        lines.append(f"date_format: {_scalar(found.date_format)}")
    if found.header_row > 1:
        lines.append(f"skip_rows: {found.header_row - 1}  # title rows above the header")
    return "\n".join(lines) + "\n"


def _kind_doubt(found: Inspection) -> list[str]:
    if not found.close_kinds:
        return []
    fit = ", ".join(f"{k.value} ({n} of {len(FIELDS[k])})" for k, n in found.close_kinds.items())
    other = next(iter(found.close_kinds)).value
    return [
        f"# The kind is a guess: the headers fit {found.kind.value} ({len(found.placed)} of its "
        f"{len(FIELDS[found.kind])} fields) and {fit} about as well.",
        f"# If it holds {other}, inspect it again with `--kind {other}`.",
    ]


def _indented(mapping: dict[str, str | list[str]]) -> list[str]:
    """One field a line (block style), so a commented field below can be uncommented; a list of
    headers stays on its line, `[Forename, Surname]`."""
    return [
        f"  {_scalar(name)}: "
        + (
            _scalar(headers)
            if isinstance(headers, str)
            else yaml.safe_dump(
                headers, allow_unicode=True, width=1000, default_flow_style=True
            ).strip()
        )
        for name, headers in mapping.items()
    ]


def _scalar(value: str) -> str:
    return yaml.safe_dump(value, allow_unicode=True, width=1000).splitlines()[0]
