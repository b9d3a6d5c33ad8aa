"""S5 and O3: a case's ethnicity as the 2021 census names it, from a category's name, a DfE
code or an older label; the sample's make-up by the census's five top-level groups and by the
detailed categories."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlmodel import Session, select

from models.enums import ImportKind
from tasks.ethnicity import census_name, ethnic_group
from tasks.importing import import_file
from tasks.importing.profiles import load_profile
from tasks.sampling.report import SelectionReport, makeup_markdown
from tasks.sampling.rules import Candidate, makeup
from tests.test_import_profiles import (
    AS_OF,
    WHITE_BLACK_CARIBBEAN,
    WHITE_BRITISH,
    extract_rows,
    import_staff,
    profile_file,
    write_extract,
)


@pytest.mark.parametrize(
    ("raw", "name", "group"),
    [
        ("WBRI", WHITE_BRITISH, "White"),
        ("mwbc", WHITE_BLACK_CARIBBEAN, "Mixed or Multiple ethnic groups"),
        (
            "CHNE",
            "Asian, Asian British or Asian Welsh: Chinese",
            "Asian, Asian British or Asian Welsh",
        ),
        ("White: Irish", "White: Irish", "White"),
        ("White - Irish", "White: Irish", "White"),  # the DfE's description of WIRI
        ("Roma", "White: Roma", "White"),
        (
            "Black or Black British",
            "Black, Black British, Black Welsh, Caribbean or African",
            "Black, Black British, Black Welsh, Caribbean or African",
        ),  # a 2011 label: group only
        ("White British", WHITE_BRITISH, "White"),  # an older label the demo and tests use
        ("Not stated", "Not known", "Not known"),
        ("REFU", "Refused", "Not known"),
        ("NOBT", "Not known", "Not known"),
        ("OARA", "Other ethnic group: Arab", "Other ethnic group"),
    ],
)
def test_s5_ethnicity_by_census_name_code_or_older_label(raw: str, name: str, group: str) -> None:
    assert census_name(raw) == name
    assert ethnic_group(name) == group


def test_s5_an_unknown_ethnicity_is_not_known_in_the_make_up() -> None:
    assert census_name("Martian") is None
    assert ethnic_group("Martian") == "Not known"  # free text stored before O3


def _candidate(case_id: int, ethnicity: str) -> Candidate:
    return Candidate(
        case_id=case_id,
        case_ref=f"YJ-{case_id}",
        case_manager_id=1,
        team_id=1,
        order_family="YRO",
        gender="Male",
        ethnicity=ethnicity,
        age_band="15-16",
        opened_on=date(2026, 1, 1),
    )


def test_s5_makeup_reports_the_top_level_groups_and_the_detailed_ones() -> None:
    cases = [
        _candidate(1, WHITE_BRITISH),
        _candidate(2, "White: Irish"),
        _candidate(3, WHITE_BLACK_CARIBBEAN),
        _candidate(4, "Refused"),
    ]
    made = makeup(cases)
    assert made["ethnic_group"] == {
        "Mixed or Multiple ethnic groups": 1,
        "Not known": 1,
        "White": 2,
    }
    assert made["ethnicity"][WHITE_BRITISH] == 1 and len(made["ethnicity"]) == 4
    report: SelectionReport = {
        "period": "2026-12",
        "selections": [],
        "rejections": [],
        "pool_makeup": made,
        "sample_makeup": makeup(cases[:2]),
        "rules": [],
    }
    markdown = makeup_markdown(report)
    assert "## Ethnic group" in markdown and "| White | 2 (50%) | 2 (100%) |" in markdown
    assert markdown.index("## Ethnic group") < markdown.index("## Ethnicity")


def test_s5_imported_codes_reach_the_sampling_make_up(session: Session, tmp_path: Path) -> None:
    from tasks.sampling.pool import load_pool

    import_staff(session, tmp_path)
    layout = load_profile(str(profile_file(tmp_path)))
    rows = extract_rows()
    rows[1]["closed_on"] = ""
    import_file(
        session,
        ImportKind.CASES,
        write_extract(tmp_path / "e.csv", layout, rows),
        as_of=AS_OF,
        layout=layout,
    )
    made = makeup(load_pool(session, AS_OF))
    assert made["ethnic_group"] == {"Mixed or Multiple ethnic groups": 1, "White": 1}


# The 2011 census categories, as extracts written before 2021 name them: each is the 2021
# category (the 2011 names were "Group: Category", with the groups named differently).
CENSUS_2011 = {
    "White: English/Welsh/Scottish/Northern Irish/British": WHITE_BRITISH,
    "White: Irish": "White: Irish",
    "White: Gypsy or Irish Traveller": "White: Gypsy or Irish Traveller",
    "White: Other White": "White: Other White",
    "Mixed/multiple ethnic groups: White and Black Caribbean": WHITE_BLACK_CARIBBEAN,
    "Mixed/multiple ethnic groups: White and Black African": (
        "Mixed or Multiple ethnic groups: White and Black African"
    ),
    "Mixed/multiple ethnic groups: White and Asian": "Mixed or Multiple ethnic groups: White and Asian",
    "Mixed/multiple ethnic groups: Other Mixed": (
        "Mixed or Multiple ethnic groups: Other Mixed or Multiple ethnic groups"
    ),
    "Asian/Asian British: Indian": "Asian, Asian British or Asian Welsh: Indian",
    "Asian/Asian British: Pakistani": "Asian, Asian British or Asian Welsh: Pakistani",
    "Asian/Asian British: Bangladeshi": "Asian, Asian British or Asian Welsh: Bangladeshi",
    "Asian/Asian British: Chinese": "Asian, Asian British or Asian Welsh: Chinese",
    "Asian/Asian British: Other Asian": "Asian, Asian British or Asian Welsh: Other Asian",
    "Black/African/Caribbean/Black British: African": (
        "Black, Black British, Black Welsh, Caribbean or African: African"
    ),
    "Black/African/Caribbean/Black British: Caribbean": (
        "Black, Black British, Black Welsh, Caribbean or African: Caribbean"
    ),
    "Black/African/Caribbean/Black British: Other Black": (
        "Black, Black British, Black Welsh, Caribbean or African: Other Black"
    ),
    "Other ethnic group: Arab": "Other ethnic group: Arab",
    "Other ethnic group: Any other ethnic group": "Other ethnic group: Any other ethnic group",
}


@pytest.mark.parametrize(("raw", "name"), CENSUS_2011.items())
def test_s5_the_2011_census_categories_are_taken_as_the_2021_ones(raw: str, name: str) -> None:
    assert census_name(raw) == name
    assert ethnic_group(raw) == ethnic_group(name) != "Not known"


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("Mixed - White and Black Caribbean", WHITE_BLACK_CARIBBEAN),
        ("Asian or Asian British - Pakistani", "Asian, Asian British or Asian Welsh: Pakistani"),
        ("White: Pakistani", None),  # a category of another group: not guessed
        ("Asian - Caribbean", None),
    ],
)
def test_s5_group_and_category_in_another_systems_words(raw: str, name: str | None) -> None:
    assert census_name(raw) == name


def test_s5_a_quarter_that_began_before_o3_adds_up_in_todays_census_names(
    session: Session, tmp_path: Path
) -> None:
    """A month drawn before the upgrade stored older labels and no groups; the pack counts its
    cases by today's names and groups, with the later months."""
    from models import SamplingRun, Staff
    from models.enums import SamplingKind
    from tasks.packs.evidence import makeup as pack_makeup
    from tasks.packs.figures import Scope
    from tasks.workdays import Quarter

    import_staff(session, tmp_path)
    sampler = session.exec(select(Staff)).first()
    before = {
        "ethnicity": {"White British": 6, "Mixed - White and Asian": 2},
        "gender": {"Male": 8},
    }
    after = {
        "ethnicity": {WHITE_BRITISH: 4, "White: Irish": 2},
        "ethnic_group": {"White": 6},
        "gender": {"Male": 6},
    }
    for month, made in (("2026-10", before), ("2026-11", after)):
        session.add(
            SamplingRun(
                period=month,
                kind=SamplingKind.MONTHLY,
                sampler_id=sampler.id,
                sampling_date=date.fromisoformat(f"{month}-01"),
                seed="s",
                pool_makeup=made,
                sample_makeup=made,
            )
        )
    session.commit()
    rows = pack_makeup(session, Scope.of(session, Quarter(2026, 3), date(2027, 1, 6)))
    seen = {(r["dimension"], r["value"]): (r["sample"], r["caseload_share"]) for r in rows}
    assert seen[("ethnic group", "White")] == (12, round(12 / 14, 4))
    assert seen[("ethnic group", "Mixed or Multiple ethnic groups")] == (2, round(2 / 14, 4))
    assert seen[("ethnicity", WHITE_BRITISH)] == (10, round(10 / 14, 4))
    assert not [v for d, v in seen if d == "ethnicity" and ":" not in v]  # no older label left
