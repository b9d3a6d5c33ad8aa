"""H2: the inspection-style tool's key questions counted from the database, rated per standard:
for the quarterly pack's section (with the last eight quarters) and the mock inspection's report."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import asdict
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from models import Audit, Finding, Question
from models.enums import APART, AnswerType, AuditStatus, Judgement
from tasks.inspection.ratings import KeyShare, RatingsSpec, StandardRating, rate, wilson
from tasks.packs.figures import TREND_QUARTERS
from tasks.workdays import Quarter

WEAKEST = 5  # key questions listed as most often not sufficient


def key_counts(
    session: Session,
    first_day: date,
    last_day: date,
    audit_ids: Collection[int] | None = None,
) -> list[tuple[str, str, list[KeyShare], int]]:
    """Every standard's key questions as (standard, title, keys, cases), from the management
    audits completed between the two days (or only `audit_ids`), standards in order. A standard
    answered only "not applicable" is there with nothing judged (not rated); a key question's
    words are its newest version's."""
    query = _judged(
        sa.select(
            col(Question.standard),
            col(Question.section),
            col(Question.code),
            col(Question.text),
            col(Finding.judgement),
            col(Finding.audit_id),
        ),
        first_day,
        last_day,
        audit_ids,
    ).order_by(col(Question.standard), col(Question.question_set_id).desc(), col(Question.position))
    titles: dict[str, str] = {}
    texts: dict[tuple[str, str], str] = {}
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    cases: dict[str, set[int]] = defaultdict(set)
    for standard, section, code, text, judgement, audit_id in session.execute(query).tuples():
        titles.setdefault(standard, section)
        texts.setdefault((standard, code), text)
        tally = counts[(standard, code)]
        if judgement is not Judgement.NOT_APPLICABLE:
            tally[0] += judgement is Judgement.SUFFICIENT
            tally[1] += 1
            cases[standard].add(audit_id)
    result = []
    for standard in sorted(titles, key=_order):
        keys = [
            KeyShare(code, texts[(s, code)], *counts[(s, code)])
            for (s, code) in texts
            if s == standard
        ]
        result.append((standard, titles[standard], keys, len(cases[standard])))
    return result


def _judged(
    query: sa.Select[Any], first_day: date, last_day: date, audit_ids: Collection[int] | None
) -> sa.Select[Any]:
    """`query` over the key questions answered in the management audits completed between the
    two days (or only `audit_ids`)."""
    query = (
        query.select_from(Question)
        .join(Finding, col(Finding.question_id) == Question.id)
        .join(Audit, col(Audit.id) == Finding.audit_id)
        .where(
            col(Question.answer_type) == AnswerType.SUFFICIENCY,
            col(Question.standard) != "",
            col(Audit.status) == AuditStatus.COMPLETED,
            col(Audit.kind).not_in(APART),
            col(Audit.completed_on).between(first_day, last_day),
            col(Finding.judgement).is_not(None),
        )
    )
    return query if audit_ids is None else query.where(col(Audit.id).in_(list(audit_ids)))


def audited(session: Session, first_day: date, last_day: date) -> int:
    """How many audits answered at least one key question between the two days."""
    query = _judged(sa.select(col(Finding.audit_id)), first_day, last_day, None)
    return len(set(session.execute(query).scalars()))


def _order(standard: str) -> tuple[int, ...]:
    return tuple(int(p) for p in standard.split("."))


def ratings(
    session: Session,
    first_day: date,
    last_day: date,
    spec: RatingsSpec,
    audit_ids: Collection[int] | None = None,
) -> list[StandardRating]:
    return [
        rate(standard, title, keys, cases, spec)
        for standard, title, keys, cases in key_counts(session, first_day, last_day, audit_ids)
    ]


def rating_rows(rated: list[StandardRating], spec: RatingsSpec) -> list[dict[str, Any]]:
    """The ratings as plain JSON-able rows (frozen with a pack)."""
    rows = []
    for r in rated:
        keys = []
        for k in r.keys:
            low, high = wilson(k.sufficient, k.judged, spec.z) if k.judged else (None, None)
            keys.append(
                {
                    **asdict(k),
                    "share": round(k.sufficient / k.judged, 4) if k.judged else None,
                    "low": _r(low),
                    "high": _r(high),
                }
            )
        rows.append(
            {
                "standard": r.standard,
                "title": r.title,
                "cases": r.cases,
                "share": _r(r.share),
                "low": _r(r.low),
                "high": _r(r.high),
                "rating": r.rating,
                "could_be": r.could_be,
                "phrase": r.phrase,
                "keys": keys,
            }
        )
    return rows


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def weakest(rows: list[dict[str, Any]], limit: int = WEAKEST) -> list[dict[str, Any]]:
    """The key questions most often judged not sufficient (most such cases, then lowest share)."""
    keys = [
        {
            "standard": r["standard"],
            "title": r["title"],
            "text": k["text"],
            "not_sufficient": k["judged"] - k["sufficient"],
            "judged": k["judged"],
            "share": k["share"],
        }
        for r in rows
        for k in r["keys"]
        if k["judged"] > k["sufficient"]
    ]
    keys.sort(key=lambda k: (-k["not_sufficient"], k["share"], k["standard"], k["text"]))
    return keys[:limit]


KEY_COLUMNS = ["standard", "title", "key question", "sufficient", "judged", "share", "low", "high"]


def key_question_table(f: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """A spreadsheet's rows of `f`'s rated standards: one a key question, with its standard's
    rating (the pack's and the mock inspection report's sheets alike)."""
    rows = [
        [s["standard"], s["title"], k["text"], k["sufficient"], k["judged"]]
        + [k["share"], k["low"], k["high"], s["phrase"]]
        for s in f["standards"]
        for k in s["keys"]
    ]
    return [*KEY_COLUMNS, "rating"], rows


def bands_table(f: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """A spreadsheet's rows saying how `f`'s standards were rated and where the bands come from."""
    return ["item", "value"], [
        ["rule", f["rule"]],
        ["confidence of the intervals", f["confidence"]],
        *[[f"{b['rating']} from", b["from"]] for b in f["bands"]],
        ["confirmed against the Inspectorate's own text", "yes" if f["confirmed"] else "no"],
        ["source", f["source"]],
    ]


def about(spec: RatingsSpec) -> dict[str, Any]:
    """Where the bands come from, as the pack and the report print it."""
    return {
        "rule": spec.rule,
        "bands": [{"rating": b.rating, "from": b.from_} for b in spec.bands],
        "confidence": spec.confidence,
        "source": spec.source,
        "confirmed": spec.confirmed,
    }


def inspection_figures(
    session: Session,
    quarter: Quarter,
    spec: RatingsSpec,
    frozen: Callable[[Quarter], dict[str, Any] | None] = lambda q: None,
) -> dict[str, Any]:
    """H2 for the quarterly pack: each standard's shares, interval and rating this quarter, each
    standard's share over the last eight quarters (a quarter whose pack was frozen with this
    section (`frozen`: its figures) shows what its pack showed), and the key questions most
    often not sufficient."""
    rows = rating_rows(ratings(session, quarter.first_day, quarter.last_day, spec), spec)
    quarters = [quarter]
    while len(quarters) < TREND_QUARTERS:
        quarters.insert(0, quarters[0].previous())
    columns: list[list[dict[str, Any]]] = []
    for q in quarters:
        if q == quarter:
            columns.append(rows)
        elif "inspection" in (figures := frozen(q) or {}):  # packs frozen before H2 have none
            columns.append(figures["inspection"]["standards"])
        else:
            columns.append(rating_rows(ratings(session, q.first_day, q.last_day, spec), spec))
    names: dict[str, str] = {}
    for column in columns:
        for r in column:
            names.setdefault(r["standard"], f"{r['standard']} {r['title']}")
    return {
        **about(spec),
        "audits": audited(session, quarter.first_day, quarter.last_day),
        "standards": rows,
        "weakest": weakest(rows),
        "trend": {
            "quarters": [str(q) for q in quarters],
            "standards": {
                names[s]: [
                    next((r["share"] for r in column if r["standard"] == s), None)
                    for column in columns
                ]
                for s in sorted(names, key=_order)
            },
        },
    }
