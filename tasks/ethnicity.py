"""Ethnicity as the 2021 census names it (S5, O3): from a code or label to the detailed census
name a case stores, and from that name to its top-level group. The data: models/data/ethnicity.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from models.errors import DataFileError
from models.settings import DATA_DIR

ETHNICITY_FILE = DATA_DIR / "ethnicity.yaml"
NOT_KNOWN = "Not known"
_NOT_ALNUM = re.compile(r"[\W_]+")
_GROUP_AND_CATEGORY = re.compile(r"\s*:\s*|\s+-\s+")


@dataclass(frozen=True)
class Ethnicities:
    """Every accepted spelling (normalised) to its census name; each census name to its group."""

    names: dict[str, str]
    groups: dict[str, str]
    examples: tuple[str, ...]


def _key(text: str) -> str:
    return _NOT_ALNUM.sub("", text.casefold())


@cache
def ethnicities(path: Path = ETHNICITY_FILE) -> Ethnicities:
    """The ethnicity file, read once; a spelling claimed by two names is an error in the file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    names: dict[str, str] = {}
    groups: dict[str, str] = {}

    def claim(spelling: str, name: str) -> None:
        if names.setdefault(_key(spelling), name) != name:
            raise DataFileError(
                f"{path.name}: {spelling!r} names both {names[_key(spelling)]!r} and {name!r}"
            )

    for group in data["groups"]:
        groups[group["name"]] = group["name"]
        for spelling in [group["name"], *group.get("also", [])]:
            claim(spelling, group["name"])
        for category in group["categories"]:
            name = category["name"]
            groups[name] = group["name"]
            claim(name, name)
            for spelling in [*category.get("codes", []), *category.get("also", [])]:
                claim(spelling, name)
    # The part after the colon ("Irish") too, unless the file already gives it another meaning.
    for name in list(groups):
        if ":" in name:
            names.setdefault(_key(name.partition(":")[2]), name)
    examples = ("White: Irish", "WIRI", "Mixed or Multiple ethnic groups: White and Asian", "MWAS")
    return Ethnicities(names, groups, examples)


def census_name(raw: str) -> str | None:
    """The detailed census name for a code, census name or known label; None if unknown.

    "Group: Category" or "Group - Category" in another system's words (the 2011 census's
    "Asian/Asian British: Indian", an extract's "Mixed - White and Black Caribbean") is the
    category, when the group named is the category's own."""
    table = ethnicities()
    found = table.names.get(_key(raw))
    parts = _GROUP_AND_CATEGORY.split(raw.strip(), maxsplit=1)
    if found is None and len(parts) == 2:
        group, category = (table.names.get(_key(part)) for part in parts)
        if group and category and table.groups.get(group) == table.groups.get(category):
            found = category
    return found


def ethnic_group(stored: str) -> str:
    """S5: the top-level group of a stored ethnicity (an older free-text label, if known)."""
    return ethnicities().groups.get(census_name(stored) or stored, NOT_KNOWN)


def accepted() -> str:
    """What an ethnicity cell may hold, for an error message."""
    return (
        "a 2021 census ethnic group or a DfE code, e.g. "
        + ", ".join(repr(e) for e in ethnicities().examples)
        + " (the list: models/data/ethnicity.yaml)"
    )
