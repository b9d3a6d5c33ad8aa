"""A hostile campaign against the people's pages (L1) served on a real port, on both backends
(tests/web_hostile_world.py): forged and malformed links (403, or 404 where the address is no
link at all), dead links and someone else's (410), and the failure limit (429).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, timedelta

import pytest
from itsdangerous import Signer
from sqlmodel import select

from models import ActionPoint, Audit, DeadlineRequest, Link
from models.enums import ActionStatus
from models.settings import get_settings
from tasks.chase import chase
from tasks.links import ACTION_DONE, DECIDE, NEW_DATE, NOT_DONE, RECORD, revoke, web_secret
from tasks.recording.actions import request_new_date
from tasks.recording.form import ActionIn
from tests.web_hostile_world import (
    ACTION_DEADLINE,
    Campaign,
    answers,
    assigned,
    campaign,
    deliver,
    nonce_of,
    warm_up,
)
from tests.web_world import TODAY, WORLD, World, csrf_of

pytestmark = WORLD  # a copy of the served world for each test (tests/web_world.py)


def forged_token(hostile: Campaign) -> str:
    token = f"{secrets.token_urlsafe(16)}.{secrets.token_urlsafe(32)}"
    hostile.made_up.append(token)
    return token


# 1. Forged and malformed links: 403, or 404 where the address is no link at all --------------


def test_forged_and_malformed_links_are_refused_and_change_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    audit = assigned(world)[0]
    record = world.link(audit.auditor_id, RECORD, audit.id)
    not_done = world.link(audit.auditor_id, NOT_DONE, audit.id)
    token = record[len("/l/") :]
    nonce, signature = token.split(".")
    with campaign(world, monkeypatch, capfd) as hostile:
        warm_up(hostile, [record, not_done])
        secret = web_secret(get_settings())
        other_secret = Signer(
            "another service's secret, long enough", salt="yotqa.link", digest_method=hashlib.sha256
        )
        csrf_salt = Signer(secret, salt="yotqa.csrf", digest_method=hashlib.sha256)
        link_salt = Signer(secret, salt="yotqa.link", digest_method=hashlib.sha256)
        flipped = ("A" if signature[0] != "A" else "B") + signature[1:]  # 6 bits of the HMAC
        no_such = link_salt.sign(secrets.token_urlsafe(16)).decode()
        forged = {
            "a random token of the right shape": forged_token(hostile),
            "the real nonce with the first character of its signature changed": (
                f"{nonce}.{flipped}"
            ),
            "the real nonce signed with another secret": other_secret.sign(nonce).decode(),
            "the real nonce signed with the CSRF salt": csrf_salt.sign(nonce).decode(),
            "a nonce no link has, signed with the real secret": no_such,
            "the real token cut short by five characters": token[:-5],
            "the real token cut at the dot": f"{nonce}.",
            "the nonce alone": nonce,
            "the signature alone": signature,
            "the real token twice, joined by a dot": f"{token}.{token}",
            "the real token with 10 kB more": token + "A" * 10_240,
            "a 10 kB token": "A" * 10_240,
            "the real token upper-cased": token.upper(),
            "the real token with a Cyrillic a for its first letter": "\u0430" + token[1:],
            "unicode": "ünïcødé.ßïgnåtürę-\u202e\U0001f600",
        }
        for what, bad in forged.items():
            hostile.made_up.append(bad)
            response = hostile.send(what, "GET", f"/l/{bad}", 403)
            assert "This link does not work" in response.text, what
            assert bad not in response.text, what
        csrf = csrf_of(hostile.client.get(record).text)
        for what, bad in list(forged.items())[:3]:
            hostile.send(
                f"POST with {what}",
                "POST",
                f"/l/{bad}",
                403,
                data={"csrf_token": csrf, "op": "submit", **answers(world, audit)},
            )
        raw = {
            "path traversal /l/../..%2f": (b"/l/../..%2f", 404),
            "path traversal to the settings": (b"/l/..%2f..%2fmodels%2fsettings.py", 404),
            "an encoded dot-dot token": (b"/l/%2e%2e", 403),
            "a NUL in the token": (b"/l/abc%00def.ghi", 403),
            "a token of spaces": (b"/l/%20%20%20", 403),
            "no token at all": (b"/l/", 404),
        }
        for what, (target, status) in raw.items():
            response = hostile.send(what, "GET", "/", status, target=target)
            assert "class Settings" not in response.text, what
        trailing = hostile.send("the real token with a slash after it", "GET", record + "/", 404)
        assert "location" not in trailing.headers  # never redirected (the Host could be anyone's)
        response = hostile.send(
            "a query string trying to change the purpose and the item",
            "GET",
            record + f"?purpose={DECIDE}&item_id=1&token=../../etc/passwd",
            200,
        )
        assert "audit of case" in response.text
        hostile.send("a query string on /l/ with no token", "GET", "/l/?token=x", 404)
        assert hostile.send("a token in a query string on /", "GET", "/?t=abc.def", 200).text
        hostile.send("the API docs FastAPI would serve", "GET", "/docs", 404)
        hostile.send("the OpenAPI schema", "GET", "/openapi.json", 404)


# 2. Dead links: expired, reassigned, recorded, someone else's: 410 --------------------------


def test_dead_and_not_yours_links_are_gone_and_change_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    session = world.session
    action = world.action_of_case_manager()  # the month's last case-file audit, recorded
    audits = assigned(world)
    recorded, revoked, reassigned, expired = audits[0], audits[1], audits[2], audits[3]
    # A second recorded audit with two action points of its case manager.
    owner = world.person(audits[4].subject_staff_id)
    world.record(
        audits[4],
        [
            ActionIn(priority=n, text=f"Action {n}", owner_email=owner.email, deadline=d)
            for n, d in ((1, ACTION_DEADLINE), (2, ACTION_DEADLINE + timedelta(days=1)))
        ],
    )
    moved, asked = session.exec(
        select(ActionPoint)
        .where(ActionPoint.audit_id == audits[4].id)
        .order_by(ActionPoint.priority)  # type: ignore[arg-type]
    ).all()
    used = {a.auditor_id for a in audits[:5]} | {
        owner.id,
        owner.line_manager_id,
        action.owner_id,
        world.person(action.owner_id).line_manager_id,
    }
    leaver_audit = next(a for a in audits[5:] if a.auditor_id not in used)
    heir = next(
        a.auditor_id for a in audits if a.auditor_id not in used | {leaver_audit.auditor_id}
    )
    paths = {
        "recorded": world.link(recorded.auditor_id, RECORD, recorded.id),
        "recorded-not-done": world.link(recorded.auditor_id, NOT_DONE, recorded.id),
        "revoked": world.link(revoked.auditor_id, RECORD, revoked.id),
        "reassigned": world.link(reassigned.auditor_id, RECORD, reassigned.id),
        "expired": world.link(expired.auditor_id, NOT_DONE, expired.id),
        "leaver": world.link(leaver_audit.auditor_id, RECORD, leaver_audit.id),
        "moved": world.link(moved.owner_id, ACTION_DONE, moved.id),
        "asked-new-date": world.link(asked.owner_id, NEW_DATE, asked.id),
        "asked-done": world.link(asked.owner_id, ACTION_DONE, asked.id),
        "live": world.link(action.owner_id, ACTION_DONE, action.id),
    }
    with campaign(world, monkeypatch, capfd) as hostile:
        warm_up(hostile, list(paths.values()))
        # Now each dies its own way.
        world.record(recorded)
        revoke(
            session,
            "audit",
            revoked.id,  # type: ignore[arg-type]
            "This audit was reassigned to someone else: it is no longer yours to do.",
        )
        reassigned.auditor_id = heir
        link = session.exec(select(Link).where(Link.nonce == nonce_of(paths["expired"][3:]))).one()
        link.expires_on = TODAY - timedelta(days=1)
        moved.owner_id = heir  # the action point is given to someone else
        request = request_new_date(
            session,
            asked.id,  # type: ignore[arg-type]
            by_id=asked.owner_id,
            reason="On leave",
            proposed_on=date(2027, 1, 15),
            on=TODAY,
        )
        leaver = world.person(leaver_audit.auditor_id)
        leaver.active = False
        session.commit()
        chase(session, TODAY, get_settings())  # the leaver's audits go to someone else
        session.commit()
        paths["owner-decide"] = world.link(asked.owner_id, DECIDE, request.id)  # never sent
        paths["decide"] = world.link(request.decider_id, DECIDE, request.id, request.proposed_on)
        session.expire_all()
        assert session.get(Audit, leaver_audit.id).auditor_id != leaver.id
        warm_up(hostile, [paths["decide"]])
        decide_csrf = csrf_of(hostile.client.get(paths["decide"]).text)
        live_csrf = csrf_of(hostile.client.get(paths["live"]).text)

        dead = {
            "recorded": ("a link for an audit already recorded", "was recorded on"),
            "recorded-not-done": ("the not-done link of a recorded audit", "was recorded on"),
            "revoked": ("a link revoked when its audit was reassigned", "no longer yours"),
            "reassigned": ("a link of an audit now another auditor's", "reassigned"),
            "expired": ("an expired link", "expired"),
            "leaver": ("a leaver's link after the chase reassigned it", "no longer on"),
            "moved": ("a link for an action point now someone else's", "someone else"),
            "asked-new-date": ("a new-date link while a new date waits", "waits for"),
            "owner-decide": ("a decide link of the owner, not the manager", "not yours"),
        }
        for key, (what, says) in dead.items():
            response = hostile.send(what, "GET", paths[key], 410)
            assert says in response.text, (what, response.text[:800])
            hostile.send(
                f"POST {what}",
                "POST",
                paths[key],
                410,
                data={"csrf_token": live_csrf, "decision": "agree", "done_on": TODAY.isoformat()},
            )
        hostile.send(
            "the owner's action link POSTed with the decide fields and another form's CSRF",
            "POST",
            paths["asked-done"],
            403,
            data={"csrf_token": live_csrf, "decision": "agree", "note": "I agree with myself"},
        )
        owners = csrf_of(hostile.client.get(paths["asked-done"]).text)
        hostile.send(
            "the owner's own done form with the decide fields and no date",
            "POST",
            paths["asked-done"],
            400,
            data={"csrf_token": owners, "decision": "agree", "note": "I agree with myself"},
        )
        hostile.send(
            "the manager's decide form with the owner's CSRF field",
            "POST",
            paths["decide"],
            403,
            data={"csrf_token": owners, "decision": "agree"},
        )
        hostile.send(
            "the manager's decide form with an unknown decision",
            "POST",
            paths["decide"],
            400,
            data={"csrf_token": decide_csrf, "decision": "agree-and-cancel"},
        )
        session.expire_all()
        assert session.get(DeadlineRequest, request.id).status == "pending"
        assert session.get(ActionPoint, asked.id).status is ActionStatus.OPEN


# 7. The failure limit ----------------------------------------------------------------------


def test_too_many_failed_checks_from_one_address_are_refused_for_a_while(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Forged links and forms that fail their CSRF check count; dead links (410) do not; once
    the count reaches YOTQA_WEB_FAILED_CHECKS, every link from that address is refused (429)."""
    audits = assigned(world)
    record = world.link(audits[0].auditor_id, RECORD, audits[0].id)
    dead = world.link(audits[1].auditor_id, RECORD, audits[1].id)
    with campaign(world, monkeypatch, capfd, failed_checks=3) as hostile:
        warm_up(hostile, [record, dead])
        world.record(audits[1])
        deliver(world)
        csrf = hostile.page(record)
        for n in range(5):
            hostile.send(f"dead link {n + 1}, which does not count", "GET", dead, 410)
        hostile.send("forged link 1", "GET", f"/l/{forged_token(hostile)}", 403)
        hostile.send(
            "forged link 2, POSTed", "POST", f"/l/{forged_token(hostile)}", 403, data={"a": "b"}
        )
        hostile.send(
            "a good link with a wrong CSRF field: failure 3",
            "POST",
            record,
            403,
            data={"csrf_token": "A" * 43, "op": "save"},
        )
        blocked = hostile.send("the good link, now refused", "GET", record, 429)
        assert "Wait ten minutes" in blocked.text
        hostile.send(
            "the good link's own form, now refused",
            "POST",
            record,
            429,
            data={"csrf_token": csrf, "op": "save", "high_risk": "x"},
        )
        hostile.send("a dead link, now refused too", "GET", dead, 429)
        hostile.send("a forged link, still refused", "GET", f"/l/{forged_token(hostile)}", 429)
        hostile.send("the health check is not a link", "GET", "/healthz", 200)
        hostile.send("the home page is not a link", "GET", "/", 200)
