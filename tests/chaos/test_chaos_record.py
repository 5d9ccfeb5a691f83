"""The record's logic on real inputs: records written by `shopfloor chaos run` on this machine
(data/: a catalog-kill that passed and a catalog-errors whose expected alert never came, from
before the catalogue was corrected to what that run showed), the repo's SLO source, and loads built
request by request. And the commands that read records: `chaos history`, `postmortem draft`, and
`chaos run`'s refusals of bad input (no stack is started for those)."""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shopfloor.chaos.record import (
    FAIL,
    INFO,
    NOT_JUDGED,
    PASS,
    Sample,
    blast_radius,
    error_budget,
    history,
    judge,
    postmortem_draft,
    read_record,
    records,
    render_history,
    write_markdown,
)
from shopfloor.chaos.runner import degraded_slos
from shopfloor.cli import main
from shopfloor.incidents.postmortem import lint
from shopfloor.observe.slos import duration_seconds, load_slos

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
SOURCE = load_slos(REPO)


def real(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return record


def checks(verdict: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["name"]: (c["result"], c["detail"]) for c in verdict["checks"]}


# --- the verdict ------------------------------------------------------------------------------------


def test_judging_a_real_record_again_gives_its_verdict() -> None:
    passed, failed = real("record-catalog-kill.json"), real("record-catalog-errors-failed.json")
    assert judge(passed) == passed["verdict"]
    assert judge(passed)["result"] == PASS
    assert judge(failed) == failed["verdict"]
    verdict = checks(judge(failed))
    assert verdict["alert alertname=SLOFastBurn, slo=checkout-availability"] == (
        FAIL,
        "not delivered within the hold (6s)",
    )
    # HighErrorRatio waits a minute: with a 6 s hold it is not judged, and does not fail the run.
    assert verdict["alert alertname=HighErrorRatio, job=catalog"][0] == NOT_JUDGED
    assert judge(failed)["result"] == FAIL


def test_an_alert_after_the_hold_a_slow_recovery_and_an_inconsistency_each_fail() -> None:
    record = real("record-catalog-kill.json")
    late = copy.deepcopy(record)
    late["alerts"]["expected"][0]["seconds_after_injection"] = record["hold_seconds"] + 0.5
    assert checks(judge(late))["alert alertname=SLOFastBurn, slo=checkout-availability"][0] == FAIL
    slow = copy.deepcopy(record)
    slow["ttr_seconds"] = record["recovery_bound_seconds"] + 1
    assert checks(judge(slow))["recovery"][0] == FAIL
    never = copy.deepcopy(record)
    never["ttr_seconds"] = None
    assert checks(judge(never))["recovery"] == (FAIL, "the SLIs were not back within objective within 30s")
    lost = copy.deepcopy(record)
    lost["consistency"] = {
        "consistent": False,
        "violations": [{"kind": "stock", "subject": "MUG-001", "message": "initial 40 != stock 38 + held 1"}],
    }
    assert checks(judge(lost))["consistency"] == (FAIL, "stock MUG-001: initial 40 != stock 38 + held 1")
    unread = copy.deepcopy(record)
    unread["consistency"] = {"consistent": False, "error": "GET /api/orders failed after 4 attempts"}
    assert checks(judge(unread))["consistency"][0] == FAIL
    no_rollback = copy.deepcopy(record)
    no_rollback["experiment"]["rollbacks"] = [{"name": "remove catalog-kill", "status": "failed"}]
    assert checks(judge(no_rollback))["rollback"][0] == FAIL
    for broken in (late, slow, never, lost, unread, no_rollback):
        assert judge(broken)["result"] == FAIL


def test_a_fault_to_tolerate_fails_when_a_journey_degrades_and_the_blast_radius_is_information() -> None:
    record = real("record-catalog-kill.json")
    tolerated = copy.deepcopy(record)
    tolerated["degraded"]["expected"] = []
    tolerated["alerts"]["expected"] = []
    verdict = checks(judge(tolerated))
    assert verdict["tolerance"] == (
        FAIL,
        "the shop must tolerate this fault, but browse-products, checkout, product-page degraded",
    )
    wider = copy.deepcopy(record)
    wider["degraded"]["expected"] = ["checkout"]
    result, detail = checks(judge(wider))["blast radius"]
    assert result == INFO
    assert detail.endswith("wider than expected: browse-products, product-page")
    assert judge(wider)["result"] == PASS  # information never fails a run


# --- blast radius and error budget from the load ------------------------------------------------------


def load(start: float, seconds: int, per_second: int, journey: str, endpoint: str, status: int, latency: float):
    return [
        Sample(start + second + n / per_second, journey, endpoint, status, latency)
        for second in range(seconds)
        for n in range(per_second)
    ]


def test_the_blast_radius_names_what_degraded_against_its_own_baseline() -> None:
    t0 = 1_800_000_000.0
    samples = [
        # checkout fails while the fault is held (10 s to 16 s), fine before and after
        *load(t0, 10, 4, "checkout", "POST /api/orders", 201, 0.2),
        *load(t0 + 10, 6, 4, "checkout", "POST /api/orders", 503, 0.01),
        *load(t0 + 16, 4, 4, "checkout", "POST /api/orders", 201, 0.2),
        # product pages were already slower than 0.1 s before the fault: not the fault's doing
        *load(t0, 20, 4, "product-page", "GET /api/products/{sku}", 200, 0.15),
        # the list gets slow during the fault only
        *load(t0, 10, 4, "browse-products", "GET /api/products", 200, 0.05),
        *load(t0 + 10, 6, 4, "browse-products", "GET /api/products", 200, 0.9),
    ]
    radius = blast_radius(
        samples, SOURCE, started=t0, injected=t0 + 10, removed=t0 + 16, recovered=t0 + 18, finished=t0 + 20
    )
    assert radius["degraded"] == ["browse-products", "checkout"]
    checkout = radius["journeys"]["checkout"]
    assert (checkout["baseline"]["requests"], checkout["baseline"]["errors"]) == (40, 0)
    assert (checkout["fault"]["requests"], checkout["fault"]["errors"], checkout["fault"]["error_ratio"]) == (
        24,
        24,
        1.0,
    )
    assert checkout["degraded"] == ["availability"]
    assert radius["journeys"]["browse-products"]["degraded"] == ["latency"]
    assert radius["journeys"]["browse-products"]["fault"]["p95_ms"] == 900.0
    assert radius["journeys"]["product-page"]["degraded"] == []
    assert radius["endpoints"]["POST /api/orders"]["fault"]["errors"] == 24
    assert radius["journeys"]["checkout"]["recovery"]["requests"] == 8
    # What a run waits for to recover: only the SLOs that degraded.
    assert degraded_slos(radius) == ["browse-products-latency", "checkout-availability"]


def test_the_error_budget_spent_is_the_bad_share_of_the_window_budget() -> None:
    t0 = 1_800_000_000.0
    samples = [
        *load(t0, 54, 2, "checkout", "POST /api/orders", 201, 0.3),
        *load(t0 + 54, 6, 2, "checkout", "POST /api/orders", 503, 0.01),
    ]
    spent = {entry["slo"]: entry for entry in error_budget(samples, SOURCE, seconds=60)}
    availability = spent["checkout-availability"]
    # 12 of 120 requests failed over 60 s: at that rate the 30-day window holds 30 d x 2/s requests,
    # whose budget is 0.1 %; 12 failures are 12 / (2592000 x 2 x 0.001) of it.
    window = duration_seconds(SOURCE.window)
    assert availability["bad"] == 12
    assert availability["spent_percent"] == pytest.approx(100 * 12 / (window * 2 * 0.001), abs=1e-4)
    assert availability["spent_lab_percent"] == pytest.approx(100 * 12 / (window / 60 * 2 * 0.001), abs=0.01)
    assert spent["checkout-latency"]["bad"] == 0  # 1 s is checkout's latency threshold
    assert "browse-products-availability" not in spent  # no request of that journey


# --- history -----------------------------------------------------------------------------------------


def test_history_compares_each_run_with_the_one_before(tmp_path: Path) -> None:
    first = real("record-catalog-kill.json")
    second = copy.deepcopy(first)
    second["injected_at"] = "2026-12-01T10:00:00.000+00:00"
    second["ttr_seconds"] = first["ttr_seconds"] + 7.5
    second["ttd_seconds"] = first["ttd_seconds"] - 2.0
    third = copy.deepcopy(second)
    third["injected_at"] = "2026-12-02T10:00:00.000+00:00"
    third["ttr_seconds"] = second["ttr_seconds"] + 0.4
    other = real("record-catalog-errors-failed.json")
    for name, record in (("b", second), ("a", first), ("c", third), ("d", other)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "record.json").write_text(json.dumps(record))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "record.json").write_text("{not json")
    found = records(tmp_path, "catalog-kill")
    assert [path.name for path, _ in found] == ["a", "b", "c"]
    rows = history([record for _, record in found])
    assert [(row["ttd_trend"], row["ttr_trend"]) for row in rows] == [
        ("", ""),
        ("better (-2.0s)", "worse (+7.5s)"),
        ("same", "same"),
    ]
    text = render_history(rows)
    assert "TTR over 3 runs: 19.0s -> 26.9s (worse (+7.9s))" in text
    assert len(records(tmp_path)) == 4


# --- what a person reads -------------------------------------------------------------------------------


def test_the_markdown_and_the_postmortem_draft_say_what_the_record_says() -> None:
    record = real("record-catalog-kill.json")
    journal = real("journal-catalog-kill.json")
    markdown = write_markdown(record)
    assert markdown.startswith("# Chaos run: catalog-kill — PASS")
    assert "| detected | 2026-11-30T20:09:44" in markdown or "TTD 3.1 s" in markdown
    draft = postmortem_draft(record, journal)
    assert lint(draft, allow_placeholders=True) == []
    assert lint(draft) != []  # root causes, action items and lessons are still for people to write
    assert "fault catalog-kill injected (chaos run)" in draft
    assert "experiment ended: completed, steady state deviated (chaos toolkit)" in draft
    assert "Time to detect 3.1 s" in draft


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def shopfloor(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> Ran:
    """The CLI in this process (a subprocess per command costs seconds on a busy machine)."""
    monkeypatch.chdir(REPO)
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Ran(code, captured.out, captured.err)


def test_the_commands_read_records_and_refuse_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "20261130T200924Z-catalog-kill"
    run.mkdir()
    shutil.copy(DATA / "record-catalog-kill.json", run / "record.json")
    shutil.copy(DATA / "journal-catalog-kill.json", run / "journal.json")
    drafted = shopfloor(capsys, monkeypatch, "postmortem", "draft", str(run), "--out", str(tmp_path / "pm.md"))
    assert drafted.returncode == 0, drafted.stderr
    linted = shopfloor(capsys, monkeypatch, "postmortem", "lint", "--draft", str(tmp_path / "pm.md"))
    assert linted.returncode == 0, linted.stdout
    missing = shopfloor(capsys, monkeypatch, "postmortem", "draft", str(tmp_path / "nowhere"))
    assert missing.returncode != 0
    assert "no record in" in missing.stderr
    listed = shopfloor(capsys, monkeypatch, "chaos", "history", "catalog-kill", "--records", str(tmp_path))
    assert listed.returncode == 0, listed.stderr
    assert "catalog-kill" in listed.stdout
    assert "19.0s" in listed.stdout
    none = shopfloor(capsys, monkeypatch, "chaos", "history", "db-latency", "--records", str(tmp_path))
    assert none.returncode != 0
    assert "no chaos records of db-latency" in none.stderr
    unknown = shopfloor(capsys, monkeypatch, "chaos", "run", "no-such-fault")
    assert unknown.returncode != 0
    assert "no fault 'no-such-fault'" in unknown.stderr
    not_local = shopfloor(capsys, monkeypatch, "chaos", "run", "az-network-disruption")
    assert not_local.returncode != 0
    assert "cannot run on the local stack" in not_local.stderr
    bad_duration = shopfloor(capsys, monkeypatch, "chaos", "run", "catalog-kill", "--duration", "ten")
    assert bad_duration.returncode != 0
    assert "--duration: not a duration" in bad_duration.stderr
    monkeypatch.delenv("SHOPFLOOR_POSTGRES_URL", raising=False)
    needs = shopfloor(capsys, monkeypatch, "chaos", "run", "db-latency")
    assert needs.returncode != 0
    assert "db-latency needs postgres: pass --postgres" in needs.stderr


def test_a_file_that_is_not_a_record_is_named(tmp_path: Path) -> None:
    (tmp_path / "record.json").write_text(json.dumps({"fault": "x"}))
    from shopfloor.chaos.record import RecordError

    with pytest.raises(RecordError, match="not a chaos record: no 'injected_at'"):
        read_record(tmp_path)
