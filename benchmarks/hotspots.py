"""Profile one framework's app for one scenario with cProfile: where a request's time goes.

The requests are sent the way :mod:`benchmarks.inprocess` sends them (a copied
environ, a fresh ``wsgi.input``, the body consumed and closed), after the
same check of the answer. cProfile's own overhead inflates every function
call, so read the shares, not the absolute times.

Run ``python -m benchmarks.hotspots --scenario hello`` (default framework
microapi); ``--sort cumulative`` shows the call tree's heavy branches.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from collections.abc import Sequence

from benchmarks.apps import FRAMEWORKS, load
from benchmarks.inprocess import Subject, run_batch, verify
from benchmarks.scenarios import SCENARIOS

DEFAULT_CALLS = 20_000
DEFAULT_LINES = 25


def profile(framework: str, scenario: str, calls: int) -> cProfile.Profile:
    """Profile *calls* requests of *scenario* to *framework*'s app."""
    case = SCENARIOS[scenario]
    subject = Subject(framework, case, load(framework)(scenario), case.environ_template())
    problems = verify(subject)
    if problems:
        raise SystemExit(f"{framework} / {scenario} answers wrongly: {'; '.join(problems)}")
    run_batch(subject.app, subject.environ, case.body, 100)
    profiler = cProfile.Profile()
    profiler.runcall(run_batch, subject.app, subject.environ, case.body, calls)
    return profiler


def main(argv: Sequence[str] | None = None) -> int:
    """Print the profile's top functions."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hotspots", description=__doc__)
    parser.add_argument("--scenario", choices=list(SCENARIOS), default="hello")
    parser.add_argument("--framework", choices=FRAMEWORKS, default="microapi")
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS)
    parser.add_argument("--sort", choices=("tottime", "cumulative"), default="tottime")
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES)
    args = parser.parse_args(argv)
    stats = pstats.Stats(
        profile(args.framework, args.scenario, max(1, args.calls)), stream=sys.stdout
    )
    print(f"{args.framework} / {args.scenario}: {args.calls} requests")
    stats.strip_dirs().sort_stats(args.sort).print_stats(args.lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
