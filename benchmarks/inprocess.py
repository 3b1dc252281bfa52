"""In-process benchmark: the cost of one request through each framework, no server.

Every framework's app (see :mod:`benchmarks.apps`) is first called once per
scenario and its answer checked against :mod:`benchmarks.scenarios`; any
difference aborts the run (the check is repeated after timing). Then, in each
round, every scenario runs one batch per framework, the frameworks interleaved
in an order rotated each round, so drift in the machine's speed hits all of
them alike. A call copies a prebuilt environ, gives it a fresh ``wsgi.input``,
calls the app, consumes and closes the body; the whole loop is timed and
nothing is subtracted.

Run ``python -m benchmarks.inprocess --help``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from typing import TYPE_CHECKING, Any

from benchmarks.apps import FRAMEWORKS, FrameworkUnavailable, load
from benchmarks.meta import environment, header_line, write_json
from benchmarks.scenarios import COUNTER, SCENARIOS, Scenario

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import WSGIApplication

#: Frameworks the ratio columns divide by, with their column titles.
BASELINES = {"falcon": "vs Falcon", "bare": "vs bare"}

DEFAULT_ROUNDS = 7
DEFAULT_SECONDS = 0.2
#: Calls made before calibrating a batch size (lazy set-up, caches).
WARMUP_CALLS = 50
#: Calls timed to estimate the cost of one call when calibrating.
PROBE_CALLS = 100
#: Settings of ``--quick``: one tiny round, to check that everything runs.
QUICK_ROUNDS = 1
QUICK_CALLS = 20


@dataclass
class Subject:
    """One framework's app for one scenario, and its timings."""

    framework: str
    scenario: Scenario
    app: WSGIApplication
    environ: dict[str, Any]
    calls: int = 0
    ns_per_call: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Result:
    """The summary of one subject, as printed and as written by ``--json``."""

    scenario: str
    framework: str
    calls_per_batch: int
    us_per_call: list[float]
    best_us: float
    median_us: float
    ratios: dict[str, float]


def _discard(data: bytes) -> None:
    """The ``write`` callable handed out by :func:`_start_response`."""


def _start_response(
    status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
) -> Callable[[bytes], object]:
    return _discard


def run_batch(app: WSGIApplication, environ: dict[str, Any], body: bytes, calls: int) -> int:
    """Nanoseconds taken by *calls* requests to *app*."""
    copy = environ.copy
    start_response = _start_response
    begin = time.perf_counter_ns()
    for _ in range(calls):
        request = copy()
        request["wsgi.input"] = BytesIO(body)
        result = app(request, start_response)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return time.perf_counter_ns() - begin


def call_once(app: WSGIApplication, scenario: Scenario) -> tuple[str, list[tuple[str, str]], bytes]:
    """Send *scenario*'s request to *app*; return status, headers and body."""
    response: list[tuple[str, list[tuple[str, str]]]] = []
    chunks: list[bytes] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        response.append((status, list(headers)))
        return chunks.append

    environ = scenario.environ_template()
    environ["wsgi.input"] = BytesIO(scenario.body)
    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if not response:
        raise RuntimeError("the app never called start_response")
    status, headers = response[-1]
    return status, headers, b"".join(chunks)


def verify(subject: Subject) -> list[str]:
    """How *subject*'s answer differs from its scenario's expectation."""
    before = COUNTER.value
    try:
        status, headers, body = call_once(subject.app, subject.scenario)
    except Exception as exc:
        return [f"raised {exc!r}"]
    return subject.scenario.mismatches(status, headers, body, COUNTER.value - before)


def verify_all(subjects: Iterable[Subject], when: str) -> bool:
    """Verify every subject; report the differences on stderr and return whether none."""
    problems = [
        f"{subject.framework} / {subject.scenario.name}: {problem}"
        for subject in subjects
        for problem in verify(subject)
    ]
    if problems:
        print(f"apps do not behave alike {when}:\n  " + "\n  ".join(problems), file=sys.stderr)
    return not problems


def build(frameworks: Sequence[str], scenarios: Sequence[Scenario]) -> list[Subject]:
    """Import each framework's module and build its app for every scenario."""
    factories = {framework: load(framework) for framework in frameworks}
    return [
        Subject(framework, scenario, make(scenario.name), scenario.environ_template())
        for scenario in scenarios
        for framework, make in factories.items()
    ]


def calibrate(subject: Subject, seconds: float) -> int:
    """Calls per batch for a batch of *subject* to last about *seconds*."""
    scenario = subject.scenario
    run_batch(subject.app, subject.environ, scenario.body, WARMUP_CALLS)
    elapsed = run_batch(subject.app, subject.environ, scenario.body, PROBE_CALLS)
    return max(1, round(seconds * 1e9 * PROBE_CALLS / max(elapsed, 1)))


def measure(subjects: Sequence[Subject], frameworks: Sequence[str], rounds: int) -> None:
    """Time every subject once per round, frameworks interleaved in rotated order."""
    by_key = {(subject.scenario.name, subject.framework): subject for subject in subjects}
    scenarios = list(dict.fromkeys(subject.scenario.name for subject in subjects))
    for round_ in range(rounds):
        print(f"round {round_ + 1}/{rounds}", file=sys.stderr)
        shift = round_ % len(frameworks)
        order = [*frameworks[shift:], *frameworks[:shift]]
        for scenario in scenarios:
            for framework in order:
                subject = by_key[scenario, framework]
                gc.collect()
                elapsed = run_batch(
                    subject.app, subject.environ, subject.scenario.body, subject.calls
                )
                subject.ns_per_call.append(elapsed / subject.calls)


def summarize(subjects: Sequence[Subject]) -> list[Result]:
    """Best, median and ratios to the baselines run alongside, per subject."""
    best = {
        (subject.scenario.name, subject.framework): min(subject.ns_per_call) for subject in subjects
    }
    results = []
    for subject in subjects:
        name = subject.scenario.name
        mine = best[name, subject.framework]
        results.append(
            Result(
                scenario=name,
                framework=subject.framework,
                calls_per_batch=subject.calls,
                us_per_call=[round(ns / 1000, 4) for ns in subject.ns_per_call],
                best_us=round(mine / 1000, 4),
                median_us=round(statistics.median(subject.ns_per_call) / 1000, 4),
                ratios={
                    baseline: round(mine / best[name, baseline], 4)
                    for baseline in BASELINES
                    if (name, baseline) in best
                },
            )
        )
    return results


def markdown(results: Iterable[Result], facts: dict[str, str], settings: str) -> str:
    """The results as a Markdown table, under a header naming what they depend on."""
    titles = ["scenario", "framework", "best µs", "median µs", *BASELINES.values()]
    lines = [
        f"In-process benchmark — {header_line(facts)}",
        "",
        settings,
        "",
        "| " + " | ".join(titles) + " |",
        "|" + "|".join(["---"] * 2 + ["---:"] * (len(titles) - 2)) + "|",
    ]
    for result in results:
        ratios = [
            f"{result.ratios[baseline]:.2f}" if baseline in result.ratios else "n/a"
            for baseline in BASELINES
        ]
        cells = [
            result.scenario,
            result.framework,
            f"{result.best_us:.2f}",
            f"{result.median_us:.2f}",
            *ratios,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _names(values: list[str] | None, known: Iterable[str], what: str) -> list[str]:
    """Names from repeated and/or comma-separated options, in the canonical order."""
    known = list(known)
    if not values:
        return known
    asked = {name.strip() for value in values for name in value.split(",") if name.strip()}
    unknown = asked.difference(known)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(sorted(unknown))}; choose from {', '.join(known)}"
        )
    return [name for name in known if name in asked]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line, with ``--quick`` and the name lists resolved."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.inprocess",
        description="Time the scenarios in-process for every framework, interleaved.",
    )
    parser.add_argument("--rounds", type=int, help=f"rounds of batches (default {DEFAULT_ROUNDS})")
    parser.add_argument(
        "--seconds",
        type=float,
        help=f"target duration of one batch, calibrated (default {DEFAULT_SECONDS})",
    )
    parser.add_argument("--calls", type=int, help="fixed calls per batch instead of --seconds")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"one round of {QUICK_CALLS} calls per batch: a smoke test, timings meaningless",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        metavar="NAME[,NAME...]",
        help=f"scenarios to run, repeatable (default all: {', '.join(SCENARIOS)})",
    )
    parser.add_argument(
        "--framework",
        action="append",
        metavar="NAME[,NAME...]",
        help=f"frameworks to run, repeatable (default all: {', '.join(FRAMEWORKS)})",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    try:
        args.scenario = _names(args.scenario, SCENARIOS, "scenario")
        args.framework = _names(args.framework, FRAMEWORKS, "framework")
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.quick:
        if args.rounds is not None or args.seconds is not None or args.calls is not None:
            parser.error("--quick sets the rounds and the batch size itself")
        args.rounds, args.calls = QUICK_ROUNDS, QUICK_CALLS
    if args.rounds is None:
        args.rounds = DEFAULT_ROUNDS
    if args.seconds is None:
        args.seconds = DEFAULT_SECONDS
    if args.rounds < 1 or args.seconds <= 0 or (args.calls is not None and args.calls < 1):
        parser.error("--rounds and --calls must be at least 1, --seconds positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 on success, 1 when an app answers wrongly, 2 when one is missing."""
    args = parse_args(argv)
    scenarios = [SCENARIOS[name] for name in args.scenario]
    try:
        subjects = build(args.framework, scenarios)
    except FrameworkUnavailable as exc:
        others = ",".join(name for name in args.framework if name != exc.framework)
        print(f"cannot import {exc}\nleave it out with --framework {others}", file=sys.stderr)
        return 2

    if not verify_all(subjects, "before timing"):
        return 1
    for subject in subjects:
        subject.calls = args.calls or calibrate(subject, args.seconds)
    measure(subjects, args.framework, args.rounds)
    if not verify_all(subjects, "after timing"):
        return 1
    results = summarize(subjects)

    batch = f"{args.calls} calls" if args.calls else f"~{args.seconds:g} s"
    settings = (
        f"{args.rounds} round(s), frameworks interleaved in an order rotated each round, "
        f"{batch} per batch. µs per request, best and median over the rounds; "
        "vs columns = best ÷ that framework's best in this run (lower is cheaper)."
    )
    facts = environment()
    print(markdown(results, facts, settings))
    if args.json:
        run = {
            "rounds": args.rounds,
            "seconds": None if args.calls else args.seconds,
            "calls": args.calls,
        }
        write_json(args.json, facts, run, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
