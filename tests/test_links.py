"""People's links (L1): one person, one item, one purpose; unguessable, expiring, and dead once
the item is done, withdrawn or given to someone else."""

from __future__ import annotations

import base64
import hashlib
import stat
from datetime import date, timedelta

import pytest
from itsdangerous import Signer
from sqlmodel import select

from models import Audit, Case, Link, Staff
from models.enums import AuditStatus
from models.errors import ConfigError
from models.settings import get_settings
from tasks.chase import chase
from tasks.links import (
    ACTION_DONE,
    ITEMS,
    NOT_DONE,
    RECORD,
    LinkRefused,
    check,
    web_secret,
)
from tasks.recording.actions import complete_action
from tasks.recording.record import mark_not_done, withdraw_record
from tests.web_world import TODAY, WORLD, World

pytestmark = WORLD  # a copy of the served world for each test (tests/web_world.py)


def _token(path: str) -> str:
    return path.removeprefix("/l/")


def _refused(world: World, path: str, on: date = TODAY) -> LinkRefused:
    with pytest.raises(LinkRefused) as refused:
        check(world.session, _token(path), get_settings(), on)
    world.session.rollback()
    return refused.value


def test_token_is_random_signed_and_names_nothing(world: World) -> None:
    audit = world.audit()
    auditor = world.person(audit.auditor_id)
    form, other = (
        world.link(auditor.id, RECORD, audit.id),
        world.link(auditor.id, NOT_DONE, audit.id),
    )
    assert form != other  # one purpose each
    token = _token(form)
    nonce, signature = token.split(".")
    assert len(nonce) >= 22 and len(base64.urlsafe_b64decode(signature + "=")) == 32  # HMAC-SHA256
    readable = base64.urlsafe_b64decode(nonce + "==").decode("latin-1") + token
    case_ref = world.session.get(Case, audit.case_id).case_ref
    for secret in (case_ref, auditor.email, auditor.name.split()[0], f"audit{audit.id}", "record"):
        assert secret.lower() not in readable.lower()
    # The random part is fresh for every new link: 16 random bytes, never repeated.
    nonces = {world.session.get(Link, i).nonce for i in range(1, 3)}
    assert len(nonces) == 2
    grant = check(world.session, token, get_settings(), TODAY)
    assert (grant.person.id, grant.purpose, grant.item_id) == (auditor.id, RECORD, audit.id)
    # The same item and purpose for the same person reuses the live link (every email agrees).
    assert world.link(auditor.id, RECORD, audit.id) == form


def test_forged_or_altered_tokens_are_refused_with_403(world: World) -> None:
    audit = world.audit()
    token = _token(world.link(audit.auditor_id, RECORD, audit.id))
    nonce, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for bad in (flipped, "x" * 43):
        assert _refused(world, f"/l/{nonce}.{bad}").status == 403
    assert _refused(world, f"/l/{token[:-5]}").status == 403  # cut short when copied
    assert _refused(world, "/l/not-a-token").status == 403
    other_secret = Signer(
        "another service's secret key, 32+ chars", salt="yotqa.link", digest_method=hashlib.sha256
    )
    assert _refused(world, "/l/" + other_secret.sign(nonce).decode()).status == 403


def test_links_die_when_the_audit_is_recorded_or_not_done_or_withdrawn(world: World) -> None:
    first, second = world.session.exec(
        select(Audit).where(Audit.status == AuditStatus.ASSIGNED).order_by(Audit.id)
    ).all()[:2]
    form = world.link(first.auditor_id, RECORD, first.id)
    world.record(first)
    refused = _refused(world, form)
    assert refused.status == 410 and "was recorded on" in refused.message
    assert refused.person_id == first.auditor_id  # their other items are offered
    # A record withdrawn by an admin makes the audit assigned again: the form link lives again.
    withdraw_record(world.session, first.id, reason="wrong file read")
    assert check(world.session, _token(form), get_settings(), TODAY).item_id == first.id
    not_done = world.link(second.auditor_id, NOT_DONE, second.id)
    mark_not_done(world.session, second.id, reason="Case transferred out of area", on=TODAY)
    assert "not done: Case transferred out of area" in _refused(world, not_done).message
    world.session.get(Audit, first.id).status = AuditStatus.WITHDRAWN
    world.session.commit()
    assert "withdrawn" in _refused(world, form).message


def test_links_expire_a_set_time_after_the_items_deadline(world: World, monkeypatch) -> None:
    audit = world.audit()
    form = world.link(audit.auditor_id, RECORD, audit.id, audit.due_on)
    last = audit.due_on + timedelta(days=get_settings().web_link_days)
    assert (
        world.session.exec(select(Link).where(Link.purpose == RECORD, Link.item_id == audit.id))
        .first()
        .expires_on
        == last
    )
    assert check(world.session, _token(form), get_settings(), last).item_id == audit.id
    refused = _refused(world, form, on=last + timedelta(days=1))
    assert refused.status == 410 and "expired" in refused.title
    monkeypatch.setenv("YOTQA_WEB_LINK_DAYS", "7")
    get_settings.cache_clear()
    other = world.session.exec(
        select(Audit).where(Audit.id != audit.id, Audit.status == AuditStatus.ASSIGNED)
    ).first()
    for old in world.session.exec(select(Link).where(Link.item_id == other.id)):
        world.session.delete(old)  # the assignment email's own links, made with 30 days
    world.link(other.auditor_id, RECORD, other.id, other.due_on)
    made = world.session.exec(
        select(Link).where(Link.item_id == other.id, Link.purpose == RECORD)
    ).first()
    assert made.expires_on == other.due_on + timedelta(days=7)


def test_reassigned_audits_links_stop_and_say_why_and_the_new_auditor_gets_their_own(
    world: World,
) -> None:
    audit = world.audit()
    leaver = world.person(audit.auditor_id)
    old = world.link(leaver.id, RECORD, audit.id)
    leaver.active = False
    world.session.commit()
    chase(world.session, TODAY, get_settings())
    world.session.expire_all()
    heir_id = world.session.get(Audit, audit.id).auditor_id
    assert heir_id != leaver.id
    leaver.active = True  # even back on the staff list, the old link stays dead
    world.session.commit()
    refused = _refused(world, old)
    assert (
        refused.status == 410
        and "reassigned to" in refused.message
        and "is no longer yours" in refused.message
    )
    email = next(m for m in world.emails("reassigned") if world.person(heir_id).email in m.to_addrs)
    from tests.web_world import links_in

    new_links = links_in(email.body_text)
    assert new_links and links_in(email.body_html) == new_links
    grant = check(world.session, _token(new_links[0]), get_settings(), TODAY)
    assert (grant.person.id, grant.item_id) == (heir_id, audit.id)
    leaver_email = next(m for m in world.emails("reassigned") if leaver.email in m.to_addrs)
    assert not links_in(leaver_email.body_text + leaver_email.body_html)  # nothing to act on


def test_someone_elses_item_or_a_leaver_is_refused(world: World) -> None:
    action = world.action_of_case_manager()
    owner = world.person(action.owner_id)
    done = world.link(owner.id, ACTION_DONE, action.id, action.deadline)
    other = world.session.exec(select(Staff).where(Staff.id != owner.id, Staff.active)).first()
    action.owner_id = other.id  # handed to someone else
    world.session.commit()
    assert "belongs to someone else" in _refused(world, done).message
    action.owner_id = owner.id
    world.session.commit()
    complete_action(world.session, action.id, on=TODAY)
    assert "marked done" in _refused(world, done).message
    items = world.link(owner.id, ITEMS, owner.id)
    owner.active = False
    world.session.commit()
    assert "no longer on the service's staff list" in _refused(world, items).message


def test_secret_is_made_once_owner_readable_and_a_short_one_is_refused(
    world: World, monkeypatch
) -> None:
    settings = get_settings()
    key = web_secret(settings)
    path = world.var / "web-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(key) >= 32
    assert web_secret(settings) == key
    monkeypatch.setenv("YOTQA_WEB_SECRET", "short")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="too short"):
        web_secret(get_settings())


def test_digest_carries_each_readers_own_links_and_no_one_elses(world: World) -> None:
    """E2 with L1: a chase copied to a line manager carries links only for the manager's own
    items; the owner's digest has the links to act on theirs, in the text and the HTML."""
    from tasks.workdays import add_working_days
    from tests.web_world import links_in

    audit = next(
        a
        for a in world.session.exec(select(Audit).where(Audit.status == AuditStatus.ASSIGNED))
        if world.person(a.auditor_id).line_manager_id
    )
    day = add_working_days(audit.due_on, 1)  # overdue: chased, the line manager copied
    chase(world.session, day, get_settings())
    digests = world.emails("digest")
    assert digests
    seen_other = False
    for message in digests:
        reader = world.session.exec(select(Staff).where(Staff.email == message.to_addrs[0])).one()
        paths = links_in(message.body_text)
        assert paths and set(links_in(message.body_html)) == set(paths)
        for path in paths:
            grant = check(world.session, _token(path), get_settings(), day)
            assert grant.person.id == reader.id  # never someone else's link
        seen_other = seen_other or "overdue in your team" in message.body_text.lower()
    assert seen_other  # a line manager's copy was among them, and held none of theirs
    auditor = world.person(audit.auditor_id)
    own = next(m for m in digests if m.to_addrs == [auditor.email])
    purposes = {
        (g.purpose, g.item_id)
        for g in (
            check(world.session, _token(p), get_settings(), day) for p in links_in(own.body_text)
        )
    }
    assert {(RECORD, audit.id), (NOT_DONE, audit.id), (ITEMS, auditor.id)} <= purposes
