"""O5, E1: calendar files that update. Entries carry the installation's own id; a moved deadline
is sent again with the same UID and a higher SEQUENCE; whoever loses an audit or an action point
is sent a METHOD:CANCEL. The files are taken from the emails as written (.eml) and read with a
second parser (vobject, not the icalendar that wrote them), then imported into a real calendar
client, Debian's khal."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import sqlalchemy as sa
import vobject
from alembic import command
from sqlmodel import Session, select

from models import ActionPoint, Audit, Case, Installation, Staff
from models.db import alembic_config, make_engine, upgrade
from models.enums import ImportKind
from models.installation import installation_id
from models.settings import get_settings
from tasks.chase import chase
from tasks.importing import import_file
from tasks.leavers import reassign_leavers
from tasks.outbox import send_pending
from tasks.recording.actions import decide_new_date, request_new_date
from tasks.recording.form import ActionIn, AuditForm
from tasks.recording.record import record_audit, withdraw_record
from tasks.self_audit import assign_self_audits
from tests.answering import plain_answers
from tests.conftest import BACKENDS, _load_question_sets, new_postgres_database
from tests.factories import (
    CM_A,
    MANAGER,
    SECOND_MANAGER,
    SERVICE_MANAGER,
    base_staff,
    staff_row,
    targeted_audit_service,
    write_csv,
)
from tests.smtp import text_of

HEIR = SECOND_MANAGER
YOUNG_PERSON = "Jordan Example"  # tests/factories.py's case: never in a calendar file (E5)


# --- the files as the emails carry them ----------------------------------------------------


@dataclass
class Sent:
    """One calendar file attached to one written email."""

    key: str
    to: str
    ics: str

    @property
    def calendar(self) -> vobject.base.Component:
        return vobject.readOne(self.ics)

    @property
    def method(self) -> str:
        return str(self.calendar.method.value)

    def events(self) -> dict[str, vobject.base.Component]:
        """The file's events by UID."""
        return {str(e.uid.value): e for e in self.calendar.vevent_list}


def sent_calendars(session: Session) -> list[Sent]:
    """Deliver what is queued (no SMTP host: written as .eml files) and read every calendar
    attachment back out of the files."""
    found = []
    for path in send_pending(session, get_settings()).files:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert YOUNG_PERSON not in text_of(message)  # E5, the emails around the files too
        for part in message.walk():
            if part.get_content_type() == "text/calendar":
                raw = part.get_payload(decode=True)
                assert isinstance(raw, bytes)
                # The METHOD inside is named on the part as well (RFC 6047), as Outlook reads it.
                method = re.search(r"^METHOD:(\w+)", raw.decode(), re.MULTILINE)
                assert method and part.get_param("method") == method[1]
                found.append(
                    Sent(str(message["X-Yotqa-Key"]).strip(), str(message["To"]), raw.decode())
                )
    for sent in found:
        # E5: case references only (lines unfolded, so a name split across a fold is found too)
        assert YOUNG_PERSON not in sent.ics.replace("\r\n ", "").replace("\r\n\t", "")
    return found


def one(sent: list[Sent], key_prefix: str, to: str) -> Sent:
    [found] = [s for s in sent if s.key.startswith(key_prefix) and to in s.to]
    return found


def sequence(event: vobject.base.Component) -> int:
    return int(event.sequence.value)


# --- the service ---------------------------------------------------------------------------


def record_with_action(session: Session, audit: Audit, owner: str) -> ActionPoint:
    """The audit recorded through the one recording path with one action point, due 29 January;
    its words name the young person, as people type them."""
    answers = plain_answers(session, audit)
    form = AuditForm(
        audit_id=audit.id,
        recorded_by=MANAGER,
        answers=answers,
        action_points=[
            ActionIn(
                priority=1,
                text=f"Review {YOUNG_PERSON}'s risk plan with the team",
                owner_email=owner,
                deadline=date(2027, 1, 29),
            )
        ],
    )
    record_audit(session, form, on=date(2026, 12, 10), source="test")
    return session.exec(select(ActionPoint).where(ActionPoint.audit_id == audit.id)).one()


def agree_new_date(session: Session, action: ActionPoint, new: date) -> None:
    owner = session.get(Staff, action.owner_id)
    request = request_new_date(
        session,
        action.id,
        by_id=owner.id,
        reason="The plan review moved",
        proposed_on=new,
        on=date(2027, 1, 20),
    )
    decide_new_date(session, request.id, by_id=request.decider_id, agree=True, on=date(2027, 1, 21))


def leave(session: Session, tmp_path: Path, email: str, on: date) -> None:
    """The staff list says `email` has left; the chase hands their work on."""
    rows = base_staff() + [
        staff_row(
            email=HEIR,
            name="Second Manager",
            role="operational_manager",
            line_manager_email=SERVICE_MANAGER,
        )
    ]
    for row in rows:
        if row["email"] == email:
            row["active"] = "no"
    import_file(session, ImportKind.STAFF, write_csv(tmp_path / "s2.csv", rows), as_of=on)
    chase(session, on, get_settings())
    session.commit()


@pytest.fixture
def service(session: Session, tmp_path: Path, settings_env: None) -> tuple[Session, Audit]:
    return session, targeted_audit_service(session, tmp_path)


# --- identities ----------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Brand-new migrated databases (each an installation of its own), on each backend."""
    drops: list[Callable[[], None]] = []

    def make() -> str:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / f'installation-{len(drops)}.db'}"
            drops.append(lambda: None)
        else:
            url, drop = new_postgres_database(request.getfixturevalue("postgres_server"))
            drops.append(drop)
        upgrade(url)
        _load_question_sets(url)
        return url

    yield make
    for drop in drops:
        drop()


def test_o5_two_installations_never_share_a_uid(
    new_database: Callable[[], str], tmp_path: Path, settings_env: None
) -> None:
    """O5: the same audit of the same case in two services: their entries' UIDs differ, so one
    calendar holding both keeps both; each installation's id is made once and kept."""
    uids = []
    for n in range(2):
        url = new_database()
        engine = make_engine(url)
        with Session(engine) as session:
            made = session.exec(select(Installation)).one()  # migration 0014 made it
            targeted_audit_service(session, tmp_path / f"service-{n}")
            [assignment] = sent_calendars(session)
            assert assignment.method == "PUBLISH"
            [(uid, event)] = assignment.events().items()
            assert made.uid in uid and uid.endswith("@yotqa")
            assert event.dtstart.value == date(2026, 12, 21) and sequence(event) == 0
            uids.append(uid)
        with Session(make_engine(url)) as other:  # another worker on the same database
            assert installation_id(other) == made.uid
        engine.dispose()
    assert uids[0] != uids[1]
    assert uids[0].split(".")[0] == uids[1].split(".")[0]  # the same audit in each


def test_o5_an_emptied_installation_table_is_filled_once_at_first_use(session: Session) -> None:
    """O5: a database built without the migrations (or the row lost) gets its id at first use,
    and keeps it."""
    session.execute(sa.delete(Installation))
    first = installation_id(session)
    session.commit()
    assert installation_id(session) == first and len(first) == 32
    assert len(session.exec(select(Installation)).all()) == 1


def test_o5_migration_0014_downgrades_and_upgrades_again(
    new_database: Callable[[], str],
) -> None:
    url = new_database()
    engine = make_engine(url)
    with engine.begin() as connection:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0013")
    assert "installation" not in sa.inspect(engine).get_table_names()
    assert "calendar_sequence" not in {c["name"] for c in sa.inspect(engine).get_columns("audit")}
    engine.dispose()
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        assert len(session.exec(select(Installation)).all()) == 1
    engine.dispose()


# --- updates and cancellations -------------------------------------------------------------


def test_o5_e1_an_agreed_new_date_is_the_same_entry_with_a_higher_sequence(
    service: tuple[Session, Audit],
) -> None:
    """O5, D3: the owner, and whoever else was sent the action point's entry, is sent it again:
    same UID, the new date, SEQUENCE raised; a refused date sends no calendar file."""
    session, audit = service
    sent_calendars(session)  # the assignment
    action = record_with_action(session, audit, CM_A)
    feedback = one(sent_calendars(session), "feedback:", CM_A)
    [(uid, first)] = feedback.events().items()
    assert feedback.method == "PUBLISH" and sequence(first) == 0
    assert first.dtstart.value == date(2027, 1, 29)
    assert str(first.summary.value) == "Action 1 due: case YJ26-00001"

    agree_new_date(session, action, date(2027, 2, 12))
    sent = sent_calendars(session)
    update = one(sent, "date-decided:", CM_A)
    assert update.method == "PUBLISH"
    moved = update.events()[uid]  # the same entry
    assert sequence(moved) == 1 and moved.dtstart.value == date(2027, 2, 12)
    # The line manager, sent the entry with the copy of the findings, has it moved too.
    copy = one(sent, "date-moved:", MANAGER).events()[uid]
    assert sequence(copy) == 1 and copy.dtstart.value == date(2027, 2, 12)
    assert {s.key.split(":")[0] for s in sent} == {"date-decided", "date-moved"}

    session.refresh(action)
    request = request_new_date(
        session,
        action.id,
        by_id=action.owner_id,
        reason="Again",
        proposed_on=date(2027, 3, 1),
        on=date(2027, 2, 1),
    )
    decide_new_date(
        session, request.id, by_id=request.decider_id, agree=False, note="No", on=date(2027, 2, 2)
    )
    assert not sent_calendars(session)  # refused: nothing in the calendar moves
    session.refresh(action)
    assert action.calendar_sequence == 1


def test_o5_a_leaver_is_sent_a_cancel_and_the_heir_an_entry_of_their_own(
    service: tuple[Session, Audit], tmp_path: Path
) -> None:
    """O5, E2: the leaver's entry is cancelled (same UID, higher SEQUENCE, STATUS:CANCELLED);
    the heir's entry has a UID of its own and the new deadline."""
    session, audit = service
    assignment = one(sent_calendars(session), "assignment:", MANAGER)
    [(uid, assigned)] = assignment.events().items()

    leave(session, tmp_path, MANAGER, date(2026, 12, 16))
    sent = sent_calendars(session)
    cancel = one(sent, "reassigned:", MANAGER)
    assert cancel.method == "CANCEL"
    gone = cancel.events()[uid]
    assert str(gone.status.value) == "CANCELLED" and sequence(gone) > sequence(assigned)
    assert gone.organizer.value.lower().startswith("mailto:")

    heirs = one(sent, "reassigned:", HEIR)
    assert heirs.method == "PUBLISH"
    [(heir_uid, event)] = heirs.events().items()
    assert heir_uid != uid and event.dtstart.value == date(2027, 1, 4)
    assert "STATUS" not in heirs.ics


def test_o5_a_withdrawn_record_cancels_its_action_points_for_everyone_sent_them(
    service: tuple[Session, Audit],
) -> None:
    """O5: the record's findings (the case manager) and their copy (the line manager), and the
    owner's agreed new date, each carried the entry: each is sent the cancellation, at a
    SEQUENCE above the last; recorded again, the new action points are new entries."""
    session, audit = service
    sent_calendars(session)
    action = record_with_action(session, audit, MANAGER)
    sent = sent_calendars(session)
    [uid] = one(sent, "feedback:", CM_A).events()
    assert list(one(sent, "feedback-copy:", MANAGER).events()) == [uid]
    agree_new_date(session, action, date(2027, 2, 12))
    [moved] = one(sent_calendars(session), "date-decided:", MANAGER).events().values()

    withdraw_record(session, audit.id, reason="Recorded against the wrong case")
    sent = sent_calendars(session)
    assert sorted(s.to for s in sent) == sorted([CM_A, MANAGER])
    for cancel in sent:
        assert cancel.key.startswith("actions-withdrawn:") and cancel.method == "CANCEL"
        gone = cancel.events()[uid]
        assert str(gone.status.value) == "CANCELLED" and sequence(gone) > sequence(moved)

    session.expire_all()
    again = record_with_action(session, session.get(Audit, audit.id), MANAGER)
    [new_uid] = one(sent_calendars(session), "feedback:", CM_A).events()
    assert new_uid != uid, (again.id, action.id)  # SQLite may hand the row the same id


def test_o5_a_leavers_withdrawn_self_audit_is_cancelled(
    service: tuple[Session, Audit], tmp_path: Path
) -> None:
    """O5, A2: a self-audit is withdrawn when its case manager leaves: its entry is cancelled."""
    session, _ = service
    assign_self_audits(session, date(2027, 2, 1), [CM_A])
    session.commit()
    [self_uid] = one(sent_calendars(session), "assignment:", CM_A).events()
    cm = session.exec(select(Staff).where(Staff.email == CM_A)).one()
    cm.active = False
    session.commit()
    reassign_leavers(session, date(2027, 2, 3))
    session.commit()
    cancel = one(sent_calendars(session), "self-audits-withdrawn:", CM_A)
    assert cancel.method == "CANCEL"
    assert str(cancel.events()[self_uid].status.value) == "CANCELLED"


def test_e5_calendar_files_name_cases_not_young_people(service: tuple[Session, Audit]) -> None:
    """E5: the action point's words name the young person; its entry does not (sent_calendars
    checks every file)."""
    session, audit = service
    record_with_action(session, audit, CM_A)
    sent = sent_calendars(session)
    assert sent and all("YJ26-00001" in s.ics for s in sent)
    assert session.exec(select(Case.young_person_name)).one() == YOUNG_PERSON


# --- a real calendar client ----------------------------------------------------------------


def khal_binary() -> str:
    found = shutil.which("khal")
    if found:
        return found
    if os.environ.get("YOTQA_REQUIRE_KHAL"):
        pytest.fail("khal is not installed: apt-get install khal")
    pytest.skip("khal is not installed (apt-get install khal); CI installs it")


class Khal:
    """One person's calendar in khal: a vdir and a configuration of their own."""

    def __init__(self, home: Path):
        self.binary = khal_binary()
        (home / "calendar").mkdir(parents=True)
        self.home = home
        self.config = home / "config"
        self.config.write_text(
            "[calendars]\n[[qa]]\n"
            f"path = {home / 'calendar'}\ntype = calendar\n"
            "[locale]\ntimeformat = %H:%M\ndateformat = %Y-%m-%d\nlongdateformat = %Y-%m-%d\n"
            "datetimeformat = %Y-%m-%d %H:%M\nlongdatetimeformat = %Y-%m-%d %H:%M\n"
            "default_timezone = Europe/London\nlocal_timezone = Europe/London\n"
            f"[sqlite]\npath = {home / 'khal.db'}\n"
        )

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [self.binary, "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "TZ": "Europe/London", "HOME": str(self.home)},
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def import_file(self, sent: Sent) -> None:
        path = self.home / f"{sent.key.replace(':', '_').replace('@', '_')}.ics"
        path.write_text(sent.ics)
        self.run("import", "--batch", str(path))

    def events(self) -> list[str]:
        """Every event from December 2026 to March 2027: '[CANCELLED ]date title'."""
        out = self.run(
            "list",
            "2026-12-01",
            "120d",
            "--day-format",
            "",
            "--format",
            "{cancelled}{start} {title}",
        )
        return [line for line in out.splitlines() if line.strip()]


def test_o5_khal_moves_the_entry_and_marks_the_cancelled_ones(
    service: tuple[Session, Audit], tmp_path: Path
) -> None:
    """O5 in a real calendar client: the team manager's calendar in khal takes their assignment
    and the action point they own, then the agreed new date (one entry moved, not two), the
    withdrawn record's cancellation and, once they leave, the audit's cancellation.

    khal has no iTIP: `khal import` replaces an entry of the same UID whatever its SEQUENCE
    and METHOD, so a cancelled entry stays, shown CANCELLED, rather than being deleted."""
    session, audit = service
    khal = Khal(tmp_path / "khal")
    khal.import_file(one(sent_calendars(session), "assignment:", MANAGER))
    assert khal.events() == ["2026-12-21 Audit due: case YJ26-00001 (Case file)"]

    action = record_with_action(session, audit, MANAGER)
    khal.import_file(one(sent_calendars(session), "feedback-copy:", MANAGER))
    action_title = "Action 1 due: case YJ26-00001"
    assert f"2027-01-29 {action_title}" in khal.events()

    agree_new_date(session, action, date(2027, 2, 12))
    khal.import_file(one(sent_calendars(session), "date-decided:", MANAGER))
    assert khal.events() == [
        "2026-12-21 Audit due: case YJ26-00001 (Case file)",
        f"2027-02-12 {action_title}",  # moved: the entry of 29 January is gone
    ]
    assert len(list((khal.home / "calendar").glob("*.ics"))) == 2

    withdraw_record(session, audit.id, reason="Recorded against the wrong case")
    khal.import_file(one(sent_calendars(session), "actions-withdrawn:", MANAGER))
    assert khal.events() == [
        "2026-12-21 Audit due: case YJ26-00001 (Case file)",
        f"CANCELLED 2027-02-12 {action_title}",
    ]

    leave(session, tmp_path, MANAGER, date(2026, 12, 16))
    khal.import_file(one(sent_calendars(session), "reassigned:", MANAGER))
    assert khal.events() == [
        "CANCELLED 2026-12-21 Audit due: case YJ26-00001 (Case file)",
        f"CANCELLED 2027-02-12 {action_title}",
    ]
    assert len(list((khal.home / "calendar").glob("*.ics"))) == 2
