"""The benchmark harness runs, and every framework's app answers identically.

One tiny round; no timing is asserted (speed is measured by ``make bench``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import inprocess


def test_quick_round_runs_and_reports_ratios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    assert inprocess.main(["--quick", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| hello | microapi |" in table
    results = json.loads(out.read_text())["results"]
    frameworks = {result["framework"] for result in results}
    assert frameworks == {"microapi", "falcon", "flask", "bottle", "werkzeug", "bare"}
    scenarios = {result["scenario"] for result in results}
    assert scenarios == {"hello", "param", "notfound", "middleware3"}
    assert all(result["ratios"]["falcon"] > 0 for result in results)
