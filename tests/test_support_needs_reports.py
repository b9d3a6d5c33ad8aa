"""A4 support and training needs reported (§5 Methods: "the team manager will identify any
additional support or training needs for individuals, or groups of staff", their timescales
monitored through supervision): the quarter's figures by theme and team, the quarterly pack's
section (PDF, XLSX, markdown), the supervisee's own needs in their summary (A3), and the
workforce development lead's quarterly summary, sent once through the outbox; no young person's
name anywhere (E5). SQLite and PostgreSQL.

The world, in the demo service's October to December 2026 (2026-Q3), needs recorded with audits
through `record_audit` and reviewed through `review_need`:

- N1 (team one's case manager, from a December audit): risk of harm assessment, for them, review
  by 20 December, its words naming the young person; reviewed and met on 18 December.
- N2 (the same audit): safeguarding and multi-agency work, for their whole team, review by
  20 January: open at the quarter's end, not yet due.
- N3 (team two's case manager, December): risk of harm assessment, for them, review by
  22 December, never reviewed: overdue at the quarter's end.
- N4 (an audit completed in September, the quarter before): court and reports, review by
  20 October, reviewed on 19 October and still needed, next review 1 February: a review held
  in the quarter, open at its end, not overdue.
- N5 (an audit completed on 5 January, the next quarter): counted nowhere in 2026-Q3.
- N6 (team two's case manager's own self-audit, 15 December): reviewing and recording, for
  them, review by 1 March: identified (a self-audit counts), open, not overdue.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from models import Audit, Case, EmailMessage, PackSnapshot, Staff, SupportNeed, Team
from models.enums import AuditKind, Role
from models.settings import get_settings
from tasks.outbox import attachment_bytes
from tasks.outputs import Outputs
from tasks.packs.needs import needs_figures
from tasks.packs.redact import NAME_REMOVED, Redactor
from tasks.programme.needs_summary import send_needs_summary
from tasks.programme.supervisee import _section_shares, send_summaries, summary_figures
from tasks.recording.form import AuditForm, NeedIn
from tasks.recording.needs import review_need
from tasks.recording.record import record_audit
from tasks.self_audit import assign_self_audits
from tasks.workdays import Quarter
from tests.answering import plain_answers
from tests.pack_world import pdf_text

pytestmark = pytest.mark.demo(seed=21, as_of=date(2026, 11, 25), sampled_on=date(2026, 12, 1))
Q3 = Quarter(2026, 3)  # October to December 2026
ON = date(2027, 1, 4)  # the first working day after it: the SS and T10 rows run
ROSH, SAFEGUARDING, COURT, RECORDING = (
    "Risk of harm assessment",
    "Safeguarding and multi-agency work",
    "Court and reports",
    "Reviewing and recording",
)
N3_WORDS = "Shadow a senior colleague on two risk of harm reviews"


@dataclass
class World:
    cm1: Staff  # team one's case manager (N1, N2)
    cm2: Staff  # team two's (N3, N6)
    team1: str
    team2: str
    needs: dict[str, int]  # N1..N6: their ids
    names: set[str]  # the young people of every audited case: never in a report (E5)
    named: str  # the one typed into N1's words


def _form(
    session: Session, audit: Audit, needs: list[NeedIn], by: Staff | None = None
) -> AuditForm:
    answers = plain_answers(session, audit)
    recorder = by or session.get(Staff, audit.auditor_id)
    return AuditForm(
        audit_id=audit.id, recorded_by=recorder.email, answers=answers, support_needs=needs
    )


def _need(theme: str, review_on: date, scope: str = "individual", text: str = "") -> NeedIn:
    return NeedIn(theme=theme, text=text, scope=scope, review_on=review_on)


def _ids(session: Session, audit: Audit) -> list[int]:
    return list(
        session.exec(
            select(SupportNeed.id).where(SupportNeed.audit_id == audit.id).order_by(SupportNeed.id)
        )
    )


def _world(session: Session) -> World:
    """The needs N1-N6 of the module's docstring, recorded and reviewed as the product does."""
    staff = {s.id: s for s in session.exec(select(Staff))}
    audits = session.exec(
        select(Audit).where(Audit.kind == AuditKind.CASE_FILE).order_by(Audit.id)
    ).all()
    first = audits[0]
    cm1 = staff[first.subject_staff_id]
    second = next(a for a in audits if staff[a.subject_staff_id].team_id not in (cm1.team_id, None))
    cm2 = staff[second.subject_staff_id]
    earlier, later = [
        a
        for a in audits
        if a.id not in (first.id, second.id) and a.subject_staff_id not in (cm1.id, cm2.id)
    ][:2]
    cases = {c.id: c for c in session.exec(select(Case))}
    named = cases[first.case_id].young_person_name
    needs: dict[str, int] = {}

    record_audit(
        session,
        _form(session, earlier, [_need(COURT, date(2026, 10, 20))]),
        on=date(2026, 9, 28),
        source="test",
    )
    [needs["N4"]] = _ids(session, earlier)
    review_need(
        session,
        needs["N4"],
        met=False,
        note="Booked on the January court skills course",
        next_review=date(2027, 2, 1),
        on=date(2026, 10, 19),
    )
    record_audit(
        session,
        _form(
            session,
            first,
            [
                _need(
                    ROSH,
                    date(2026, 12, 20),
                    text=f"Refresh RoSH training; start with {named}'s plan",
                ),
                _need(
                    SAFEGUARDING,
                    date(2027, 1, 20),
                    scope="team",
                    text="Session on strategy meetings for the whole team",
                ),
            ],
        ),
        on=date(2026, 12, 10),
        source="test",
    )
    needs["N1"], needs["N2"] = _ids(session, first)
    review_need(
        session, needs["N1"], met=True, note="Attended", next_review=None, on=date(2026, 12, 18)
    )
    record_audit(
        session,
        _form(session, second, [_need(ROSH, date(2026, 12, 22), text=N3_WORDS)]),
        on=date(2026, 12, 11),
        source="test",
    )
    [needs["N3"]] = _ids(session, second)
    record_audit(
        session,
        _form(session, later, [_need(ROSH, date(2027, 2, 5))]),
        on=date(2027, 1, 5),
        source="test",
    )
    [needs["N5"]] = _ids(session, later)
    [own_id] = assign_self_audits(session, date(2026, 12, 1), [cm2.email]).audits
    own = session.get(Audit, own_id)
    record_audit(
        session,
        _form(
            session, own, [_need(RECORDING, date(2027, 3, 1), text="Chronology practice")], by=cm2
        ),
        on=date(2026, 12, 15),
        source="test",
    )
    [needs["N6"]] = _ids(session, own)
    teams = {t.id: t.name for t in session.exec(select(Team))}
    audited = [first, second, earlier, later, own]
    return World(
        cm1,
        cm2,
        teams[cm1.team_id],
        teams[cm2.team_id],
        needs,
        {cases[a.case_id].young_person_name for a in audited if a.case_id},
        named,
    )


def _no_names(world: World, *texts: str) -> None:
    everything = " ".join(" ".join(texts).split())
    for name in world.names:
        assert name not in everything, name


def _cells(book: openpyxl.Workbook) -> str:
    return " ".join(
        str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row if v
    )


def test_a4_needs_figures_count_the_quarter_by_theme_and_team(session: Session) -> None:
    """§5 Methods, A4: identified by the recording audit's completed date within the quarter
    (self-audits' too, shown apart), by theme and team, individual or whole team; reviews due or
    held in the quarter and how many met; open at its end and how many overdue; no names."""
    w = _world(session)
    f = needs_figures(session, Q3)
    assert (f["identified"], f["individual"], f["whole_team"], f["from_self_audits"]) == (
        4,
        3,
        1,
        1,
    )
    assert f["teams"] == sorted([w.team1, w.team2])
    assert [
        (r["theme"], r["teams"], r["individual"], r["whole_team"], r["total"])
        for r in f["by_theme"]
    ] == [
        (ROSH, {w.team1: 1, w.team2: 1}, 2, 0, 2),
        (RECORDING, {w.team1: 0, w.team2: 1}, 1, 0, 1),  # N6, a self-audit's
        (SAFEGUARDING, {w.team1: 1, w.team2: 0}, 0, 1, 1),
    ]
    assert f["team_totals"] == {w.team1: 2, w.team2: 2}
    assert sorted(
        (r["theme"], r["team"], r["individual"], r["whole_team"]) for r in f["by_theme_team"]
    ) == sorted(
        [
            (ROSH, w.team1, 1, 0),
            (ROSH, w.team2, 1, 0),
            (RECORDING, w.team2, 1, 0),
            (SAFEGUARDING, w.team1, 0, 1),
        ]
    )
    assert f["most_often"] == [
        {"theme": ROSH, "count": 2},
        {"theme": RECORDING, "count": 1},
        {"theme": SAFEGUARDING, "count": 1},
    ]
    assert f["reviews"] == {"due": 3, "met": 1}  # N1 (met), N3, N4 (reviewed in October)
    assert f["open"] == {"open": 4, "overdue": 1}  # N2, N3 (overdue), N4, N6
    assert [(r["theme"], r["for"], r["review_on"], r["status"]) for r in f["open_needs"]] == [
        (ROSH, "individual", "2026-12-22", "overdue"),
        (SAFEGUARDING, "whole team", "2027-01-20", "open"),
        (COURT, "individual", "2027-02-01", "open"),
        (RECORDING, "individual", "2027-03-01", "open"),
    ]
    assert [r["identified_on"] for r in f["open_needs"]][2] == "2026-09-28"
    _no_names(w, repr(f))
    assert w.cm1.name not in repr(f) and w.cm2.name not in repr(f)  # staff unnamed too
    # N5 belongs to the next quarter; a provisional pack's end is the day it is compiled.
    assert needs_figures(session, Quarter(2026, 4))["identified"] == 1
    early = needs_figures(session, Q3, date(2026, 12, 21))
    assert (early["identified"], early["open"], early["reviews"]) == (
        4,
        {"open": 4, "overdue": 0},  # N3's review date, 22 December, has not passed yet
        {"due": 2, "met": 1},  # nor come: due so far are N1 and N4
    )


def test_a4_quarterly_pack_has_a_support_needs_section_sheet_and_line(
    session: Session, tmp_path: Path
) -> None:
    """§5, A4 in the quarterly pack: section 14 after the self-audits, its figures, the theme by
    team table and the open needs in the PDF; two sheets in the XLSX; a line in the markdown;
    frozen with the quarter; no young person's name (E5)."""
    from tasks.packs.quarterly import compile_quarter
    from tasks.packs.render import write_quarter

    w = _world(session)
    pack = compile_quarter(session, Q3, ON)
    assert pack.status == "final"
    frozen = session.execute(sa.select(PackSnapshot.figures)).scalar_one()
    assert frozen["needs"]["identified"] == 4 and frozen["needs"]["open"] == {
        "open": 4,
        "overdue": 1,
    }
    files = write_quarter(pack, Outputs(tmp_path).quarterly_pack(str(Q3)), "Riverside YOT")
    text, _, _ = pdf_text(files.pdf)
    words = " ".join(text.split())
    assert "14. Support and training needs (§5)" in words
    assert words.index("13. Self-audits") < words.index("14. Support and training needs")
    assert (
        "4 needs were identified in audits completed this quarter (3 for individuals, 1 for whole teams;"
        in words
    )
    assert "1 of them by case managers in their self-audits" in words.replace("self- ", "self-")
    assert "3 reviews were due this quarter, 1 of which found the need met" in words
    assert "4 needs were open, 1 of them past their review date" in words
    assert f"Most often identified: {ROSH} (2); {RECORDING} (1); {SAFEGUARDING} (1)." in words
    assert "By theme and team" in words and "Needs open at the quarter's end" in words
    assert "All themes" in words and "2026-12-22 overdue" in words
    book = openpyxl.load_workbook(files.xlsx)
    table = [list(r) for r in book["Support needs by theme"].iter_rows(values_only=True)]
    t1, t2 = sorted([w.team1, w.team2])
    assert table[0] == ["theme", t1, t2, "individual", "whole team", "total"]
    assert table[1] == [ROSH, 1, 1, 2, 0, 2]
    assert table[-1] == ["All themes", 2, 2, 3, 1, 4]
    open_sheet = [list(r) for r in book["Support needs open"].iter_rows(values_only=True)]
    assert open_sheet[0] == ["theme", "team", "for", "identified on", "review on", "status"]
    assert [r[-1] for r in open_sheet[1:]] == ["overdue", "open", "open", "open"]
    markdown = files.markdown.read_text(encoding="utf-8")
    assert (
        "| support needs identified / reviews due / met / open at the end / overdue | "
        "4 / 3 / 1 / 4 / 1 |"
    ) in markdown
    _no_names(w, text, _cells(book), markdown)
    assert w.named not in words and N3_WORDS not in words  # the needs' words are not in the pack


def test_a4_a_pack_frozen_before_a4_has_no_needs_section_and_the_summary_reads_frozen_figures(
    session: Session, tmp_path: Path
) -> None:
    """A4: a pack frozen before support needs existed renders as it did (no section, no sheet);
    and once the quarter's pack is frozen, the lead's summary gives its figures, so the two agree
    however the needs change later."""
    from tasks.packs.quarterly import compile_quarter
    from tasks.packs.render import quarter_html, quarter_workbook

    w = _world(session)
    compile_quarter(session, Q3, ON)  # frozen: N3 overdue
    n3 = session.get(SupportNeed, w.needs["N3"])
    n3.review_on = date(2027, 2, 10)  # edited after the close: the frozen figures stand
    session.commit()
    assert needs_figures(session, Q3)["open"]["overdue"] == 0
    sent = send_needs_summary(session, Q3, ON, tmp_path)
    assert (sent.identified, sent.open, sent.overdue) == (4, 4, 1)
    snapshot = session.execute(sa.select(PackSnapshot)).scalar_one()
    snapshot.figures = {k: v for k, v in snapshot.figures.items() if k != "needs"}
    session.commit()
    old = compile_quarter(session, Q3, date(2027, 1, 20))
    assert old.status == "re-issue" and "needs" not in old.figures
    html = quarter_html(old, "Riverside YOT")
    assert "Support and training needs" not in html and 'id="self-audits"' in html
    assert "Support needs by theme" not in quarter_workbook(old, "Riverside YOT").sheetnames


def test_a3_supervisee_summary_lists_their_own_and_their_teams_needs_not_another_teams(
    session: Session, tmp_path: Path
) -> None:
    """A3, A4: "their support needs" in the supervisee's summary: their own and their team's
    (theme, words with the young person's name removed, for whom, review date, status), never
    another team's or a teammate's own; the email's figures say how many are open (§5)."""
    w = _world(session)
    sections, counts = _section_shares(session, Q3)
    redact = Redactor(session)
    mine = summary_figures(session, Q3, w.cm1, sections, counts, redact)
    assert [(n["theme"], n["for"], n["review_on"], n["status"]) for n in mine["needs"]] == [
        (ROSH, "you", "2026-12-20", "met"),
        (SAFEGUARDING, "your team", "2027-01-20", "open"),
    ]
    assert mine["needs"][0]["need"] == f"Refresh RoSH training; start with {NAME_REMOVED}'s plan"
    assert mine["needs_open"] == 1
    teammate = session.exec(
        select(Staff).where(
            Staff.team_id == w.cm1.team_id,
            Staff.role == Role.CASE_MANAGER,
            Staff.id.not_in(select(SupportNeed.staff_id)),  # no need of their own
            Staff.active == sa.true(),
        )
    ).first()
    theirs = summary_figures(session, Q3, teammate, sections, counts, redact)
    assert [(n["theme"], n["for"]) for n in theirs["needs"]] == [(SAFEGUARDING, "your team")]
    other = summary_figures(session, Q3, w.cm2, sections, counts, redact)
    assert [(n["theme"], n["status"]) for n in other["needs"]] == [
        (ROSH, "overdue"),
        (RECORDING, "open"),  # their own self-audit's
    ]
    send_summaries(session, Q3, ON, tmp_path)
    emails = {
        e.to_addrs[0]: e
        for e in session.exec(select(EmailMessage))
        if e.key.startswith(f"supervisee-summary:{Q3}:")
    }
    email = emails[w.cm1.email]
    assert "- support and training needs open: 1" in email.body_text
    text, pages, _ = pdf_text(attachment_bytes(email.attachments[0]))
    words = " ".join(text.split())
    assert 1 <= pages <= 2
    assert "Your support and training needs" in words
    assert (
        ROSH in words
        and SAFEGUARDING in words
        and "Session on strategy meetings for the whole team" in words
    )
    assert f"start with {NAME_REMOVED}'s plan" in words
    assert N3_WORDS not in words and RECORDING not in words and "Chronology practice" not in words
    other_text = " ".join(pdf_text(attachment_bytes(emails[w.cm2.email].attachments[0]))[0].split())
    assert N3_WORDS in other_text and "Chronology practice" in other_text
    assert (
        SAFEGUARDING not in other_text
        and "Session on strategy meetings for the whole team" not in other_text
    )
    _no_names(w, text, other_text, *(e.body_text + e.body_html for e in emails.values()))


def test_a4_the_workforce_development_lead_is_sent_the_needs_summary_once(
    session: Session,
    db_url: str,
    settings_env: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """§5 Methods, A4: the supervisee summaries' quarterly job (SS) also sends the workforce
    development lead the quarter's needs by theme and team, copied to the QA manager, with the
    spreadsheet, over SMTP; run again, it sends nothing (E6); no young person's name (E5)."""
    from tasks.catalogue import CATALOGUE
    from tests.smtp import smtp_server, text_of

    w = _world(session)
    session.execute(sa.update(EmailMessage).values(status="sent"))  # the world's own mail is old
    session.commit()
    lead = session.exec(select(Staff).where(Staff.role == Role.WORKFORCE_DEVELOPMENT_LEAD)).one()
    qa = session.exec(select(Staff).where(Staff.role == Role.QA_MANAGER)).one()
    job = CATALOGUE["supervisee-summaries"]
    with smtp_server() as (recorder, port):
        monkeypatch.setenv("YOTQA_DATABASE_URL", db_url)
        monkeypatch.setenv("YOTQA_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("YOTQA_SMTP_PORT", str(port))
        get_settings.cache_clear()
        first = job.work(ON)
        received = len(recorder.messages)
        again = job.work(ON)
    get_settings.cache_clear()
    assert len(recorder.messages) == received  # the rerun sent nothing
    assert "support and training needs summary: 1 email queued (4 identified" in first.said[0]
    assert "support and training needs summary: sent before" in again.said[0]
    assert first.result["needs_summary_emails"] == 1 and again.result["needs_summary_emails"] == 0
    [message] = [m for m in recorder.messages if m["X-Yotqa-Key"] == f"needs-summary:{Q3}"]
    assert message["To"] == lead.email and message["Cc"] == qa.email
    assert message["Subject"] == f"Support and training needs, {Q3}: the quarterly summary"
    body = text_of(message)
    plain = " ".join(message.get_body(("plain",)).get_content().split())
    assert f"Dear {lead.name}," in plain
    assert "- needs identified: 4" in plain and "- for individuals / whole teams: 3 / 1" in plain
    assert "- reviews due this quarter / found met: 3 / 1" in plain
    assert "- open at the quarter's end / past their review date: 4 / 1" in plain
    assert f"Most often: {ROSH} (2)" in plain
    files = {p.get_filename(): p.get_content() for p in message.iter_attachments()}
    assert set(files) == {f"support-needs-{Q3}.xlsx"}
    book = openpyxl.load_workbook(io.BytesIO(files[f"support-needs-{Q3}.xlsx"]))
    assert book.sheetnames == ["By theme and team", "Open at the quarter's end"]
    table = [list(r) for r in book["By theme and team"].iter_rows(values_only=True)]
    assert table[1] == [ROSH, 1, 1, 2, 0, 2] and table[-1] == ["All themes", 2, 2, 3, 1, 4]
    opened = list(book["Open at the quarter's end"].iter_rows(values_only=True))
    assert len(opened) == 1 + 4 and opened[1][-1] == "overdue"
    _no_names(w, body, _cells(book), message["Subject"])
    assert w.cm1.name not in body + _cells(book)
    stored = session.exec(
        select(EmailMessage).where(EmailMessage.key.startswith("needs-summary:"))
    ).all()
    assert len(stored) == 1 and stored[0].status == "sent"


def test_a4_with_no_needs_the_summary_still_goes_to_the_service_manager_saying_so(
    session: Session, tmp_path: Path
) -> None:
    """A4: a quarter without needs is still summarised, saying none were identified; with no
    active workforce development lead it goes to the service manager, copied to the QA manager;
    once a quarter (E6)."""
    lead = session.exec(select(Staff).where(Staff.role == Role.WORKFORCE_DEVELOPMENT_LEAD)).one()
    lead.active = False
    session.commit()
    sent = send_needs_summary(session, Q3, ON, tmp_path)
    assert (sent.emails, sent.identified, sent.open, sent.already) == (1, 0, 0, False)
    message = session.exec(
        select(EmailMessage).where(EmailMessage.key == f"needs-summary:{Q3}")
    ).one()
    managers = session.exec(
        select(Staff).where(Staff.role == Role.SERVICE_MANAGER, Staff.active == sa.true())
    ).all()
    qa = session.exec(select(Staff).where(Staff.role == Role.QA_MANAGER)).one()
    assert message.to_addrs == [m.email for m in managers] and message.cc_addrs == [qa.email]
    assert "No support or training needs were identified" in message.body_text
    book = openpyxl.load_workbook(io.BytesIO(attachment_bytes(message.attachments[0])))
    assert [list(r) for r in book["By theme and team"].iter_rows(values_only=True)] == [
        ["theme", "individual", "whole team", "total"]
    ]
    assert Path(sent.file) == Outputs(tmp_path).needs_summary(str(Q3))
    again = send_needs_summary(session, Q3, ON, tmp_path)
    assert (again.emails, again.already) == (0, True)
