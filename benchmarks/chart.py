"""Draw the in-process ratios as a PNG bar chart and write the results' README.

Reads what ``make bench`` wrote (``benchmarks/results/inprocess.json`` and,
when present, ``server.json``, ``slowclients.json`` and ``importtime.json``), draws the cost of
every framework relative to Falcon per scenario (log scale when the spread is
wide, as Flask makes it) with matplotlib's Agg backend, and writes ``benchmarks/results/README.md``:
machine, versions, date, the ratio tables, and notes derived from the numbers,
naming every scenario a peer wins. The Markdown is printed as well.

Run ``python -m benchmarks.chart --help``.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.apps import FRAMEWORKS
from benchmarks.meta import DISTRIBUTIONS

RESULTS = Path(__file__).resolve().parent / "results"
#: Frameworks that are products one could pick instead of microapi.
PEERS = ("falcon", "flask", "bottle", "werkzeug")
#: The goals of issue 7, in-process.
GOAL_VS_FALCON = 0.5
GOAL_HELLO_VS_BARE = 1.3
GOAL_VS_FLASK = 10.0
#: The import-time goal: ``import microapi`` no slower than ``import falcon``.
GOAL_IMPORT_VS_FALCON = 1.0
#: Relative difference within which two costs count as even, not as a win.
TIE = 0.03
#: Ratio spread above which the chart's axis is logarithmic.
LOG_SPREAD = 8.0
#: Steal (CPU time the hypervisor took), in percent, from which a run's notes name the scenario.
STEAL_NOTED = 0.5
COLOURS = {
    "microapi": "#d62728",
    "falcon": "#1f77b4",
    "flask": "#7f7f7f",
    "bottle": "#2ca02c",
    "werkzeug": "#9467bd",
    "bare": "#ff7f0e",
}

Table = dict[str, dict[str, float]]


def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as file:
        document: dict[str, Any] = json.load(file)
    return document


def _matrix(results: list[dict[str, Any]], value: str, key: str | None = None) -> Table:
    """``{scenario: {framework: result[value] (or result[value][key])}}``."""
    table: Table = {}
    for result in results:
        cell = result[value] if key is None else result[value].get(key)
        if cell is not None:
            table.setdefault(result["scenario"], {})[result["framework"]] = float(cell)
    return table


def _matrix_of_all(results: list[dict[str, Any]], value: str, key: str) -> Table:
    """:func:`_matrix`, or ``{}`` when some result lacks *value* (a file from before it)."""
    return _matrix(results, value, key) if all(value in r for r in results) else {}


def _frameworks(table: Table) -> list[str]:
    present = {framework for row in table.values() for framework in row}
    return [framework for framework in FRAMEWORKS if framework in present]


def draw(ratios: Table, title: str, path: Path) -> None:
    """Draw *ratios* (cost ÷ Falcon's) as grouped bars, one group per scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    scenarios = list(ratios)
    frameworks = _frameworks(ratios)
    values = [value for row in ratios.values() for value in row.values() if value > 0]
    logarithmic = bool(values) and max(values) / min(values) > LOG_SPREAD
    width = 0.8 / max(len(frameworks), 1)
    figure, axes = plt.subplots(figsize=(13, 5.2), dpi=100)
    for index, framework in enumerate(frameworks):
        xs = [
            number + (index - (len(frameworks) - 1) / 2) * width
            for number, scenario in enumerate(scenarios)
            if framework in ratios[scenario]
        ]
        ys = [
            ratios[scenario][framework] for scenario in scenarios if framework in ratios[scenario]
        ]
        bars = axes.bar(xs, ys, width, label=framework, color=COLOURS.get(framework))
        if framework == "microapi":
            axes.bar_label(bars, labels=[f"{y:.2f}" for y in ys], fontsize=7, padding=2)
    axes.axhline(1.0, color=COLOURS["falcon"], linewidth=0.8, label="Falcon = 1")
    axes.axhline(
        GOAL_VS_FALCON,
        color="black",
        linewidth=0.8,
        linestyle="--",
        label=f"goal for microapi: {GOAL_VS_FALCON:g}",
    )
    if logarithmic:
        axes.set_yscale("log")
        ticks = [
            t
            for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20)
            if min(values) / 1.5 <= t <= max(values) * 1.5
        ]
        axes.set_yticks(ticks, [f"{t:g}" for t in ticks])
        axes.yaxis.set_minor_formatter(NullFormatter())
    axes.set_xticks(range(len(scenarios)), scenarios)
    axes.set_xlim(-0.5, len(scenarios) - 0.5)
    axes.set_ylabel("cost per request ÷ Falcon's" + (" (log scale)" if logarithmic else ""))
    axes.set_title(title, fontsize=10)
    axes.legend(
        ncols=len(frameworks) + 2,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.07),
        fontsize=8,
        frameon=False,
    )
    axes.grid(axis="y", which="major", linewidth=0.3)
    axes.set_axisbelow(True)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def _table(table: Table, fmt: str, corner: str = "scenario") -> list[str]:
    """*table* as Markdown, scenarios as rows, frameworks as columns."""
    frameworks = _frameworks(table)
    lines = [
        f"| {corner} | " + " | ".join(frameworks) + " |",
        "|---|" + "---:|" * len(frameworks),
    ]
    for scenario, row in table.items():
        cells = [format(row[f], fmt) if f in row else "n/a" for f in frameworks]
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return lines


def _environment_lines(facts: dict[str, str]) -> list[str]:
    versions = ", ".join(
        f"{name} {facts[name]}" for name in ("Falcon", *DISTRIBUTIONS) if name in facts
    )
    return [
        f"- **Date**: {facts['date']}",
        f"- **Machine**: {facts.get('cpu', 'unknown CPU')}, {facts['platform']}",
        f"- **Python**: {facts['python']}",
        f"- **Versions**: {versions}",
    ]


def inprocess_notes(ratios: Table, bare: Table) -> list[str]:
    """Goal checks and every scenario a peer wins, from the in-process ratios."""
    notes = []
    met = [s for s, row in ratios.items() if row.get("microapi", 99) <= GOAL_VS_FALCON]
    missed = [s for s, row in ratios.items() if s not in met and "microapi" in row]
    if met:
        notes.append(f"microapi is at or under {GOAL_VS_FALCON:g} x Falcon on: {', '.join(met)}.")
    if missed:
        detail = ", ".join(f"{s} ({ratios[s]['microapi']:.2f})" for s in missed)
        notes.append(f"microapi is **above** the {GOAL_VS_FALCON:g} x Falcon goal on: {detail}.")
    floor = [
        f"{s} ({row['bare']:.2f})"
        for s, row in ratios.items()
        if row.get("bare", 0) > GOAL_VS_FALCON
    ]
    if floor:
        notes.append(
            "Even the hand-written bare WSGI app costs more than "
            f"{GOAL_VS_FALCON:g} x Falcon on {', '.join(floor)}: there the shared work "
            "(marshmallow, SQLite, JSON encoding) dominates, and no framework can reach the "
            "goal; compare with the bare column instead."
        )
    for scenario, row in ratios.items():
        mine = row.get("microapi")
        if mine is None:
            continue
        winners = [f for f in PEERS if f in row and row[f] < mine * (1 - TIE)]
        even = [f for f in PEERS if f in row and f not in winners and row[f] <= mine * (1 + TIE)]
        if winners:
            detail = ", ".join(f"{f} ({row[f]:.2f} vs microapi's {mine:.2f})" for f in winners)
            notes.append(f"**A peer wins `{scenario}`**: {detail}.")
        if even:
            detail = ", ".join(f"{f} ({row[f]:.2f})" for f in even)
            notes.append(
                f"`{scenario}`: microapi ({mine:.2f}) is even (within {TIE:.0%}) with {detail}."
            )
    hello = bare.get("hello", {}).get("microapi")
    if hello is not None:
        verdict = "within" if hello <= GOAL_HELLO_VS_BARE else "**outside**"
        notes.append(
            f"hello costs {hello:.2f} x bare WSGI, {verdict} the {GOAL_HELLO_VS_BARE:g} x goal."
        )
    flask = {
        s: row["flask"] / row["microapi"]
        for s, row in ratios.items()
        if row.get("microapi") and "flask" in row
    }
    short = [f"{s} ({value:.1f} x)" for s, value in flask.items() if value < GOAL_VS_FLASK]
    if flask:
        notes.append(
            f"Flask costs {min(flask.values()):.1f} to {max(flask.values()):.1f} x microapi; "
            + (
                f"below the {GOAL_VS_FLASK:g} x goal on {', '.join(short)}."
                if short
                else f"at least {GOAL_VS_FLASK:g} x everywhere."
            )
        )
    return notes


def _runs(document: dict[str, Any]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """The server-mode results by (server, workers), in the order run.

    Files written before granian was measured have neither key: gunicorn, and
    the run's one worker count.
    """
    default_workers = document["settings"].get("workers", 1)
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for result in document["results"]:
        key = (result.get("server", "gunicorn"), result.get("workers", default_workers))
        runs.setdefault(key, []).append(result)
    return runs


def server_sections(document: dict[str, Any]) -> list[str]:
    """The server-mode summary across servers, then one section per server and worker count."""
    settings = document["settings"]
    runs = _runs(document)
    columns = [f"{server}, {workers} worker(s)" for server, workers in runs]
    microapi: Table = {}
    for (server, workers), results in runs.items():
        for result in results:
            if result["framework"] == "microapi":
                column = f"{server}, {workers} worker(s)"
                microapi.setdefault(result["scenario"], {})[column] = result["requests_per_s"]
    lines = [
        "## Server mode",
        "",
        "microapi's requests per second on each server (the same apps, one run):",
        "",
        "| scenario | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
        *(
            f"| {scenario} | "
            + " | ".join(f"{row[c]:.0f}" if c in row else "n/a" for c in columns)
            + " |"
            for scenario, row in microapi.items()
        ),
        "",
    ]
    for (server, workers), results in runs.items():
        command = settings.get("servers", {}).get(server) or settings.get("gunicorn", server)
        # NOTE: the file holds each server's one-worker command line; show this run's count.
        command = re.sub(r"--workers \S+", f"--workers {workers}", command)
        pinned = bool(settings.get("pinned")) and workers == 1
        title = f"{server}, {workers} worker(s)"
        lines += _server_run_section(results, settings, title, command, pinned)
    return lines


def _server_run_section(
    results: list[dict[str, Any]],
    settings: dict[str, Any],
    title: str,
    command: str,
    pinned: bool = False,
) -> list[str]:
    """The tables and notes of one server and worker count."""
    rps = _matrix(results, "requests_per_s")
    ratio = _matrix(results, "ratios", "falcon")
    bare = _matrix(results, "ratios", "bare")
    # NOTE: best_ratios and "interleaved" came with interleaved trials, paired_p99_ratios
    # and trials_p99_ms after paired_ratios; older files lack them.
    best = _matrix_of_all(results, "best_ratios", "falcon")
    paired = _matrix_of_all(results, "paired_ratios", "falcon")
    paired_p99 = _matrix_of_all(results, "paired_p99_ratios", "falcon")
    layout = (
        "All the frameworks' servers for a scenario run at once, the trials interleaved in an "
        "order rotated every trial"
        if settings.get("interleaved")
        else "One server at a time"
    )
    p50 = _matrix(results, "p50_ms")
    # The median trial by rate need not be a typical tail: with every trial's
    # p99 at hand, the median of those.
    typical_tail = all(r.get("trials_p99_ms") for r in results)
    p99: Table = {}
    for r in results:
        tail = statistics.median(r["trials_p99_ms"]) if typical_tail else r["p99_ms"]
        p99.setdefault(r["scenario"], {})[r["framework"]] = float(tail)
    errors = _matrix(results, "errors")
    rss = {
        s: {
            r["framework"]: max(r["worker_peak_rss_mib"], default=0.0)
            for r in results
            if r["scenario"] == s
        }
        for s in rps
    }
    lines = [
        f"### {title}",
        "",
        f"`{command}` on 127.0.0.1, loaded by {settings['loader']} with "
        f"{settings['connections']} keep-alive connections; per framework and scenario a "
        f"{settings['warmup_seconds']} s warm-up, then {settings.get('trials', 1)} run(s) of "
        f"{settings['seconds']} s on fresh connections, the median run reported. {layout}, "
        + (
            "on the same machine as the load generator, the servers pinned to one CPU and "
            "the load generator to the others (`--pin`)."
            if pinned
            else "on the same machine as the load generator."
        ),
        "",
        "Requests per second ÷ Falcon's (higher is better):",
        "",
        *_table(ratio, ".2f"),
        "",
        *(
            ["Requests per second ÷ the bare WSGI callable's:", "", *_table(bare, ".2f"), ""]
            if bare
            else []
        ),
        *(
            ["Best trial's requests per second ÷ Falcon's best:", "", *_table(best, ".2f"), ""]
            if best
            else []
        ),
        *(
            [
                "Paired: the median over trials of requests per second ÷ Falcon's in the same "
                "trial (loaded one after the other, so the machine's drift cancels out):",
                "",
                *_table(paired, ".2f"),
                "",
            ]
            if paired
            else []
        ),
        "Requests per second:",
        "",
        *_table(rps, ".0f"),
        "",
        (
            "Latency in ms, p50 (the median trial's) / p99 (the median of the trials' p99s):"
            if typical_tail
            else "Latency p50 / p99 in ms:"
        ),
        "",
    ]
    latency = {s: {f: f"{p50[s][f]:.2f} / {p99[s][f]:.2f}" for f in row} for s, row in p50.items()}
    frameworks = _frameworks(p50)
    lines += [
        "| scenario | " + " | ".join(frameworks) + " |",
        "|---|" + "---:|" * len(frameworks),
        *(
            f"| {s} | " + " | ".join(row.get(f, "n/a") for f in frameworks) + " |"
            for s, row in latency.items()
        ),
        "",
        *(
            [
                "Paired p99: the median over trials of p99 ÷ Falcon's p99 in the same trial "
                "(lower is better; one trial's p99 is mostly whether a scheduler stall fell "
                "into that second, which the median over trials outvotes):",
                "",
                *_table(paired_p99, ".2f"),
                "",
            ]
            if paired_p99
            else []
        ),
        "Peak RSS per worker in MiB (the largest worker's `VmHWM`):",
        "",
        *_table(rss, ".1f"),
        "",
    ]
    notes = []
    slower = [
        f"{s} ({row['microapi']:.2f})"
        for s, row in ratio.items()
        if "microapi" in row and row["microapi"] < 1
    ]
    notes.append(
        "microapi serves fewer requests per second than Falcon on: " + ", ".join(slower) + "."
        if slower
        else "microapi serves at least as many requests per second as Falcon on every scenario."
    )
    if paired_p99:
        tails = [
            f"{s} ({row['microapi']:.2f})"
            for s, row in paired_p99.items()
            if "microapi" in row and row["microapi"] > 1
        ]
        notes.append(
            "microapi's paired p99 is above Falcon's on: " + ", ".join(tails) + "."
            if tails
            else "microapi's paired p99 is at or under Falcon's on every scenario."
        )
    heavier = [
        f"{s} ({row['microapi']:.1f} vs {row['flask']:.1f} MiB)"
        for s, row in rss.items()
        if "microapi" in row and "flask" in row and row["microapi"] > row["flask"]
    ]
    notes.append(
        "microapi's workers use more memory than Flask's on: " + ", ".join(heavier) + "."
        if heavier
        else "microapi's workers use no more memory than Flask's on any scenario."
    )
    # NOTE: steal_percent came after paired_p99_ratios; older files lack it.
    stolen = {r["scenario"]: r["steal_percent"] for r in results if "steal_percent" in r}
    if stolen:
        busy = [f"{s} ({p:.1f} %)" for s, p in stolen.items() if p >= STEAL_NOTED]
        notes.append(
            "The hypervisor took CPU time (steal) while the trials ran on: "
            + ", ".join(busy)
            + "; a neighbour's load slows every framework of those trials, unevenly."
            if busy
            else f"The hypervisor took under {STEAL_NOTED:g} % of the CPU time (steal) on "
            "every scenario."
        )
    failed = [f"{s} / {f}" for s, row in errors.items() for f, n in row.items() if n]
    if failed:
        notes.append("Errors (socket errors or unexpected statuses) in: " + ", ".join(failed) + ".")
    notes.append(
        "The server, its workers and the load generator share the machine's CPUs, and "
        "much of each request's time is the server's own HTTP handling (gunicorn's most of "
        "all), which is the same for everyone, so server ratios are much closer to 1 than "
        "the in-process ones; differences of about 10 % are within the noise between runs."
    )
    lines += ["Notes:", "", *(f"- {note}" for note in notes), ""]
    return lines


def slow_client_section(document: dict[str, Any]) -> list[str]:
    """The slow-client comparison's table."""
    settings = document["settings"]
    threads = settings.get("threads")
    lines = [
        "## Slow clients",
        "",
        f"`microapi serve {settings['app']}` on each server at its defaults"
        + ("" if threads is None else f" but `--threads {threads}`")
        + f": {settings['connections']} well-behaved clients ({settings['loader']}), a new "
        f"connection per request, {settings['seconds']} s alone, then {settings['seconds']} s "
        f"beside {settings['slow']} slow connections (partial headers, partial bodies and "
        "silent connections in turn). Starved: below 0.1 x the rate alone.",
        "",
        "| server | workers | alone req/s | beside slow req/s | p99 ms | errors | ÷ alone "
        "| starved |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r['server']} | {r['workers']} | {r['alone_per_s']:.0f} | {r['slow_per_s']:.0f} "
        f"| {r['slow_p99_ms']:.2f} | {r['slow_errors']} | {r['ratio']:.2f} "
        f"| {'yes' if r['starved'] else 'no'} |"
        for r in document["results"]
    ]
    return [*lines, ""]


def import_time_section(document: dict[str, Any]) -> list[str]:
    """The import-time table (``python -m benchmarks.importtime``) and its goal check."""
    settings = document["settings"]
    results = document["results"]
    baseline = settings.get("baseline", "falcon")
    lines = [
        "## Import time",
        "",
        f"Wall time of a fresh process, `python -c 'import X'`, {settings['rounds']} rounds; "
        "each round runs every command once in an order rotated every round, and each "
        f"ratio is paired with the {baseline} run of the same round (lower is faster). "
        "Bytecode caches written by a warm-up run and used by every timed run. "
        "Over `pass`: the median of each run minus the same round's `python -c pass`, "
        "the import's own cost without the interpreter's start-up.",
        "",
        f"| command | median ms | over `pass` ms | ÷ {baseline} (median) "
        f"| ÷ {baseline} (min-max) |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| `{r['command']}` | {r['median_ms']:.1f} | {r['median_over_startup_ms']:.1f} "
            f"| {r['median_ratio']:.2f} | {r['min_ratio']:.2f}-{r['max_ratio']:.2f} |"
            for r in results
        ),
        "",
    ]
    mine = next((r for r in results if r["name"] == "microapi"), None)
    if mine is not None:
        ratio = mine["median_ratio"]
        verdict = "within" if ratio <= GOAL_IMPORT_VS_FALCON else "**above**"
        lines += [
            f"`import microapi` takes {ratio:.2f} x `import falcon`'s time (median of the "
            f"paired rounds), {verdict} the goal of {GOAL_IMPORT_VS_FALCON:g} x.",
            "",
        ]
    return lines


def render(
    inprocess: dict[str, Any],
    server: dict[str, Any] | None,
    png: str,
    slow: dict[str, Any] | None = None,
    importtime: dict[str, Any] | None = None,
) -> str:
    """The results README."""
    results = inprocess["results"]
    ratios = _matrix(results, "ratios", "falcon")
    bare = _matrix(results, "ratios", "bare")
    best = _matrix(results, "best_us")
    settings = inprocess["settings"]
    batch = f"{settings['calls']} calls" if settings.get("calls") else f"~{settings['seconds']:g} s"
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m benchmarks.inprocess`, `python -m "
        "benchmarks.server`, `python -m benchmarks.chart`); see "
        "[`benchmarks/README.md`](../README.md) for what is measured and how. Only ratios "
        "within one run are comparable; absolute numbers drift between runs and machines.",
        "",
        *_environment_lines(inprocess["environment"]),
        "",
        "## In-process",
        "",
        f"{settings['rounds']} rounds, frameworks interleaved in rotated order, {batch} per "
        "batch; best batch per framework and scenario.",
        "",
        f"![in-process cost relative to Falcon]({png})",
        "",
        "Cost per request ÷ Falcon's (lower is cheaper; the goal is ≤ "
        f"{GOAL_VS_FALCON:g} for microapi):",
        "",
        *_table(ratios, ".2f"),
        "",
        "Cost per request ÷ the bare WSGI callable's:",
        "",
        *_table(bare, ".2f"),
        "",
        "Best µs per request:",
        "",
        *_table(best, ".2f"),
        "",
        "Notes:",
        "",
        *(f"- {note}" for note in inprocess_notes(ratios, bare)),
        "- Apps differ where their frameworks do: the 404 and 422 bodies, and the JSON "
        "encoding (Flask sorts keys and writes compact JSON, Falcon and most others use "
        "`json.dumps` defaults); every answer's status, JSON value and headers are checked "
        "before and after timing.",
        "",
    ]
    if server is not None:
        lines += server_sections(server)
    if slow is not None:
        lines += slow_client_section(slow)
    if importtime is not None:
        lines += import_time_section(importtime)
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.chart",
        description="Draw the in-process ratios and write the results README.",
    )
    parser.add_argument("--inprocess", type=Path, default=RESULTS / "inprocess.json")
    parser.add_argument(
        "--server", type=Path, default=RESULTS / "server.json", help="skipped when missing"
    )
    parser.add_argument(
        "--slowclients",
        type=Path,
        default=RESULTS / "slowclients.json",
        help="skipped when missing",
    )
    parser.add_argument(
        "--importtime",
        type=Path,
        default=RESULTS / "importtime.json",
        help="skipped when missing",
    )
    parser.add_argument("--png", type=Path, default=RESULTS / "inprocess.png")
    parser.add_argument("--markdown", type=Path, default=RESULTS / "README.md")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Draw the chart and write the README; 2 when the in-process results are missing."""
    args = parse_args(argv)
    if not args.inprocess.exists():
        print(
            f"no {args.inprocess}: run python -m benchmarks.inprocess --json {args.inprocess}",
            file=sys.stderr,
        )
        return 2
    inprocess = _load(args.inprocess)
    server = _load(args.server) if args.server.exists() else None
    slow = _load(args.slowclients) if args.slowclients.exists() else None
    importtime = _load(args.importtime) if args.importtime.exists() else None
    facts = inprocess["environment"]
    title = (
        f"In-process cost per request relative to Falcon {facts['Falcon'].split()[0]} "
        f"(lower is cheaper) · {facts['python']} · {facts.get('cpu', '')} · {facts['date']}"
    )
    draw(_matrix(inprocess["results"], "ratios", "falcon"), title, args.png)
    png = (
        args.png.name
        if args.png.parent.resolve() == args.markdown.parent.resolve()
        else str(args.png.resolve())
    )
    text = render(inprocess, server, png, slow, importtime)
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {args.png} and {args.markdown}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
