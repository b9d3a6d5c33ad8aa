"""O4: the quarterly and annual packs are published accessibly. Each is rendered once, for real,
from the simulated year (tests/pack_world.py): the PDF is read back with pypdf for its tags (a
structure tree, /Lang, /MarkInfo, the title shown, headings in order, table headers, every
chart a /Figure whose /Alt gives its figures), and the HTML beside it is checked to be one
self-contained file and opened in headless Chromium, where axe-core finds nothing at desktop
and phone widths. Q2-Q4 (the packs), E5 (no young person named), S5 (the make-up charts).

Screenshots of the HTML packs (1280 and 375 px wide) go to the test's tmp folder.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pypdf import PdfReader
from pypdf.generic import ArrayObject, BooleanObject, DictionaryObject
from sqlmodel import Session

from models import PackSnapshot
from models.db import make_engine
from models.settings import get_settings
from tasks.workdays import Quarter
from tests import web_browser_world as web
from tests.pack_world import Q3, result_totals, young_names

# Built from the simulated year, which the pack tests share: run on their worker (conftest.py).
pytestmark = pytest.mark.xdist_group("prefect-and-year")

# The suite's headless Chromium and axe-core (tests/web_browser_world.py), with this module's
# screenshots in the test's own tmp folder.
axe_script, browser, person = web.axe_script, web.browser, web.person

QUARTER_CHARTS = 10  # at least: completion, sections, run chart, actions, 2 feedback, 4 make-up
ANNUAL_CHARTS = 1  # the year by quarter


@dataclass
class Pack:
    pdf: Path
    html: Path
    figures: dict[str, Any]


@dataclass
class Packs:
    quarterly: Pack
    annual: Pack
    names: set[str]  # the young people's names, none of which may appear (E5)
    totals: dict[str, dict[str, int]]  # audits assigned and completed per quarter of 2025
    weasyprint_errors: list[str]


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where `person` puts each page's PNG and axe's notes: the test's own tmp folder."""
    return tmp_path


@pytest.fixture(scope="module")
def packs(year_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Packs]:
    """The 2025-Q3 and 2025-26 packs rendered once, as `yotqa pack` writes them."""
    from tasks.steps import compile_annual_pack, compile_quarterly_pack

    folder = tmp_path_factory.mktemp("accessible-packs")
    shutil.copy(year_template, folder / "yotqa.db")
    url = f"sqlite:///{folder / 'yotqa.db'}"
    errors: list[str] = []

    class Errors(logging.Handler):  # WeasyPrint logs an image without alt, a missing lang
        def emit(self, record: logging.LogRecord) -> None:
            errors.append(record.getMessage())

    handler = Errors(level=logging.ERROR)
    logging.getLogger("weasyprint").addHandler(handler)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YOTQA_DATABASE_URL", url)
        mp.setenv("YOTQA_OUTPUT_DIR", str(folder / "var"))
        mp.setenv("YOTQA_SERVICE_NAME", "Riverside YOT")
        get_settings.cache_clear()
        try:
            quarterly = compile_quarterly_pack(str(Q3), date(2026, 1, 6), False)
            annual = compile_annual_pack(2025, date(2026, 4, 20), False)
        finally:
            logging.getLogger("weasyprint").removeHandler(handler)
        engine = make_engine(url)
        with Session(engine) as session:
            frozen = session.execute(
                sa.select(PackSnapshot.figures).where(PackSnapshot.period == str(Q3))
            ).scalar_one()
            names = young_names(session)
            totals = {
                str(Quarter(2025, n)): result_totals(session, Quarter(2025, n))
                for n in (1, 2, 3, 4)
            }
        engine.dispose()
    get_settings.cache_clear()
    yield Packs(
        Pack(Path(quarterly["pdf"]), Path(quarterly["html"]), frozen),
        Pack(Path(annual["pdf"]), Path(annual["html"]), {}),
        names,
        totals,
        errors,
    )


# Reading the PDF's tags ---------------------------------------------------------------------


@dataclass
class Tag:
    role: str  # "H1", "Table", "Figure", ...
    node: DictionaryObject
    parent: str
    depth: int


def structure(reader: PdfReader) -> list[Tag]:
    """Every structure element under /StructTreeRoot, in the tree's (reading) order."""
    found: list[Tag] = []

    def walk(node: Any, parent: str, depth: int) -> None:
        node = node.get_object()
        if not isinstance(node, DictionaryObject) or "/S" not in node:
            return  # a marked-content id, or a reference to a link's annotation
        role = str(node["/S"]).lstrip("/")
        found.append(Tag(role, node, parent, depth))
        kids = node.get("/K")
        for kid in kids.get_object() if isinstance(kids, ArrayObject) else [kids]:
            if kid is not None and not isinstance(kid, int):
                walk(kid, role, depth + 1)

    root = reader.trailer["/Root"]["/StructTreeRoot"].get_object()
    kids = root["/K"]
    for kid in kids.get_object() if isinstance(kids, ArrayObject) else [kids]:
        walk(kid, "StructTreeRoot", 0)
    return found


def below(tags: list[Tag], i: int) -> list[Tag]:
    """The elements inside tags[i] (those after it that are deeper)."""
    inside = []
    for t in tags[i + 1 :]:
        if t.depth <= tags[i].depth:
            break
        inside.append(t)
    return inside


def alts(tags: list[Tag]) -> list[str]:
    return [str(t.node.get("/Alt", "")) for t in tags if t.role == "Figure"]


def check_tagged(pdf: Path, title: str, charts: int) -> tuple[PdfReader, list[Tag]]:
    """What every tagged pack has (PDF/UA-1): marked, a tree, language, title, headings in
    order, headers for every table cell, an alt text for every figure."""
    reader = PdfReader(pdf)
    catalog = reader.trailer["/Root"]
    assert catalog["/MarkInfo"]["/Marked"] == BooleanObject(True)
    assert str(catalog["/Lang"]) == "en-GB"
    assert reader.metadata is not None and reader.metadata.title == title
    assert catalog["/ViewerPreferences"]["/DisplayDocTitle"] == BooleanObject(True)
    xmp = catalog["/Metadata"].get_object().get_data().decode()
    assert 'pdfuaid:part="1"' in xmp and title in xmp  # PDF/UA-1, its title in the XMP too
    tags = structure(reader)
    assert tags[0].role == "Document" and len(tags) > 500
    levels = [int(t.role[1]) for t in tags if re.fullmatch(r"H[1-6]", t.role)]
    assert levels[0] == 1 and levels.count(1) == 1, levels
    skipped = [(a, b) for a, b in zip(levels, levels[1:], strict=False) if b > a + 1]
    assert not skipped, f"heading levels skipped: {skipped}"
    tables = [i for i, t in enumerate(tags) if t.role == "Table"]
    assert tables
    for i in tables:
        assert "TH" in {t.role for t in below(tags, i)}, "a table without headers"
    for t in tags:
        if t.role == "TD":  # WeasyPrint points each cell at its headers' ids
            assert t.node["/A"]["/Headers"], "a cell with no header"
    captions = [t for t in tags if t.role == "Caption"]
    assert captions and all(t.parent == "Table" for t in captions)
    figures = alts(tags)
    assert len(figures) >= charts, figures
    for alt in figures:  # each states what it shows, in figures
        assert re.match(r"^[A-Z][a-z ]*charts?: ", alt) and re.search(r"\d", alt), alt
    return reader, tags


# The PDFs -----------------------------------------------------------------------------------


def test_o4_quarterly_pdf_is_tagged_with_language_title_headings_and_tables(
    packs: Packs,
) -> None:
    """O4/Q4: the quarterly pack is PDF/UA-1: marked, with a structure tree, /Lang en-GB, its
    title shown, H1 to H3 in order, every table with headers and a caption; WeasyPrint found
    no image without alt text and no document without a language."""
    _, tags = check_tagged(
        packs.quarterly.pdf,
        "Quarterly quality assurance report 2025-Q3: Riverside YOT",
        QUARTER_CHARTS,
    )
    assert packs.weasyprint_errors == []
    headings = [t for t in tags if re.fullmatch(r"H[1-6]", t.role)]
    assert {t.role for t in headings} == {"H1", "H2", "H3"}
    assert sum(t.role == "Table" for t in tags) >= 20


def test_o4_every_quarterly_chart_says_its_figures_from_the_same_data(packs: Packs) -> None:
    """O4, Q2, S5: each chart's /Alt gives the figures it draws, read from the frozen figures
    the chart was drawn from: every team's completion, every section's share, every quarter of
    the run chart, every team's action points, the feedback counts, every make-up value."""
    f = packs.quarterly.figures
    found = alts(structure(PdfReader(packs.quarterly.pdf)))
    by_start = {alt.split(".")[0]: alt for alt in found}
    completion = by_start["Bar chart: audits assigned and completed, by team"]
    for r in f["audits"]["by_team"]:
        assert (
            f"{r['team']}: {r['completed']} of {r['assigned']} completed "
            f"({r['on time']} on time, {r['late']} late)"
        ) in completion
    sections = by_start["Stacked bar chart: judgements by section of the audit tool"]
    for s in (s for s in f["judgements"]["sections"] if s["judged"]):  # as the chart draws
        assert f"{s['section']}: {s['share_ok']:.0%} sufficient or better of {s['judged']}" in (
            sections
        )
    run = next(a for a in found if a.startswith("Run charts"))
    trend = f["trend"]
    assert f"from {trend['quarters'][0]} to {trend['quarters'][-1]}" in run
    overall = trend["overall"]
    first = next(i for i, v in enumerate(overall) if v is not None)
    shown = ", ".join("no figure" if v is None else f"{v:.0%}" for v in overall[first:])
    before = f"none before {trend['quarters'][first]}, then " if first else ""
    assert f"All sections: {before}{shown} (median {trend['median']:.0%})" in run
    for s in trend["sections"]:
        assert f"{s}: " in run
    actions = by_start["Bar chart: action points by team"]
    for r in f["actions"]["by_team"]:
        assert f"{r['team']}: {r['new']} new, {r['completed']} completed" in actions
    sources = by_start["Bar chart: feedback by source"]
    for r in f["feedback"]["by_source"]:
        assert f"{r['source']}: {r['count']}" in sources
    charted = {"order type", "gender", "age band", "ethnic group", "ethnicity"}  # and any since
    charted |= {
        d for r in f["makeup"] if f"caseload, by {(d := r['dimension'])}." in " ".join(found)
    }
    for dimension in charted:
        makeup = by_start[f"Bar chart: the sample beside the caseload, by {dimension}"]
        for r in (r for r in f["makeup"] if r["dimension"] == dimension):
            assert f"{r['value']}: {r['sample_share']:.0%} of the sample" in makeup


def test_o4_annual_pdf_is_tagged_and_its_chart_gives_each_quarter(packs: Packs) -> None:
    """O4/Q3: the annual pack is tagged the same way; its chart's /Alt gives each quarter's
    completion rate, counted again from the audits."""
    _, tags = check_tagged(
        packs.annual.pdf, "Annual quality assurance review 2025-26: Riverside YOT", ANNUAL_CHARTS
    )
    (alt,) = alts(tags)
    assert alt.startswith("Bar chart: the year by quarter. ")
    for quarter, t in packs.totals.items():  # every quarter of 2025-26 had audits assigned
        assert f"{quarter}: {t['completed'] / t['assigned']:.0%} of audits completed" in alt


def test_o4_no_young_person_is_named_in_the_tags_or_the_text(packs: Packs) -> None:
    """E5: neither the text nor any alt text of either pack, PDF or HTML, names a young person."""
    for pack in (packs.quarterly, packs.annual):
        reader = PdfReader(pack.pdf)
        words = " ".join(
            [page.extract_text() or "" for page in reader.pages] + alts(structure(reader))
        )
        html = pack.html.read_text(encoding="utf-8")
        for name in packs.names:
            assert name not in words and name not in html


# The HTML packs -----------------------------------------------------------------------------


class Links(HTMLParser):
    """Every URL the page would fetch or link to, the <img> alts, and the landmarks."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []
        self.alts: list[str] = []
        self.tags: list[str] = []
        self.tables = self.captions = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        for name in ("src", "href", "srcset", "data", "action", "poster"):
            if a.get(name) is not None:
                self.urls.append((tag, str(a[name])))
        if tag == "img":
            self.alts.append(str(a.get("alt")))
        self.tables += tag == "table"
        self.captions += tag == "caption"


@pytest.mark.parametrize("which", ["quarterly", "annual"])
def test_o4_html_pack_is_one_self_contained_file_beside_the_pdf(packs: Packs, which: str) -> None:
    """O4: the HTML pack sits beside the PDF under the same name, fetches nothing (styles and
    charts inside it, no script), and carries the PDF's alt texts, landmarks and captions."""
    pack: Pack = getattr(packs, which)
    assert pack.html == pack.pdf.with_suffix(".html") and pack.html.is_file()
    text = pack.html.read_text(encoding="utf-8")
    page = Links()
    page.feed(text)
    fetched = [(t, u[:40]) for t, u in page.urls if not (u.startswith(("#", "data:image/png")))]
    assert fetched == [], fetched
    assert "<link" not in text and "<script" not in text and "@import" not in text
    assert not re.search(r"url\(\s*['\"]?(?!data:)", text)
    assert "<!DOCTYPE html>" in text[:200] and '<html lang="en-GB">' in text
    assert {"header", "main"} <= set(page.tags) and (which == "annual" or "nav" in page.tags)
    assert '<a class="skip-link" href="#main">' in text and 'id="main"' in text
    assert page.tables == page.captions > 0
    assert sorted(page.alts) == sorted(alts(structure(PdfReader(pack.pdf))))


@pytest.mark.parametrize("which", ["quarterly", "annual"])
def test_o4_html_pack_passes_axe_on_a_desktop_and_a_phone(
    packs: Packs, which: str, person: Any, shots: Path
) -> None:
    """O4: axe-core (WCAG 2.0/2.1 A and AA, and its best practices for headings and landmarks)
    finds nothing on the HTML pack at 1280 px and at 375 px, where the page does not scroll
    sideways (a wide table scrolls in its own region)."""
    pack: Pack = getattr(packs, which)
    url = pack.html.as_uri()
    for label, viewport, phone in (("desktop", web.DESKTOP, False), ("phone", web.PHONE, True)):
        tab = person("", viewport=viewport, phone=phone)
        tab.open(url)
        tab.check(f"{which}-{label}")  # the suite's axe run, and a whole-page PNG in `shots`
        found = tab.page.evaluate(
            "rules => axe.run(document, {runOnly: {type: 'rule', values: rules}})"
            ".then(r => r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target).join(' ')))",
            [
                "heading-order",
                "page-has-heading-one",
                "landmark-one-main",
                "landmark-unique",
                "region",
                "skip-link",
                "scrollable-region-focusable",
                "image-alt",
            ],
        )
        assert found == [], f"{which} at {label} width: {found}"
        if phone:
            wide = tab.page.evaluate("document.documentElement.scrollWidth")
            assert wide <= web.PHONE["width"] + 1, f"{which} scrolls sideways: {wide}px"
        assert (shots / f"{which}-{label}.png").stat().st_size > 10_000
