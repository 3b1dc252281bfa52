"""Profile one framework's app for one scenario: where a request's time goes.

The requests are sent the way :mod:`benchmarks.inprocess` sends them (a copied
environ, a fresh ``wsgi.input``, the body consumed and closed), after the
same check of the answer. Two profilers:

- cProfile (the default): exact call counts, but its own overhead inflates
  every Python call, so code made of many small calls (marshmallow) looks
  heavier than it is; read the shares, not the absolute times.
- ``--sample``: a statistical profiler with no per-call overhead. A CPU
  timer (``ITIMER_PROF``) interrupts the loop every ``--interval`` seconds
  of CPU time and the Python stack at that moment is counted; time in C
  (the JSON encoder, SQLite, ``str`` methods) counts for the Python line
  that called it. It prints the share of samples per package (microapi,
  marshmallow, json, werkzeug, sqlite3, the benchmark's own loop and app),
  per line (self) and per function (inclusive): the numbers the performance
  notes quote.

Run ``python -m benchmarks.hotspots --scenario hello`` (default framework
microapi); ``--sort cumulative`` shows cProfile's call tree's heavy branches;
``--sample --seconds 5`` samples for five seconds.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import signal
import sys
import time
from collections import Counter
from collections.abc import Sequence
from types import FrameType

from benchmarks.apps import FRAMEWORKS, load
from benchmarks.inprocess import Subject, run_batch, verify
from benchmarks.scenarios import SCENARIOS

DEFAULT_CALLS = 20_000
DEFAULT_LINES = 25
#: NOTE: the kernel may deliver the timer less often (every 4 ms with
#: CONFIG_HZ=250): sample for longer rather than asking for a shorter interval.
DEFAULT_INTERVAL = 0.001
#: Where a sampled frame's file lies, by path fragment, first match wins:
#: the package summary of ``--sample``.
PACKAGES = (
    ("/microapi/", "microapi"),
    ("/marshmallow/", "marshmallow"),
    ("/json/", "json (stdlib)"),
    ("/werkzeug/", "werkzeug"),
    ("/sqlite3/", "sqlite3"),
    ("/benchmarks/", "benchmark loop and app"),
)


def _subject(framework: str, scenario: str) -> Subject:
    case = SCENARIOS[scenario]
    subject = Subject(framework, case, load(framework)(scenario), case.environ_template())
    problems = verify(subject)
    if problems:
        raise SystemExit(f"{framework} / {scenario} answers wrongly: {'; '.join(problems)}")
    run_batch(subject.app, subject.environ, case.body, 100)
    return subject


def profile(framework: str, scenario: str, calls: int) -> cProfile.Profile:
    """Profile *calls* requests of *scenario* to *framework*'s app."""
    subject = _subject(framework, scenario)
    profiler = cProfile.Profile()
    profiler.runcall(run_batch, subject.app, subject.environ, subject.scenario.body, calls)
    return profiler


class Samples:
    """Stacks counted by :func:`sample`: what was running, how often."""

    def __init__(self) -> None:
        #: Samples per innermost ``function (file:line)``.
        self.lines: Counter[str] = Counter()
        #: Samples per function anywhere on the stack, counted once a sample.
        self.functions: Counter[str] = Counter()
        #: Samples per package of the innermost frame (see :data:`PACKAGES`).
        self.packages: Counter[str] = Counter()
        #: All samples taken.
        self.total = 0
        #: Requests sent while sampling.
        self.requests = 0

    def record(self, frame: FrameType | None, stop: object = None) -> None:
        """Count the stack that *frame* is the innermost frame of, up to the code *stop*."""
        if frame is None or frame.f_code is stop:
            return
        self.total += 1
        code = frame.f_code
        where = code.co_filename
        self.lines[f"{code.co_qualname} ({_short(where)}:{frame.f_lineno})"] += 1
        self.packages[_package(where)] += 1
        seen: set[str] = set()
        while frame is not None and frame.f_code is not stop:
            code = frame.f_code
            name = f"{code.co_qualname} ({_short(code.co_filename)})"
            if name not in seen:
                seen.add(name)
                self.functions[name] += 1
            frame = frame.f_back


def _short(path: str) -> str:
    for fragment, _ in PACKAGES:
        index = path.rfind(fragment)
        if index >= 0:
            return path[index + 1 :]
    return path.rsplit("/", 1)[-1]


def _package(path: str) -> str:
    for fragment, name in PACKAGES:
        if fragment in path:
            return name
    return "other"


def sample(framework: str, scenario: str, seconds: float, interval: float) -> Samples:
    """Sample the stack of requests to *framework*'s *scenario* app for *seconds* of CPU."""
    subject = _subject(framework, scenario)
    samples = Samples()

    def on_timer(signum: int, frame: FrameType | None) -> None:
        # The handler runs between two bytecodes of the interrupted frame;
        # the sampler's own loop is left out.
        samples.record(frame, sample.__code__)

    previous = signal.signal(signal.SIGPROF, on_timer)
    signal.setitimer(signal.ITIMER_PROF, interval, interval)
    try:
        deadline = time.process_time() + seconds
        while time.process_time() < deadline:
            run_batch(subject.app, subject.environ, subject.scenario.body, 1000)
            samples.requests += 1000
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, previous)
    return samples


def _print_samples(samples: Samples, lines: int) -> None:
    total = max(1, samples.total)
    print(f"{samples.total} samples (each about {100 / total:.2f} % of the time)")
    for title, counter, count in (
        ("by package (innermost frame)", samples.packages, len(samples.packages)),
        ("by line (self)", samples.lines, lines),
        ("by function (inclusive)", samples.functions, lines),
    ):
        print(f"\n{title}:")
        for name, hits in counter.most_common(count):
            print(f"{100 * hits / total:6.1f} %  {name}")


def main(argv: Sequence[str] | None = None) -> int:
    """Print the profile's top functions."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hotspots", description=__doc__)
    parser.add_argument("--scenario", choices=list(SCENARIOS), default="hello")
    parser.add_argument("--framework", choices=FRAMEWORKS, default="microapi")
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS)
    parser.add_argument("--sort", choices=("tottime", "cumulative"), default="tottime")
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES)
    parser.add_argument("--sample", action="store_true", help="sample instead of cProfile")
    parser.add_argument("--seconds", type=float, default=5.0, help="CPU time to sample")
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL)
    args = parser.parse_args(argv)
    if args.sample:
        samples = sample(args.framework, args.scenario, args.seconds, args.interval)
        print(f"{args.framework} / {args.scenario}: {samples.requests} requests, sampled")
        _print_samples(samples, args.lines)
        return 0
    stats = pstats.Stats(
        profile(args.framework, args.scenario, max(1, args.calls)), stream=sys.stdout
    )
    print(f"{args.framework} / {args.scenario}: {args.calls} requests")
    stats.strip_dirs().sort_stats(args.sort).print_stats(args.lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
