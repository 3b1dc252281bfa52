"""The benchmark harnesses run, and every framework's app answers identically.

Tiny runs only; no timing is asserted (speed is measured by ``make bench``).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import chart, hotspots, importtime, inprocess, meta, security, server, slowclients
from benchmarks.apps import FRAMEWORKS
from benchmarks.scenarios import SCENARIOS

ALL_SCENARIOS = {
    "hello",
    "param",
    "notfound",
    "post_valid",
    "post_invalid",
    "middleware3",
    "routes100",
    "todos_sqlite",
    "json100k",
}


def test_quick_round_runs_and_reports_ratios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    assert inprocess.main(["--quick", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| hello | microapi |" in table
    assert "| json100k | bare |" in table
    results = json.loads(out.read_text())["results"]
    frameworks = {result["framework"] for result in results}
    assert frameworks == {"microapi", "falcon", "flask", "bottle", "werkzeug", "bare"}
    scenarios = {result["scenario"] for result in results}
    assert scenarios == ALL_SCENARIOS == set(SCENARIOS)
    assert all(result["ratios"]["falcon"] > 0 for result in results)
    assert all(result["ratios"]["bare"] > 0 for result in results)


def test_pin_puts_the_servers_on_one_cpu_and_the_load_on_the_others() -> None:
    if len(os.sched_getaffinity(0)) < 2:  # a one-CPU machine cannot split
        with pytest.raises(ValueError, match="at least 2 CPUs"):
            server.split_cpus()
        return
    server_cpus, load_cpus = server.split_cpus()
    assert len(server_cpus) == 1
    assert server_cpus.isdisjoint(load_cpus)
    assert server_cpus | load_cpus == os.sched_getaffinity(0)
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
        preexec_fn=server.pinned(server_cpus),
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.strip() == str(sorted(server_cpus))
    args = server.parse_args(["--pin"])
    assert (args.server_cpus, args.load_cpus) == (server_cpus, load_cpus)
    assert server.parse_args([]).server_cpus is None


def test_server_mode_serves_checks_and_loads_on_both_servers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "server.json"
    argv = ["--loader", "python", "--seconds", "1", "--trials", "1", "--connections", "2"]
    argv += ["--server", "gunicorn,granian", "--workers", "1,2"]
    argv += ["--framework", "microapi,bare", "--scenario", "post_valid", "--json", str(out)]
    assert server.main(argv) == 0
    printed = capsys.readouterr().out
    assert "| granian | 2 | post_valid | microapi |" in printed
    document = json.loads(out.read_text())
    settings = document["settings"]
    assert settings["loader"] == "Python http.client threads"
    assert settings["interleaved"] is True
    assert settings["workers"] == [1, 2]
    assert settings["servers"]["granian"].startswith("granian ")
    # At microapi serve's threads per worker for each server.
    assert "--blocking-threads 8" in settings["servers"]["granian"]
    assert "--worker-class gthread --threads 32" in settings["servers"]["gunicorn"]
    assert settings["threads"] == {"gunicorn": 32, "granian": 8}
    results = {
        (result["server"], result["workers"], result["framework"]): result
        for result in document["results"]
    }
    assert set(results) == {
        (name, workers, framework)
        for name in ("gunicorn", "granian")
        for workers in (1, 2)
        for framework in ("microapi", "bare")
    }
    for (name, workers, _), result in results.items():
        assert result["requests"] > 0
        assert result["errors"] == 0
        assert result["trials_per_s"] == [result["requests_per_s"]]
        assert result["best_per_s"] == result["requests_per_s"]
        assert len(result["worker_peak_rss_mib"]) == workers
        assert all(rss > 0 for rss in result["worker_peak_rss_mib"])
        assert result["ratios"]["bare"] > 0
        assert ("gunicorn" in result["ratios"]) == (name == "granian")
        assert result["trials_p99_ms"] == [result["p99_ms"]]
        assert 0 <= result["steal_percent"] <= 100


def test_steal_is_the_hypervisors_share_of_the_cpu_time_between_readings() -> None:
    steal, total = meta.cpu_jiffies()
    assert total > 0
    assert 0 <= steal <= total
    assert meta.stolen_percent((10, 1_000), (30, 2_000)) == 2.0
    assert meta.stolen_percent((10, 1_000), (10, 1_000)) == 0.0


def test_server_trials_rotate_the_framework_order() -> None:
    assert list(server.trial_orders(["a", "b", "c"], 4)) == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
        ["a", "b", "c"],
    ]
    assert list(server.trial_orders(["a"], 2)) == [["a"], ["a"]]
    assert list(server.trial_orders([], 3)) == []


def test_server_reports_median_and_best_against_falcon() -> None:
    def trials(*rates: int) -> list[server.Load]:
        return [server.Load(rate, 1.0, 0, rate / 1000, 1000 / rate) for rate in rates]

    mine = server.summarize("hello", "microapi", trials(110, 130, 120), [30.0])
    falcon = server.summarize("hello", "falcon", trials(100, 90, 104), [31.0])
    other = server.summarize("param", "microapi", trials(50), [30.0])
    server.add_ratios([mine, falcon, other])
    assert mine.trials_per_s == [110.0, 130.0, 120.0]
    assert mine.trials_p99_ms == [9.091, 7.692, 8.333]
    assert (mine.requests_per_s, mine.p50_ms, mine.best_per_s) == (120.0, 0.12, 130.0)
    assert mine.ratios == {"falcon": 1.2}
    assert mine.best_ratios == {"falcon": 1.25}
    # Trial by trial: 1.1, 1.444, 1.154; the median.
    assert mine.paired_ratios == {"falcon": 1.154}
    # Trial by trial the inverse, 0.909, 0.692, 0.867 (from the rounded p99s); the median.
    assert mine.paired_p99_ratios == {"falcon": 0.867}
    assert falcon.ratios == falcon.best_ratios == falcon.paired_ratios == {"falcon": 1.0}
    assert falcon.paired_p99_ratios == {"falcon": 1.0}
    assert other.ratios == other.best_ratios == other.paired_ratios == {}
    assert other.paired_p99_ratios == {}


def test_server_ratios_compare_within_one_server_and_across_servers() -> None:
    def result(name: str, framework: str, rate: int, workers: int = 1) -> server.ServerResult:
        loads = [server.Load(rate, 1.0, 0, 1.0, 2.0)]
        return server.summarize("hello", framework, loads, [30.0], (name, workers))

    gunicorn = [result("gunicorn", "microapi", 3_000), result("gunicorn", "bare", 3_200)]
    granian = [result("granian", "microapi", 45_000), result("granian", "bare", 50_000)]
    two_workers = result("granian", "microapi", 60_000, workers=2)
    server.add_ratios([*gunicorn, *granian, two_workers])
    assert gunicorn[0].ratios == {"bare": 0.938}
    assert granian[0].ratios == {"bare": 0.9, "gunicorn": 15.0}
    assert granian[1].ratios == {"bare": 1.0, "gunicorn": 15.625}
    # No peer, and no gunicorn run, with two workers: nothing to compare with.
    assert two_workers.ratios == {}


def test_wrk_script_sends_the_scenario() -> None:
    script = server.wrk_script(SCENARIOS["post_valid"])
    assert "wrk.method = " + server._lua_string("POST") in script
    assert "wrk.body = " + server._lua_string(SCENARIOS["post_valid"].body) in script
    assert "WRK_RESULT" in script


def test_chart_draws_png_and_writes_readme(tmp_path: Path) -> None:
    results = [
        {
            "scenario": scenario,
            "framework": framework,
            "best_us": 1.0 + index,
            "ratios": {"falcon": 0.4 + index / 2, "bare": 1.0 + index},
        }
        for scenario in ("hello", "json100k")
        for index, framework in enumerate(FRAMEWORKS)
    ]
    facts = {
        "date": "2026-01-01",
        "python": "CPython 3.11",
        "platform": "Linux x86_64",
        "cpu": "Test CPU, 2 CPUs",
        "Falcon": "4.4.0 (compiled)",
        "microapi": "0.1",
        "werkzeug": "3.1",
        "Flask": "3.1",
        "Bottle": "0.13",
    }
    inprocess_json = tmp_path / "inprocess.json"
    inprocess_json.write_text(
        json.dumps(
            {
                "environment": facts,
                "settings": {"rounds": 1, "seconds": 0.2, "calls": None},
                "results": results,
            }
        )
    )
    png, markdown = tmp_path / "out.png", tmp_path / "README.md"
    missing = str(tmp_path / "missing.json")
    argv = ["--inprocess", str(inprocess_json), "--server", missing, "--slowclients", missing]
    argv += ["--importtime", missing]
    assert chart.main([*argv, "--png", str(png), "--markdown", str(markdown)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    text = markdown.read_text()
    assert "![in-process cost relative to Falcon](out.png)" in text
    assert "| hello | 0.40 | 0.90 |" in text
    assert "**A peer wins" not in text
    assert "Server mode" not in text
    assert "Import time" not in text

    def served(
        name: str, workers: int, framework: str, rate: float, tail: float = 1.0
    ) -> dict[str, object]:
        return {
            "scenario": "hello",
            "framework": framework,
            "server": name,
            "workers": workers,
            "requests_per_s": rate,
            "ratios": {"falcon": rate / 1000},
            "p50_ms": 1.0,
            "p99_ms": 2.0,
            "trials_p99_ms": [2.0, 9.0, 3.0],
            "paired_p99_ratios": {"falcon": tail},
            "steal_percent": 3.0 if workers == 2 else 0.1,
            "errors": 0,
            "worker_peak_rss_mib": [30.0] * workers,
        }

    server_json = tmp_path / "server.json"
    server_json.write_text(
        json.dumps(
            {
                "settings": {
                    "servers": {
                        "gunicorn": "gunicorn 23 --workers 1 G",
                        "granian": "granian 2.8 --workers 1 R",
                    },
                    "workers": [1, 2],
                    "loader": "wrk",
                    "connections": 64,
                    "warmup_seconds": 1,
                    "seconds": 1,
                    "pinned": True,
                },
                "results": [
                    served("gunicorn", 1, "microapi", 3000.0),
                    served("gunicorn", 1, "falcon", 3000.0),
                    served("granian", 1, "microapi", 45000.0, tail=0.5),
                    served("granian", 1, "falcon", 30000.0),
                    served("granian", 2, "microapi", 60000.0, tail=1.25),
                    served("granian", 2, "falcon", 40000.0),
                ],
            }
        )
    )
    slow_json = tmp_path / "slowclients.json"
    slow_result = {
        "server": "granian",
        "workers": 5,
        "alone_per_s": 5000.0,
        "slow_per_s": 4000.0,
        "slow_p99_ms": 9.0,
        "slow_errors": 0,
        "ratio": 0.8,
        "starved": False,
    }
    settings = {"app": "a:api", "connections": 4, "loader": "wrk", "seconds": 5, "slow": 20}
    slow_json.write_text(json.dumps({"settings": settings, "results": [slow_result]}))
    argv = ["--inprocess", str(inprocess_json), "--server", str(server_json)]
    argv += ["--slowclients", str(slow_json), "--importtime", missing]
    assert chart.main([*argv, "--png", str(png), "--markdown", str(markdown)]) == 0
    text = markdown.read_text()
    assert "| scenario | gunicorn, 1 worker(s) | granian, 1 worker(s) |" in text
    assert "| hello | 3000 | 45000 |" in text
    assert "### granian, 1 worker(s)" in text
    assert "`granian 2.8 --workers 1 R` on 127.0.0.1" in text
    assert "`granian 2.8 --workers 2 R` on 127.0.0.1" in text
    one, two = text.split("### granian, 1 worker(s)")[1].split("### granian, 2 worker(s)")
    assert "pinned to one CPU" in one  # --pin: one-worker runs only
    assert "pinned" not in two.split("###")[0]
    assert "Paired p99: the median over trials" in one
    # The median trial's p99 was 2.0; the median of the trials' p99s is shown.
    assert "p99 (the median of the trials' p99s):" in one
    assert "| hello | 1.00 / 3.00 | 1.00 / 3.00 |" in one
    assert "| hello | 0.50 | 1.00 |" in one
    assert "microapi's paired p99 is at or under Falcon's on every scenario." in one
    assert "microapi's paired p99 is above Falcon's on: hello (1.25)." in two
    assert "under 0.5 % of the CPU time (steal) on every scenario" in one
    assert "(steal) while the trials ran on: hello (3.0 %)" in two
    assert "| granian | 5 | 5000 | 4000 | 9.00 | 0 | 0.80 | no |" in text


def test_chart_adds_the_import_time_section(tmp_path: Path) -> None:
    inprocess_json = tmp_path / "inprocess.json"
    facts = {"date": "2026-01-01", "python": "CPython 3.11", "platform": "Linux x86_64"}
    facts["Falcon"] = "4.4.0 (compiled)"
    result = {"scenario": "hello", "framework": "falcon", "best_us": 5.0, "ratios": {"falcon": 1.0}}
    settings = {"rounds": 1, "seconds": 0.2, "calls": None}
    inprocess_json.write_text(
        json.dumps({"environment": facts, "settings": settings, "results": [result]})
    )

    def timed(name: str, code: str, median_ms: float, ratios: list[float]) -> dict[str, object]:
        return {
            "name": name,
            "command": f"python -c '{code}'",
            "times_ms": [median_ms] * len(ratios),
            "median_ms": median_ms,
            "median_over_startup_ms": median_ms - 20.0,
            "ratios": ratios,
            "median_ratio": sorted(ratios)[len(ratios) // 2],
            "min_ratio": min(ratios),
            "max_ratio": max(ratios),
        }

    importtime_json = tmp_path / "importtime.json"
    importtime_json.write_text(
        json.dumps(
            {
                "environment": facts,
                "settings": {"rounds": 3, "baseline": "falcon"},
                "results": [
                    timed("python", "pass", 20.0, [0.2, 0.25, 0.3]),
                    timed("microapi", "import microapi", 90.0, [0.85, 0.9, 0.95]),
                    timed("falcon", "import falcon", 100.0, [1.0, 1.0, 1.0]),
                ],
            }
        )
    )
    markdown = tmp_path / "README.md"
    missing = str(tmp_path / "missing.json")
    argv = ["--inprocess", str(inprocess_json), "--server", missing, "--slowclients", missing]
    argv += ["--importtime", str(importtime_json)]
    assert chart.main([*argv, "--png", str(tmp_path / "out.png"), "--markdown", str(markdown)]) == 0
    text = markdown.read_text()
    assert "## Import time" in text
    assert "3 rounds" in text
    assert "| `python -c 'import microapi'` | 90.0 | 70.0 | 0.90 | 0.85-0.95 |" in text
    assert "| `python -c 'import falcon'` | 100.0 | 80.0 | 1.00 | 1.00-1.00 |" in text
    assert "| `python -c 'pass'` | 20.0 | 0.0 | 0.25 | 0.20-0.30 |" in text
    assert "0.90 x `import falcon`'s time (median of the paired rounds), within the goal" in text


def test_import_time_quick_run_pairs_every_command_with_falcon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "importtime.json"
    assert importtime.main(["--quick", "--json", str(out)]) == 0
    assert "| `python -c 'import microapi'` |" in capsys.readouterr().out
    document = json.loads(out.read_text())
    assert document["settings"]["rounds"] == importtime.QUICK_ROUNDS == 2
    assert document["settings"]["baseline"] == "falcon"
    assert "Falcon" in document["environment"]
    results = {result["name"]: result for result in document["results"]}
    assert list(results) == ["python", "microapi", "falcon", "flask", "bottle", "werkzeug"]
    fields = {
        "name",
        "command",
        "times_ms",
        "median_ms",
        "median_over_startup_ms",
        "ratios",
        "median_ratio",
        "min_ratio",
        "max_ratio",
    }
    for name, result in results.items():
        assert set(result) == fields
        assert result["command"] == "python -c " + shlex.quote(importtime.COMMANDS[name])
        assert len(result["times_ms"]) == len(result["ratios"]) == 2
    # Falcon's runs are their own yardstick: exactly 1, whatever the timings.
    falcon = results["falcon"]
    assert falcon["ratios"] == [1.0, 1.0]
    assert falcon["median_ratio"] == falcon["min_ratio"] == falcon["max_ratio"] == 1.0
    # Likewise the interpreter's start-up minus itself.
    assert results["python"]["median_over_startup_ms"] == 0.0


def test_import_time_children_write_bytecode() -> None:
    env = importtime.child_environment({"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/bin"})
    assert env == {"PATH": "/bin"}


def test_import_time_aborts_when_a_command_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    commands = {**importtime.COMMANDS, "flask": "import no_such_module_here"}
    monkeypatch.setattr(importtime, "COMMANDS", commands)
    assert importtime.main(["--quick"]) == 1
    err = capsys.readouterr().err
    assert "import no_such_module_here" in err
    assert "failed with exit status 1" in err
    assert "ModuleNotFoundError" in err


def test_hotspots_profiles_one_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert hotspots.main(["--scenario", "post_valid", "--calls", "5", "--lines", "5"]) == 0
    assert "microapi / post_valid: 5 requests" in capsys.readouterr().out


def test_hotspots_samples_one_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--scenario", "hello", "--sample", "--seconds", "0.2", "--interval", "0.001"]
    assert hotspots.main(argv) == 0
    out = capsys.readouterr().out
    assert "microapi / hello:" in out
    assert "by package (innermost frame):" in out
    # The sampler sees the app's frames, not only its own loop.
    assert "Api.wsgi_app (microapi/app.py)" in out


def test_security_cost_runs_after_checking_both_answers(capsys: pytest.CaptureFixture[str]) -> None:
    assert security.main(["--rounds", "1", "--calls", "10"]) == 0
    assert "cors + rate_limit(MemoryStore) + bearer_auth" in capsys.readouterr().out


def test_slow_clients_compares_alone_and_beside_slow_connections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One worker: microapi serve's default reads WEB_CONCURRENCY, as the benchmark does.
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    out = tmp_path / "slow.json"
    argv = ["--loader", "python", "--seconds", "1", "--connections", "2", "--slow", "3"]
    assert slowclients.main([*argv, "--threads", "8", "--json", str(out)]) == 0
    assert "| granian | 1 |" in capsys.readouterr().out
    document = json.loads(out.read_text())
    assert document["settings"]["threads"] == 8
    results = {result["server"]: result for result in document["results"]}
    assert set(results) == {"gunicorn", "granian"}
    for result in results.values():
        assert result["workers"] == 1
        assert result["alone_per_s"] > 0
        assert result["alone_errors"] == 0
        # 8 threads outnumber the 3 slow connections: nobody is starved.
        assert result["slow_per_s"] > 0
        assert result["starved"] is False


def test_slow_clients_call_a_server_starved_below_a_tenth() -> None:
    alone = server.Load(1000, 1.0, 0, 1.0, 2.0)
    starved = slowclients.summarize("gunicorn", 5, alone, server.Load(5, 1.0, 0, 1.0, 2.0), 0)
    served = slowclients.summarize("granian", 5, alone, server.Load(800, 1.0, 0, 1.0, 2.0), 0)
    assert (starved.ratio, starved.starved) == (0.005, True)
    assert (served.ratio, served.starved) == (0.8, False)


def test_reports_name_microapis_distribution() -> None:
    from benchmarks import meta
    from microapi.extras import DISTRIBUTION

    assert meta.DISTRIBUTIONS["microapi"] == DISTRIBUTION
    assert meta.environment()["microapi"] != "not installed"
