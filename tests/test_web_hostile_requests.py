"""A hostile campaign against the people's pages (L1) served on a real port, on both backends
(tests/web_hostile_world.py): forms from elsewhere (CSRF, and a replayed submit), and
oversize or odd bodies, methods and headers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from models import Audit
from models.enums import AuditStatus
from models.settings import get_settings
from tasks.links import ITEMS, NOT_DONE, RECORD
from tasks.recording.record import NOT_DONE_REASONS
from tests.web_hostile_world import ANY, assigned, campaign, expect, nonce_of, warm_up
from tests.web_world import WORLD, World, csrf_of
from web.security import Csrf

pytestmark = WORLD  # a copy of the served world for each test (tests/web_world.py)

FORM = {"content-type": "application/x-www-form-urlencoded"}


# 3. Forms from elsewhere: CSRF, and a replayed submit ---------------------------------------


def test_forms_from_anywhere_else_are_refused_and_a_replay_records_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    audits = assigned(world)
    target, replayed = audits[0], audits[1]
    not_done = world.link(target.auditor_id, NOT_DONE, target.id)
    record = world.link(target.auditor_id, RECORD, target.id)
    items = world.link(target.auditor_id, ITEMS, target.auditor_id)
    replay = world.link(replayed.auditor_id, NOT_DONE, replayed.id)
    fields = {"reason": NOT_DONE_REASONS[1]}
    with campaign(world, monkeypatch, capfd) as hostile:
        warm_up(hostile, [not_done, record, items, replay])
        own = hostile.page(not_done)
        hostile.send("no CSRF field", "POST", not_done, 403, data=fields)
        hostile.send(
            "an empty CSRF field", "POST", not_done, 403, data={**fields, "csrf_token": ""}
        )
        hostile.send(
            "a wrong CSRF field", "POST", not_done, 403, data={**fields, "csrf_token": "A" * 43}
        )
        hostile.send(
            "an overlong CSRF field",
            "POST",
            not_done,
            403,
            data={**fields, "csrf_token": own + "A" * 100},
        )
        hostile.send(
            "the CSRF field of another link's page (the same person's audit form)",
            "POST",
            not_done,
            403,
            data={**fields, "csrf_token": hostile.page(record)},
        )
        hostile.send(
            "two CSRF fields, the good one first and a bad one last",
            "POST",
            not_done,
            403,
            content=urlencode([("csrf_token", own), *fields.items(), ("csrf_token", "A" * 43)]),
            headers=FORM,
        )
        bare = hostile.browser()
        bare_csrf = csrf_of(bare.get(not_done).text)
        bare.cookies.clear()
        hostile.send(
            "the CSRF cookie missing",
            "POST",
            not_done,
            403,
            client=bare,
            data={**fields, "csrf_token": bare_csrf},
        )
        other = hostile.browser()
        other.get(not_done)
        hostile.send(
            "another browser's cookie with this browser's field",
            "POST",
            not_done,
            403,
            client=other,
            data={**fields, "csrf_token": own},
        )
        hostile.send(
            "a cross-site form: another Origin, no cookie",
            "POST",
            not_done,
            403,
            client=hostile.browser(),
            data={**fields, "csrf_token": own},
            headers={"origin": "https://evil.example", "referer": "https://evil.example/x"},
        )
        hostile.send(
            "a CSRF cookie of a bad shape",
            "POST",
            not_done,
            403,
            client=hostile.browser(),
            data={**fields, "csrf_token": own},
            headers={"cookie": "yotqa_csrf=" + "%3Cscript%3E" * 8},
        )
        hostile.send(
            "a JSON body instead of a form",
            "POST",
            not_done,
            403,
            json={**fields, "csrf_token": own},
        )
        hostile.send(
            "a plain-text body",
            "POST",
            not_done,
            403,
            content=urlencode({"csrf_token": own, **fields}),
            headers={"content-type": "text/plain"},
        )
        hostile.send("the own-list page, which has no form", "POST", items, 403, data=fields)
        hostile.send("the own-list page opened", "GET", items, 200)
        perfect = Csrf(get_settings()).field(
            hostile.client.cookies["yotqa_csrf"], nonce_of(items[3:])
        )
        hostile.send(
            "the own-list page with a CSRF field made with the secret, as no one else can",
            "POST",
            items,
            405,
            data={"csrf_token": perfect},
        )
        # The replay: one good submit (its change asserted), then the same form again.
        form = {"reason": NOT_DONE_REASONS[0], "csrf_token": hostile.page(replay)}
        hostile.send(
            "a good not-done submit",
            "POST",
            replay,
            200,
            data=form,
            changes=expect(
                audit={"changed": [replayed.id]},
                auditevent={"added": 1},
                link={"added": ANY},
                emailmessage={"added": ANY},
            ),
        )
        again = hostile.send("the same submit replayed", "POST", replay, 410, data=form)
        assert "recorded as not done" in again.text
        world.session.expire_all()
        assert world.session.get(Audit, target.id).status is AuditStatus.ASSIGNED
        assert world.session.get(Audit, replayed.id).reason_not_completed == NOT_DONE_REASONS[0]


# 4. Bodies, methods and headers -------------------------------------------------------------


def test_oversize_odd_bodies_methods_and_headers_are_refused_plainly(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    audit = assigned(world)[0]
    record = world.link(audit.auditor_id, RECORD, audit.id)
    with campaign(world, monkeypatch, capfd) as hostile:
        warm_up(hostile, [record])
        csrf = hostile.page(record)
        big = hostile.send(
            "a body over 1 MiB, by its Content-Length",
            "POST",
            record,
            413,
            content=b"csrf_token=" + csrf.encode() + b"&e.x=" + b"x" * (1024 * 1024 + 10),
            headers=FORM,
        )
        assert "nothing was saved" in big.text

        def chunks() -> Iterator[bytes]:
            yield f"csrf_token={csrf}&op=save".encode()
            for n in range(300):  # small fields, so only the total is too large
                yield f"&f{n}=".encode() + b"x" * 4096

        hostile.send(
            "a chunked body with no Content-Length, over 1 MiB as it streams",
            "POST",
            record,
            413,
            content=chunks(),
            headers=FORM,
        )
        hostile.send(
            "one field over 64 KiB",
            "POST",
            record,
            400,
            data={"csrf_token": csrf, "op": "save", "good_practice": "x" * 70_000},
        )
        hostile.send(
            "a multipart upload",
            "POST",
            record,
            400,
            data={"csrf_token": csrf, "op": "save"},
            files={"evidence": ("case.pdf", b"%PDF-1.4 hostile", "application/pdf")},
        )
        hostile.send(
            "more than 800 form fields",
            "POST",
            record,
            400,
            data={"csrf_token": csrf, "op": "save", **{f"f{n}": "x" for n in range(801)}},
        )
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
            hostile.send(f"{method} on a link", method, record, 405, data={"csrf_token": csrf})
        head = hostile.send("HEAD on a link", "HEAD", record, 405)
        assert head.content == b""
        host = hostile.send(
            "a Host header of another site", "GET", record, 200, headers={"host": "evil.example"}
        )
        assert "evil.example" not in host.text
        assert all(
            u.startswith("http://testserver/") for u in re.findall(r'href="(http[^"]+)"', host.text)
        )
        long = hostile.send(
            "a very long CSRF cookie",
            "GET",
            record,
            200,
            client=hostile.browser(),
            headers={"cookie": "yotqa_csrf=" + "A" * 8_000},
        )
        fresh = long.cookies.get("yotqa_csrf")
        assert fresh and len(fresh) < 100  # a new cookie, not the one sent back
        assert re.search(r"HttpOnly", long.headers["set-cookie"], re.I)
        assert re.search(r"SameSite=lax", long.headers["set-cookie"], re.I)
        hostile.send(
            "forty cookies of 1 kB",
            "GET",
            record,
            200,
            client=hostile.browser(),
            headers={"cookie": "; ".join(f"c{n}={'B' * 1000}" for n in range(40))},
        )
        for what, target in {
            "static traversal /static/../models/settings.py": b"/static/../models/settings.py",
            "static traversal two up": b"/static/../../models/settings.py",
            "static traversal with %2f": b"/static/..%2f..%2fmodels%2fsettings.py",
            "static traversal with %2e%2e": b"/static/%2e%2e/%2e%2e/models/settings.py",
            "static traversal to the app": b"/static/../app.py",
            "static traversal to the secret": b"/static/../../var/web-secret",
        }.items():
            response = hostile.send(what, "GET", "/", 404, target=target)
            assert "Settings" not in response.text and "create_app" not in response.text
        css = hostile.send("the stylesheet itself", "GET", "/static/yotqa.css", 200)
        assert css.headers.get("cache-control") != "no-store"
        world.session.expire_all()
        assert world.session.get(Audit, audit.id).status is AuditStatus.ASSIGNED
