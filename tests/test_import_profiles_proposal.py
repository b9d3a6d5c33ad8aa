"""O3: the profile `yotqa import inspect` proposes, saved as it is or completed as its comments
say, loads and imports; its guess of the kind; `--profile` by a shipped profile's file name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from models.enums import ImportKind
from tasks.importing.cases import CASE_COLUMNS
from tasks.importing.profiles import PROFILES_DIR, inspect_file, load_profile, profile_path
from tests.factories import base_staff, case_row, write_csv
from tests.test_import_profiles import AS_OF, PROFILE, extract_rows, profile_file, write_extract


def _saved_proposal(cli, tmp_path: Path, extract: Path) -> Path:  # type: ignore[no-untyped-def]
    result = cli("import", "inspect", extract)
    assert result.exit_code == 0, result.stderr
    return profile_file(tmp_path, result.stdout, "proposed.yaml")


def _complete(path: Path, line: str, completed: str) -> None:
    """Replace a comment line of the proposal with a real one, as a person would."""
    text = path.read_text(encoding="utf-8")
    assert f"\n{line}\n" in text
    path.write_text(text.replace(f"\n{line}\n", f"\n{completed}\n"), encoding="utf-8")


def test_o3_a_proposal_of_single_headers_completed_as_its_comments_say_imports(
    cli, tmp_path: Path
) -> None:
    # Every field under its own name but the young person's name, under "Name": each placed
    # field has one header, which was dumped as one flow mapping `{case_ref: case_ref, ...}`.
    columns = ["Name" if c == "young_person_name" else c for c in CASE_COLUMNS]
    rows = [case_row(), case_row(case_ref="YJ26-00002", young_person_ref="YP2")]
    rows = [{**r, "Name": r["young_person_name"]} for r in rows]
    extract = write_csv(tmp_path / "extract.csv", rows, columns)
    saved = _saved_proposal(cli, tmp_path, extract)
    _complete(saved, "  # young_person_name: ?", "  young_person_name: Name")
    assert cli("import", "staff", write_csv(tmp_path / "staff.csv", base_staff())).exit_code == 0
    result = cli("import", "cases", extract, "--profile", saved, "--as-of", AS_OF)
    assert result.exit_code == 0, result.stderr
    assert "2 rows, 2 new" in result.stdout
    assert "\n  case_ref: case_ref\n" in saved.read_text(encoding="utf-8")  # one field a line


def test_o3_a_proposal_with_values_to_map_loads_unchanged_and_imports_once_mapped(
    cli, tmp_path: Path
) -> None:
    rows = extract_rows()
    rows[1]["order_type"] = "YRO (Intensive)"
    extract = write_csv(tmp_path / "extract.csv", rows)
    saved = _saved_proposal(cli, tmp_path, extract)
    assert load_profile(str(saved)).values == {}  # saved as it is, it loads
    assert cli("import", "staff", write_csv(tmp_path / "staff.csv", base_staff())).exit_code == 0
    # Imported as it is, the file's own values are refused, by row and column; not the profile.
    refused = cli("import", "cases", extract, "--profile", saved, "--as-of", AS_OF)
    assert refused.exit_code == 1
    assert "extract.csv: row 2, column 'order_type': 'Referral Order (Intensive)'" in refused.stderr
    assert "proposed.yaml" not in refused.stderr
    # Uncommented and mapped as the comments ask, it imports.
    _complete(saved, "  # order_type:", "  order_type:")
    _complete(
        saved,
        "    # Referral Order (Intensive): ?",
        "    Referral Order (Intensive): Referral Order",
    )
    _complete(saved, "    # YRO (Intensive): ?", "    YRO (Intensive): YRO")
    result = cli("import", "cases", extract, "--profile", saved, "--as-of", AS_OF)
    assert result.exit_code == 0, result.stderr
    assert "2 rows, 2 new" in result.stdout


@pytest.mark.parametrize(
    "header",
    [
        "Email Address,Full Name,Job Title,Team Name,Manager Email,Active",
        # Only "Team" placed: a sixth of staff's fields, an eighth of feedback's, less of cases'.
        "Work Email,Full Name,Job Title,Team,Manager Email,Status",
    ],
)
def test_o3_inspect_guesses_the_kind_by_the_share_of_its_fields_and_says_when_unsure(
    cli, tmp_path: Path, header: str
) -> None:
    path = tmp_path / "people.csv"
    path.write_text(f"{header}\nann@yot.example.org,Ann Case,YJ,North,,yes\n", encoding="utf-8")
    found = inspect_file(path)
    assert found.kind is ImportKind.STAFF
    text = cli("import", "inspect", path).stdout
    assert "for people.csv (staff)." in text
    if "Team Name" in header:  # nothing of another kind: no doubt
        assert found.close_kinds == {} and "guess" not in text
        return
    assert found.close_kinds == {ImportKind.FEEDBACK: 1}
    assert (
        "# The kind is a guess: the headers fit staff (1 of its 6 fields) and feedback (1 of 8) "
        "about as well.\n# If it holds feedback, inspect it again with `--kind feedback`.\n"
    ) in text
    yaml.safe_load(text)  # still a profile, the doubt a comment
    told = inspect_file(path, ImportKind.FEEDBACK)
    assert told.kind is ImportKind.FEEDBACK and told.close_kinds == {}


def test_o3_inspect_of_a_missing_file_says_so_and_not_that_nothing_was_imported(
    cli, tmp_path: Path
) -> None:
    result = cli("import", "inspect", tmp_path / "missing.csv")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: missing.csv: no such file ({tmp_path / 'missing.csv'}): check the file's name "
        "and folder, or give its full path"
    ]
    old = tmp_path / "old.xls"
    old.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 100)
    result = cli("import", "inspect", old)
    assert result.exit_code == 1 and "imported" not in result.stderr
    assert result.stderr.splitlines()[0].startswith("old.xls: this is an old-style Excel .xls")
    assert result.stderr.splitlines()[-1] == "1 error in old.xls; it could not be inspected"


def test_o3_a_shipped_profile_is_found_by_its_file_name_too(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shipped = PROFILES_DIR / "childview-example.yaml"
    for spec in ("childview-example", "childview-example.yaml", "childview-example.yml"):
        assert profile_path(spec) == shipped
    assert cli("import", "staff", write_csv(tmp_path / "staff.csv", base_staff())).exit_code == 0
    extract = write_extract(
        tmp_path / "cv.csv", load_profile("childview-example"), extract_rows()[:1]
    )
    result = cli(
        "import", "cases", extract, "--profile", "childview-example.yaml", "--as-of", AS_OF
    )
    assert result.exit_code == 0, result.stderr
    # A file of that name in the current folder wins.
    profile_file(tmp_path, PROFILE, "childview-example.yaml")
    assert profile_path("childview-example.yaml") == Path("childview-example.yaml")
    assert load_profile("childview-example.yaml").columns["ethnicity"] == ("Ethnic Origin",)
    assert profile_path("no-such.yaml") == Path("no-such.yaml")
