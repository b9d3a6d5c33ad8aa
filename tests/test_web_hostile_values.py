"""A hostile campaign against the people's pages (L1) served on a real port, on both backends
(tests/web_hostile_world.py): values no form should hold, shown beside their field and never
stored.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from models import ActionPoint, Audit, AuditDraft
from models.enums import ActionStatus, AnswerType, AuditStatus
from tasks.links import ACTION_DONE, NEW_DATE, RECORD
from tests.web_hostile_world import ANY, answers, assigned, campaign, codes, expect, warm_up
from tests.web_world import WORLD, World

pytestmark = WORLD  # a copy of the served world for each test (tests/web_world.py)


# 5. Values no form should hold ---------------------------------------------------------------


def test_values_no_form_should_hold_are_shown_beside_their_field_and_never_stored(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Each audit form is a submit with every other answer good: it comes back 400 with the
    value beside its field, the audit still assigned, and only the draft (what was typed, kept
    as typed) changed. The action and decide forms change nothing at all."""
    session = world.session
    action = world.action_of_case_manager()
    audit = assigned(world)[0]
    record = world.link(audit.auditor_id, RECORD, audit.id)
    done = world.link(action.owner_id, ACTION_DONE, action.id)
    new_date = world.link(action.owner_id, NEW_DATE, action.id)
    judgement = codes(world, audit, AnswerType.JUDGEMENT)[0]
    yes_no = codes(world, audit, AnswerType.YES_NO)[0]
    count = codes(world, audit, AnswerType.COUNT)[0]
    owner = world.person(audit.subject_staff_id).email
    good = {**answers(world, audit), "op": "submit"}
    row = {
        "action.1.text": "Countersign the plan",
        "action.1.owner": owner,
        "action.1.deadline": "2026-12-18",
        "action.1.priority": "1",
        # A4 (§5): a good support need beside them
        "need.1.theme": "Court and reports",
        "need.1.scope": "individual",
        "need.1.review_on": "2027-01-15",
    }
    cases = {
        f"q.{judgement}": ["brilliant", "<script>alert(1)</script>", "very good indeed"],
        f"q.{yes_no}": ["maybe", "yes' OR '1'='1"],
        f"q.{count}": ["-1", "1" + "0" * 30, "2.5", "1e3", "NaN", "0x10", "<b>3</b>"],
        "action.1.deadline": [
            "2026-12-01",  # in the past
            "not a date",
            "2099-01-01",
            "2026-02-30",
            "<b>",
        ],
        "action.1.owner": ["nobody@evil.example", "<script>@x", ""],
        "action.1.priority": ["0", "-1", "1.5", "one", "\u00b2", "\u0663", "9" * 30],
        "need.1.theme": ["Juggling", "<script>alert(1)</script>", "Court and reports' OR '1'='1"],
        "need.1.scope": ["everyone", "<b>team</b>", "team' OR '1'='1"],
        "need.1.review_on": ["2026-12-01", "not a date", "2099-01-01", "2026-02-30", "<b>"],
    }
    with campaign(world, monkeypatch, capfd) as hostile:
        warm_up(hostile, [record, done, new_date])
        csrf = hostile.page(record)
        for name, values in cases.items():
            for value in values:
                fields = {**good, **row, name: value}
                response = hostile.send(
                    f"{name}={value!r}",
                    "POST",
                    record,
                    400,
                    data={**fields, "csrf_token": csrf},
                    changes=expect(auditdraft={"added": ANY, "changed": ANY}),
                )
                assert f'id="{name}-error"' in response.text, (name, value)
                assert "<script>" not in response.text and "<b>" not in response.text
                draft = session.exec(
                    select(AuditDraft).where(AuditDraft.audit_id == audit.id)
                ).one()
                session.refresh(draft)
                assert draft.fields.get(name) == value.strip(), (name, value)
        twice = {
            **good,
            **row,
            "action.2.text": "Review the VMP",
            "action.2.owner": owner,
            "action.2.deadline": "2026-12-19",
            "action.2.priority": "1",
        }
        response = hostile.send(
            "two action points of priority 1",
            "POST",
            record,
            400,
            data={**twice, "csrf_token": csrf},
            changes=expect(auditdraft={"changed": ANY}),
        )
        assert 'id="action.2.priority-error"' in response.text
        hostile.send(
            "a question this audit's tool does not have, and nothing else wrong but a count",
            "POST",
            record,
            400,
            data={**good, "q.no_such_question": "good", f"q.{count}": "-5", "csrf_token": csrf},
            changes=expect(auditdraft={"changed": ANY}),
        )
        draft = session.exec(select(AuditDraft).where(AuditDraft.audit_id == audit.id)).one()
        session.refresh(draft)
        assert "q.no_such_question" not in draft.fields  # only the page's own fields are kept
        hostile.send(
            "an absurd number of action rows",
            "POST",
            record,
            200,
            data={"csrf_token": csrf, "op": "save", "rows": "9" * 40},
            changes=expect(auditdraft={"changed": ANY}),
        )
        session.refresh(draft)
        assert draft.fields["rows"] == "50"

        csrf = hostile.page(done)
        for value in ("2026-02-30", "<b>", "", "03/12/2026", "9999-12-31", "0001-01-01"):
            response = hostile.send(
                f"done_on={value!r}",
                "POST",
                done,
                400,
                data={"csrf_token": csrf, "done_on": value, "note": "Done"},
            )
            assert 'id="done_on-error"' in response.text and "<b>" not in response.text
        csrf = hostile.page(new_date)
        for value in ("2026-02-30", "<b>", "9999-12-31", "2026-12-01", "2099-01-01"):
            response = hostile.send(
                f"proposed_on={value!r}",
                "POST",
                new_date,
                400,
                data={"csrf_token": csrf, "proposed_on": value, "reason": "Leave"},
            )
            assert 'id="proposed_on-error"' in response.text and "<b>" not in response.text
        hostile.send(
            "a new date with no reason",
            "POST",
            new_date,
            400,
            data={"csrf_token": csrf, "proposed_on": "2027-01-15", "reason": "   "},
        )
        hostile.send(
            "a reason over 2,000 characters",
            "POST",
            new_date,
            400,
            data={"csrf_token": csrf, "proposed_on": "2027-01-15", "reason": "x" * 2_001},
        )
        session.expire_all()
        assert session.get(Audit, audit.id).status is AuditStatus.ASSIGNED
        assert session.get(ActionPoint, action.id).status is ActionStatus.OPEN
