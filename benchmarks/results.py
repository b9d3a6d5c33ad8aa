"""Run every benchmark and write the table of figures to benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/results.py [--quick] [--postgres SERVER_URL]
    make bench                                   # the same
    .venv/bin/python benchmarks/results.py --only national_estate [--quick]   # alone (an hour)

Each benchmark runs as a process of its own (so its peak memory is its own) and appends its
figures to a JSON-lines file; this script then writes RESULTS.md from those figures alone, with
each target and whether it was met, and keeps every benchmark's full output under
benchmarks/out/. `--quick` runs small sizes (15 services, 5,000 rows, 1,000 emails) to check the
machinery in a minute or two; its RESULTS.md says so. Asserts nothing: a missed target is a
figure in the table, explained in benchmarks/README.md.

The long benchmarks (LONG: the national estate on one server, issue 16) are run only with
`--only NAME`, and write a section of RESULTS.md of their own between markers: the rest of the
file is kept as it is, and a full run keeps their sections.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SMALL, LARGE = 15, 150  # services: about 3,000 and 30,000 open cases
# Run alone (`--only`), each with its section in RESULTS.md: (script and arguments, --quick's).
LONG = {
    "national_estate": (
        ["national_estate.py", "--services", str(LARGE)],
        ["national_estate.py", "--services", "5"],
    ),
}


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    target: float | None
    database: str
    note: str

    @property
    def met(self) -> str:
        if self.target is None:
            return ""
        return "yes" if self.value <= self.target else "**no**"

    def row(self) -> str:
        value = f"{self.value:,.0f}" if self.value >= 100 else f"{self.value:,.2f}"
        target = "" if self.target is None else f"≤ {self.target:g} {self.unit}"
        return (
            f"| {self.name} | {self.database} | {value} {self.unit} | {target} | {self.met} "
            f"| {self.note} |"
        )


def plan(quick: bool, postgres: str) -> list[tuple[str, list[str]]]:
    small, large = (3, SMALL) if quick else (SMALL, LARGE)
    rows = (500, 5_000) if quick else (5_000, 50_000)
    runs = [
        ("import-small", ["import_cases.py", "--rows", str(rows[0])]),
        ("import-large", ["import_cases.py", "--rows", str(rows[1])]),
        ("sampling-small", ["sampling_estate.py", "--services", str(small)]),
        ("sampling-large", ["sampling_estate.py", "--services", str(large), "--overhead"]),
        ("pack", ["quarterly_pack.py", "--services", "2" if quick else "6"]),
        ("year", ["simulated_year.py", "--services", "2" if quick else "4", "--overhead"]),
        ("outbox", ["outbox.py", "--emails", "1000" if quick else "10000"]),
    ]
    if postgres:
        pg = ["sampling_estate.py", "--services", str(large), "--postgres", postgres]
        runs.insert(4, ("sampling-large-pg", pg))
        runs[-1] = ("outbox", [*runs[-1][1], "--postgres", postgres])
        size = ["--users", "10", "--requests", "5"] if quick else []
        runs.append(("web-form", ["web_form.py", *size, "--postgres", postgres]))
    return runs


def run_all(
    quick: bool, postgres: str, only: str = ""
) -> tuple[list[Figure], dict[str, float], list[str]]:
    OUT.mkdir(exist_ok=True)
    figures_file = OUT / (f"{only}.jsonl" if only else "figures.jsonl")
    figures_file.unlink(missing_ok=True)
    env = {**os.environ, "YOTQA_BENCH_RESULTS": str(figures_file), "DO_NOT_TRACK": "1"}
    seconds: dict[str, float] = {}
    failed: list[str] = []
    pg = ["--postgres", postgres] if postgres else []
    steps = plan(quick, postgres) if not only else [(only, [*LONG[only][quick], *pg])]
    for n, (name, args) in enumerate(steps, 1):
        print(f"[{n}/{len(steps)}] {' '.join(args)} ...", flush=True)
        started = time.perf_counter()
        with (OUT / f"{name}.log").open("w", encoding="utf-8") as log:
            done = subprocess.run(
                [sys.executable, str(ROOT / "benchmarks" / args[0]), *args[1:]],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        seconds[name] = time.perf_counter() - started
        status = "done" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
        if done.returncode:
            failed.append(f"{' '.join(args)} (benchmarks/out/{name}.log)")
        print(f"      {status} in {seconds[name]:.0f} s; output in {OUT / f'{name}.log'}")
    if not only:
        (OUT / "seconds.json").write_text(json.dumps(seconds), encoding="utf-8")
    return read_figures(figures_file.stem), seconds, failed


def read_figures(name: str = "figures") -> list[Figure]:
    figures_file = OUT / f"{name}.jsonl"
    lines = figures_file.read_text(encoding="utf-8").splitlines() if figures_file.exists() else []
    return [Figure(**json.loads(line)) for line in lines]


def _rows(figure: Figure) -> str:
    found = re.search(r"([\d,]+) rows", figure.name)
    return found[1] if found else "?"


def derived(figures: list[Figure]) -> list[Figure]:
    """The figures made from others: scaling at 10x the caseload, and the peak memory of all."""
    out = []
    sampling = [f for f in figures if f.name.startswith("sampling, ") and f.database == "sqlite"]
    if len(sampling) >= 2:
        small, large = sampling[0], sampling[-1]  # the plan runs the small estate first
        cases = [f for f in figures if f.name.startswith("open cases") and f.database == "sqlite"]
        scale = f"{cases[0].value:,.0f} vs {cases[-1].value:,.0f} open cases" if cases else ""
        out.append(
            Figure(
                "sampling time at 10x the caseload (ratio)",
                large.value / small.value,
                "x",
                11,
                "sqlite",
                f"{scale}: {small.value:.2f} s vs {large.value:.2f} s",
            )
        )
    loads = [f for f in figures if f.name.startswith("cases import") and "first load" in f.name]
    if len(loads) >= 2:
        out.append(
            Figure(
                "cases import at 10x the rows (ratio)",
                loads[-1].value / loads[0].value,
                "x",
                11,
                "sqlite",
                f"{_rows(loads[0])} vs {_rows(loads[-1])} rows: "
                f"{loads[0].value:.2f} s vs {loads[-1].value:.2f} s",
            )
        )
    memory = [f for f in figures if f.unit == "MB"]
    if memory:
        worst = max(memory, key=lambda f: f.value)
        out.append(
            Figure(
                "peak memory, the largest of any benchmark",
                worst.value,
                "MB",
                500,
                worst.database,
                worst.name,
            )
        )
    return out


def _marker(name: str) -> tuple[str, str]:
    return f"<!-- {name}: written by results.py --only {name} -->", f"<!-- end of {name} -->"


def _sections(text: str) -> str:
    """The long benchmarks' sections of RESULTS.md as they are, to keep them."""
    kept = []
    for name in LONG:
        start, end = _marker(name)
        found = re.search(re.escape(start) + ".*?" + re.escape(end), text, re.DOTALL)
        if found:
            kept.append(found[0])
    return "\n\n".join(kept)


def _header() -> tuple[str, str]:
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return pg, commit


def write_section(
    name: str, figures: list[Figure], seconds: float, failed: list[str], quick: bool
) -> None:
    """Put a long benchmark's figures in its own section of RESULTS.md, the rest kept as it is."""
    pg, commit = _header()
    start, end = _marker(name)
    lines = [
        start,
        f"## {name.replace('_', ' ').capitalize()} (run alone: `results.py --only {name}`)",
        "",
        f"- Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit or 'unknown'}, "
        f"{seconds / 60:.1f} min" + (" (**--quick: small sizes**)" if quick else ""),
        f"- Machine: {os.cpu_count()} cores, Python {platform.python_version()}; {pg}",
        "",
        "| figure | database | result | target | met | note |",
        "|---|---|---|---|---|---|",
        *(f.row() for f in figures),
        "",
        *(["**Failed, so figures are missing:** " + "; ".join(failed), ""] if failed else []),
        end,
    ]
    section = "\n".join(lines)
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    found = re.search(re.escape(start) + ".*?" + re.escape(end), text, re.DOTALL)
    before, after = (text[: found.start()], text[found.end() :]) if found else (text, "\n")
    text = (before if found else before.rstrip("\n") + "\n\n") + section + after
    RESULTS.write_text(text, encoding="utf-8")


def write(figures: list[Figure], seconds: dict[str, float], failed: list[str], quick: bool) -> None:
    pg, commit = _header()
    table = [f for f in figures if not f.name.startswith("open cases")] + derived(figures)
    missed = [f for f in table if f.met == "**no**"]
    lines = [
        "# Benchmark results",
        "",
        "Written by `benchmarks/results.py` (`make bench`) from the figures the benchmarks",
        "measured in one run; do not edit by hand. What each benchmark does, what was profiled",
        "and what is left for the targets missed: benchmarks/README.md.",
        "",
        f"- Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit or 'unknown'}"
        + (" (**--quick: small sizes, not the targets' sizes**)" if quick else ""),
        f"- Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}; {pg or 'psql not found'}",
        f"- Time for the whole run: {sum(seconds.values()) / 60:.1f} min"
        if seconds
        else "- Time for the whole run: not recorded",
        "",
        "| figure | database | result | target | met | note |",
        "|---|---|---|---|---|---|",
        *(f.row() for f in table),
        "",
        f"Targets met: {sum(f.met == 'yes' for f in table)} of {sum(bool(f.met) for f in table)}."
        + (" Missed: " + "; ".join(f.name for f in missed) + "." if missed else ""),
        "",
    ]
    if failed:
        lines += [
            "**Benchmarks that failed, so their figures are missing:** " + "; ".join(failed),
            "",
        ]
    kept = _sections(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else ""
    RESULTS.write_text("\n".join(lines) + (f"\n{kept}\n" if kept else ""), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the machinery")
    parser.add_argument(
        "--rewrite",
        action="store_true",
        help="only write RESULTS.md again from the last run's figures (benchmarks/out/)",
    )
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="a PostgreSQL server for the PostgreSQL figures ('' to skip them)",
    )
    parser.add_argument(
        "--only",
        choices=sorted(LONG),
        default="",
        help="run only this long benchmark; its own section of RESULTS.md is rewritten",
    )
    args = parser.parse_args()
    if args.only:
        figures, seconds, failed = run_all(args.quick, args.postgres, args.only)
        write_section(args.only, figures, seconds[args.only], failed, args.quick)
        print(f"Wrote the {args.only} section of {RESULTS} ({len(figures)} figures).")
        if failed:
            sys.exit("failed: " + "; ".join(failed))
        return
    if args.rewrite:
        saved = OUT / "seconds.json"
        seconds = json.loads(saved.read_text(encoding="utf-8")) if saved.exists() else {}
        write(read_figures(), seconds, [], args.quick)
        print(f"Wrote {RESULTS} again from {OUT / 'figures.jsonl'}.")
        return
    figures, seconds, failed = run_all(args.quick, args.postgres)
    write(figures, seconds, failed, args.quick)
    print(f"Wrote {RESULTS} ({len(figures)} figures).")
    if failed:
        sys.exit(f"{len(failed)} benchmark(s) failed: " + "; ".join(failed))


if __name__ == "__main__":
    main()
