"""Import-time benchmark: how long a fresh process takes to ``import`` each framework.

Times the whole process, ``python -c "import X"``, for microapi, Falcon, Flask,
Bottle and werkzeug, and ``python -c pass`` (the interpreter's own start-up,
which every other command includes). Runs are **paired** against Falcon: each
round runs every command once, in an order rotated every round, and each
command's time is divided by Falcon's in the same round, so a drift in the
machine's speed hits both sides of every ratio.

Before timing, every command runs once with bytecode writing on, and the timed
runs keep it on, so every run loads cached ``.pyc`` files instead of compiling
(a shell with ``PYTHONDONTWRITEBYTECODE=1`` would otherwise make every run
recompile whatever was edited since the cache was last written).

Run ``python -m benchmarks.importtime --help``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.meta import environment, header_line, write_json

#: What each command runs with ``python -c``, by name, in the table's order.
COMMANDS = {
    "python": "pass",
    "microapi": "import microapi",
    "falcon": "import falcon",
    "flask": "import flask",
    "bottle": "import bottle",
    "werkzeug": "import werkzeug",
}
#: The command every ratio divides by (the project's goal: microapi no slower).
BASELINE = "falcon"
#: The command whose time is the interpreter's start-up alone.
STARTUP = "python"
DEFAULT_ROUNDS = 21
#: Rounds of ``--quick``: enough to pair and to take a median, timings meaningless.
QUICK_ROUNDS = 2
#: The project root, the children's working directory: ``-c`` puts it first on
#: ``sys.path``, so ``import microapi`` finds this checkout even when not installed.
ROOT = Path(__file__).resolve().parent.parent


class CommandFailed(Exception):
    """A command exited with a non-zero status."""


@dataclass(frozen=True)
class Result:
    """One command's summary, as printed and as written by ``--json``."""

    name: str
    command: str
    #: Wall time of every timed run, in run order (one per round).
    times_ms: list[float]
    median_ms: float
    #: Median over rounds of this run's time minus the same round's ``python -c pass``.
    median_over_startup_ms: float
    #: Per round: this run's time ÷ the same round's Falcon run.
    ratios: list[float]
    median_ratio: float
    min_ratio: float
    max_ratio: float


def child_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """*base* (default ``os.environ``) with bytecode writing switched back on."""
    env = dict(os.environ if base is None else base)
    # NOTE: with PYTHONDONTWRITEBYTECODE set, a module edited since its .pyc was
    # written is compiled again by every run, and the benchmark times the compiler.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def argv_of(code: str) -> list[str]:
    """The command line that runs *code* in a fresh interpreter (this one's executable)."""
    return [sys.executable, "-c", code]


def warm_up(commands: Mapping[str, str], env: Mapping[str, str]) -> None:
    """Run every command once, untimed, so that its modules' ``.pyc`` files are written.

    Raises :class:`CommandFailed` with the command's stderr when one fails.
    """
    for code in commands.values():
        argv = argv_of(code)
        completed = subprocess.run(
            argv,
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            # Captured here only, to say why a command fails; the timed runs discard it.
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise CommandFailed(
                f"{shlex.join(argv)} failed with exit status {completed.returncode}:\n"
                + completed.stderr.strip()
            )


def time_once(code: str, env: Mapping[str, str]) -> float:
    """Seconds of wall time for one fresh process running *code*, start to exit."""
    argv = argv_of(code)
    begin = time.perf_counter()
    completed = subprocess.run(
        argv,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    elapsed = time.perf_counter() - begin
    if completed.returncode != 0:
        raise CommandFailed(
            f"{shlex.join(argv)} failed with exit status {completed.returncode} while timed"
        )
    return elapsed


def measure(
    commands: Mapping[str, str], rounds: int, env: Mapping[str, str]
) -> list[dict[str, float]]:
    """Per round, every command's seconds; the order rotated by one every round.

    Rotating spreads any cost of running first or last (a cold disk cache, the
    previous child's exit still being cleaned up) over all the commands.
    """
    names = list(commands)
    timings: list[dict[str, float]] = []
    for round_ in range(rounds):
        print(f"round {round_ + 1}/{rounds}", file=sys.stderr)
        shift = round_ % len(names)
        order = [*names[shift:], *names[:shift]]
        timings.append({name: time_once(commands[name], env) for name in order})
    return timings


def summarize(commands: Mapping[str, str], timings: Sequence[Mapping[str, float]]) -> list[Result]:
    """Median time and the paired ratios to :data:`BASELINE`, per command."""
    results = []
    for name, code in commands.items():
        seconds = [round_[name] for round_ in timings]
        # Paired: each run divided by the baseline's run of the same round, so
        # the baseline's own ratios are exactly 1.0.
        ratios = [round_[name] / round_[BASELINE] for round_ in timings]
        over_startup = [round_[name] - round_[STARTUP] for round_ in timings]
        results.append(
            Result(
                name=name,
                command=f"python -c {shlex.quote(code)}",
                times_ms=[round(value * 1000, 3) for value in seconds],
                median_ms=round(statistics.median(seconds) * 1000, 3),
                median_over_startup_ms=round(statistics.median(over_startup) * 1000, 3),
                ratios=[round(ratio, 4) for ratio in ratios],
                median_ratio=round(statistics.median(ratios), 4),
                min_ratio=round(min(ratios), 4),
                max_ratio=round(max(ratios), 4),
            )
        )
    return results


def markdown(results: Iterable[Result], facts: dict[str, str], rounds: int) -> str:
    """The results as a Markdown table, under a header naming what they depend on."""
    lines = [
        f"Import-time benchmark — {header_line(facts)}",
        "",
        f"{rounds} round(s), each running every command once in an order rotated each round; "
        f"ratios paired with the {BASELINE} run of the same round (lower is faster); "
        f"over `pass` = minus the same round's `python -c pass`.",
        "",
        "| command | median ms | over `pass` ms | ÷ falcon (median) | ÷ falcon (min-max) |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| `{result.command}` | {result.median_ms:.1f} | {result.median_over_startup_ms:.1f} "
        f"| {result.median_ratio:.2f} | {result.min_ratio:.2f}-{result.max_ratio:.2f} |"
        for result in results
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line, with ``--quick`` resolved."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.importtime",
        description="Time `python -c 'import X'` per framework, paired with Falcon's run.",
    )
    parser.add_argument("--rounds", type=int, help=f"rounds (default {DEFAULT_ROUNDS})")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_ROUNDS} rounds: a smoke test, timings meaningless",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        if args.rounds is not None:
            parser.error("--quick sets the rounds itself")
        args.rounds = QUICK_ROUNDS
    if args.rounds is None:
        args.rounds = DEFAULT_ROUNDS
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 on success, 1 when a command fails."""
    args = parse_args(argv)
    env = child_environment()
    try:
        warm_up(COMMANDS, env)
        timings = measure(COMMANDS, args.rounds, env)
    except CommandFailed as exc:
        print(f"import-time benchmark aborted: {exc}", file=sys.stderr)
        return 1
    results = summarize(COMMANDS, timings)
    facts = environment()
    print(markdown(results, facts, args.rounds))
    if args.json:
        settings = {
            "rounds": args.rounds,
            "baseline": BASELINE,
            "executable": sys.executable,
            "interleaved": True,
            "bytecode": "written and used (PYTHONDONTWRITEBYTECODE removed), after one warm-up",
        }
        write_json(args.json, facts, settings, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
