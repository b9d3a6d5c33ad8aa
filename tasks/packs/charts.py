"""Charts for the packs, drawn by matplotlib as PNG images at print resolution, each with a text
alternative (O4) that states in figures what the chart shows, written from the same rows."""

from __future__ import annotations

import base64
import io
import textwrap
from collections.abc import Callable
from html import escape
from statistics import median
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
INSUFFICIENT, SUFFICIENT, GOOD, EXCELLENT = "#D55E00", "#F0E442", "#56B4E9", "#009E73"
BLUE, ORANGE, GREY = "#0072B2", "#E69F00", "#999999"
DPI = 150

plt.rcParams.update(
    {
        "text.parse_math": False,  # a "$" in a team name is a dollar, not mathematics
        "font.family": "DejaVu Sans",
        "font.size": 8,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 9,
        "axes.titleweight": "bold",
    }
)


def _image(fig: Figure, alt: str) -> str:
    """The chart as an <img> holding a PNG (WeasyPrint lays out a PNG far faster than an SVG, and
    tags only an <img> as a /Figure, with its alt as the /Alt a screen reader reads: O4)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="chart-image" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _pc(value: float | None) -> str:
    return "no figure" if value is None else f"{value:.0%}"


def _alt(kind_and_title: str, items: list[str], note: str = "") -> str:
    """'Bar chart: title. First item; second item.' (a sentence a screen reader reads whole)."""
    return f"{kind_and_title}{note}. " + ("; ".join(items) if items else "No figures") + "."


def _short(label: str, limit: int = 28) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _wrapped(label: str, width: int = 24, lines: int = 2) -> str:
    """A long label (a census category) on up to `lines` lines, shortened only past them."""
    return "\n".join(textwrap.wrap(label, width, max_lines=lines, placeholder="…")) or label


def completion_by_team(rows: list[dict[str, Any]]) -> str:
    """Audits assigned and completed (on time, late) per team."""
    teams = [_short(r["team"]) for r in rows]
    fig, ax = plt.subplots(figsize=(6.6, 0.35 * len(rows) + 1.0), layout="constrained")
    y = range(len(rows))
    ax.barh(y, [r["assigned"] for r in rows], color="#DDDDDD", label="assigned", height=0.7)
    ax.barh(
        y, [r["on time"] for r in rows], color=EXCELLENT, label="completed on time", height=0.45
    )
    ax.barh(
        y,
        [r["late"] for r in rows],
        left=[r["on time"] for r in rows],
        color=ORANGE,
        label="completed late",
        height=0.45,
    )
    ax.set_yticks(list(y), teams)
    ax.invert_yaxis()
    ax.set_xlabel("audits")
    ax.set_title("Audits assigned and completed, by team")
    ax.legend(loc="lower right", frameon=False, fontsize=7)
    return _image(
        fig,
        _alt(
            "Bar chart: audits assigned and completed, by team",
            [
                f"{r['team']}: {r['on time'] + r['late']} of {r['assigned']} completed "
                f"({r['on time']} on time, {r['late']} late)"
                for r in rows
            ],
        ),
    )


def judgements_by_section(sections: list[dict[str, Any]]) -> str:
    """Each section's judgements as a 100% stacked bar, insufficient to excellent."""
    sections = [s for s in sections if s["judged"]]
    fig, ax = plt.subplots(figsize=(6.6, 0.4 * len(sections) + 1.1), layout="constrained")
    names = ["insufficient", "sufficient", "good", "excellent"]
    colours = [INSUFFICIENT, SUFFICIENT, GOOD, EXCELLENT]
    left = [0.0] * len(sections)
    y = range(len(sections))
    for name, colour in zip(names, colours, strict=True):
        widths = [s[name] / s["judged"] for s in sections]
        ax.barh(y, widths, left=left, color=colour, label=name, height=0.6)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for i, s in enumerate(sections):
        ax.text(1.01, i, f"{s['share_ok']:.0%} sufficient+", va="center", fontsize=7)
    ax.set_yticks(list(y), [_short(s["section"]) for s in sections])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_title("Judgements by section of the audit tool")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=4, frameon=False, fontsize=7)
    return _image(
        fig,
        _alt(
            "Stacked bar chart: judgements by section of the audit tool",
            [
                f"{s['section']}: {_pc(s['share_ok'])} sufficient or better of {s['judged']} "
                f"judged ({s['insufficient']} insufficient, {s['sufficient']} sufficient, "
                f"{s['good']} good, {s['excellent']} excellent)"
                for s in sections
            ],
        ),
    )


def run_chart(trend: dict[str, Any]) -> str:
    """Run chart: share sufficient or better per section over eight quarters, each with its median."""
    series = [("All sections", trend["overall"])] + [
        (s, trend["share"][s]) for s in trend["sections"]
    ]
    return _quarter_panels(
        series,
        trend["quarters"],
        lambda ys: [median(ys)] if ys else [],
        "no judgements yet",
        "Trend: judgements sufficient or better, last eight quarters (dashed: median)",
        "Run charts: the share of judgements sufficient or better",
        lambda ys: f"median {_pc(median(ys))}" if ys else "",
    )


def _quarter_panels(
    series: list[tuple[str, list[float | None]]],
    quarters: list[str],
    lines: Callable[[list[float]], list[float]],
    empty: str,
    title: str,
    alt: str,
    aside: Callable[[list[float]], str],
    note: str = "",
) -> str:
    """Small multiples, two a row: each series' share per quarter (0-100%), its last value
    labelled, and dashed lines where `lines` (given the series' values) puts them; the alt text
    gives every value, and what `aside` says of the series (its median)."""
    cols = 2
    rows = max(1, (len(series) + cols - 1) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(6.8, 1.65 * rows + 0.4), squeeze=False, layout="constrained"
    )
    labels = [q.replace("-", "\n") for q in quarters]
    x = list(range(len(labels)))
    for ax, (name, values) in zip(axes.flat, series, strict=False):
        points = [(i, v) for i, v in enumerate(values) if v is not None]
        for line in lines([v for _, v in points]):
            ax.axhline(line, color=GREY, linestyle="--", linewidth=0.9)
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", color=BLUE, linewidth=1.4, markersize=3.5)
            ax.annotate(
                f"{ys[-1]:.0%}",
                (xs[-1], ys[-1]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
            )
        else:
            ax.text(
                0.5,
                0.5,
                empty,
                ha="center",
                va="center",
                transform=ax.transAxes,
                color=GREY,
                bbox={"facecolor": "white", "edgecolor": "none"},
            )
        ax.set_title(_short(name, 40), fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_xlim(-0.5, len(labels) - 0.5)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        ax.set_xticks(x, labels, fontsize=6.5)
        ax.grid(axis="y", color="#EEEEEE")
    for ax in list(axes.flat)[len(series) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9, fontweight="bold")
    items = []
    for name, values in series:
        present = [v for v in values if v is not None]
        if not present:
            items.append(f"{name}: {empty}")
            continue
        first = next(i for i, v in enumerate(values) if v is not None)
        said = aside(present)
        items.append(
            f"{name}: "
            + (f"none before {quarters[first]}, then " if first else "")
            + ", ".join(_pc(v) for v in values[first:])
            + (f" ({said})" if said else "")
        )
    span = f", one per quarter from {quarters[0]} to {quarters[-1]}" if quarters else ""
    return _image(fig, _alt(alt, items, span + note))


def action_points(by_team: list[dict[str, Any]]) -> str:
    """New, completed, outstanding and overdue action points per team."""
    names = ["new", "completed", "outstanding", "overdue"]
    colours = [BLUE, EXCELLENT, ORANGE, INSUFFICIENT]
    fig, ax = plt.subplots(figsize=(6.6, 0.5 * max(1, len(by_team)) + 1.1), layout="constrained")
    height = 0.8 / len(names)
    for k, (name, colour) in enumerate(zip(names, colours, strict=True)):
        ax.barh(
            [i + k * height for i in range(len(by_team))],
            [r[name] for r in by_team],
            height=height,
            color=colour,
            label=name,
        )
    ax.set_yticks(
        [i + 1.5 * height for i in range(len(by_team))], [_short(r["team"]) for r in by_team]
    )
    ax.invert_yaxis()
    ax.set_xlabel("action points")
    ax.set_title("Action points by team")
    ax.legend(loc="lower right", frameon=False, fontsize=7)
    return _image(
        fig,
        _alt(
            "Bar chart: action points by team",
            [
                f"{r['team']}: {r['new']} new, {r['completed']} completed, "
                f"{r['outstanding']} outstanding, {r['overdue']} overdue"
                for r in by_team
            ],
        ),
    )


def makeup(rows: list[dict[str, Any]], dimension: str) -> str:
    """S5: the sample's share beside the caseload's, for one dimension."""
    rows = [r for r in rows if r["dimension"] == dimension]
    fig, ax = plt.subplots(figsize=(3.2, 0.36 * max(1, len(rows)) + 1.2), layout="constrained")
    y = list(range(len(rows)))
    ax.barh(
        [i - 0.2 for i in y],
        [r["caseload_share"] or 0 for r in rows],
        height=0.4,
        color=GREY,
        label="caseload",
    )
    ax.barh(
        [i + 0.2 for i in y],
        [r["sample_share"] or 0 for r in rows],
        height=0.4,
        color=BLUE,
        label="sample",
    )
    ax.set_yticks(y, [_wrapped(r["value"]) for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.set_title(dimension.capitalize())
    # Below the bars, where it covers none of them.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False, fontsize=6.5)
    return _image(
        fig,
        _alt(
            f"Bar chart: the sample beside the caseload, by {dimension}",
            [
                f"{r['value']}: {_pc(r['sample_share'])} of the sample, "
                f"{_pc(r['caseload_share'])} of the caseload"
                for r in rows
            ],
        ),
    )


def counts(rows: list[tuple[str, int]], title: str, colour: str = BLUE) -> str:
    """A plain horizontal bar chart of labelled counts."""
    fig, ax = plt.subplots(figsize=(3.2, 0.3 * max(1, len(rows)) + 0.9), layout="constrained")
    y = list(range(len(rows)))
    ax.barh(y, [n for _, n in rows], color=colour, height=0.6)
    ax.set_yticks(y, [_short(label, 24) for label, _ in rows])
    ax.invert_yaxis()
    ax.set_title(title)
    for i, (_, n) in enumerate(rows):
        ax.text(n, i, f" {n}", va="center", fontsize=7)
    return _image(
        fig, _alt(f"Bar chart: {title[:1].lower()}{title[1:]}", [f"{lab}: {n}" for lab, n in rows])
    )


def quarters_side_by_side(
    quarters: list[str], overall: list[float | None], completion: list[float | None]
) -> str:
    """Annual: each quarter's completion rate and share of judgements sufficient or better."""
    fig, ax = plt.subplots(figsize=(6.6, 2.4), layout="constrained")
    x = list(range(len(quarters)))
    ax.bar(
        [i - 0.2 for i in x],
        [v or 0 for v in completion],
        width=0.4,
        color=BLUE,
        label="audits completed",
    )
    ax.bar(
        [i + 0.2 for i in x],
        [v or 0 for v in overall],
        width=0.4,
        color=EXCELLENT,
        label="judgements sufficient or better",
    )
    ax.set_xticks(x, quarters)
    ax.set_ylim(0, 1.1)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.set_title("The year by quarter")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False, fontsize=7)
    return _image(
        fig,
        _alt(
            "Bar chart: the year by quarter",
            [
                f"{q}: no figures yet"
                if c is None and o is None
                else f"{q}: {_pc(c)} of audits completed, {_pc(o)} of judgements sufficient or better"
                for q, c, o in zip(quarters, completion, overall, strict=True)
            ],
        ),
    )


def inspection_trend(trend: dict[str, Any], edges: tuple[float, ...]) -> str:
    """H2: each inspection standard's lowest key question share per quarter, one small chart a
    standard, with the rating bands' edges dashed (instead of a median)."""
    return _quarter_panels(
        list(trend["standards"].items()),
        trend["quarters"],
        lambda ys: list(edges),
        "no cases yet",
        "Inspection standards: the lowest key question's share sufficient, last eight quarters\n"
        "(dashed: where the rating bands begin, " + ", ".join(f"{e:.0%}" for e in edges) + ")",
        "Line charts: each inspection standard's lowest key question, share sufficient",
        lambda ys: "",
        "; the rating bands begin at " + ", ".join(f"{e:.0%}" for e in edges),
    )
