"""`shopfloor security report`: kube-bench's JSON (its documented format: check/controls.go and
check/check.go; the data files are EKS node + policies and K3s master results in that format) as
a table of failures with their remediation; failures docs/security.md accepts on purpose are
marked, the others make the exit status 1; bad input is named (exit 2)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from shopfloor.cli import main
from shopfloor.repo import find_repo_root
from shopfloor.security.kube_bench import accepted_failures, parse_report

DATA = Path(__file__).with_name("data")
EKS = DATA / "kube-bench-eks.json"
K3S = DATA / "kube-bench-k3s-master.json"
REPO = find_repo_root(Path(__file__).parent)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        main(["--repo", str(REPO), "security", "report", *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    else:
        code = 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_eks_report_lists_each_failure_with_its_remediation(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(EKS))
    assert out.startswith("kube-bench eks-1.7.0: 5 pass, 3 fail, 1 warn, 1 info\n")
    rows = [line for line in out.splitlines() if line.startswith(("FAIL", "accepted", "WARN"))]
    assert [row.split()[:2] for row in rows] == [["FAIL", "3.1.3"], ["accepted", "3.2.9"], ["accepted", "4.1.8"]]
    assert "chmod 644 /etc/kubernetes/kubelet/config.json" in out  # the remediation, wrapped beside it
    assert "1 failure(s) not accepted in docs/security.md" in out
    assert code == 1  # 3.1.3 is a real finding


def test_warnings_on_request_and_sorted_after_the_failures(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, str(EKS), "--warnings")
    statuses = [line.split()[0] for line in out.splitlines() if line.startswith(("FAIL", "accepted", "WARN"))]
    assert statuses == ["FAIL", "accepted", "accepted", "WARN"]
    assert "Set rotateCertificates: true" in out


def test_a_single_target_report_from_stdin_with_log_lines_before_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # kubectl logs of the CronJob's pod: a warning line, then the JSON.
    monkeypatch.setattr("sys.stdin", io.StringIO("W1130 03:17:02 config.go: no kubelet config\n" + K3S.read_text()))
    code, out, _ = run(capsys, "-")
    assert out.startswith("kube-bench k3s-cis-1.8: 1 pass, 1 fail, 0 warn, 0 info")
    assert "accepted 1.2.18" in " ".join(out.split())
    assert code == 0  # every failure accepted on purpose


def test_with_no_accepted_list_every_failure_counts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "none.md"
    empty.write_text("# nothing accepted\n")
    code, out, _ = run(capsys, str(K3S), "--accepted", str(empty))
    assert code == 1
    assert "FAIL      1.2.18" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("kube-bench finished\n", "no JSON in it (run kube-bench with --json)"),
        ('{"Controls": [{"id": "3"', "not valid JSON at line 1"),
        ('{"Totals": {}}', "neither a 'Controls' list nor a control with 'tests'"),
        ('{"Controls": [{"id": "3", "text": "x", "tests": [{"section": "3.1", "results": [{"test_number": "3.1.1", '
         '"test_desc": "d", "status": "MAYBE"}]}]}]}', "Controls[0].tests[0].results[0].status: 'MAYBE'"),
        ('{"Controls": [{"id": "3", "text": "x", "tests": [{"section": "3.1", "results": [{"status": "PASS"}]}]}]}',
         "Controls[0].tests[0].results[0]: no 'test_number'"),
    ],
    ids=["no-json", "truncated", "not-kube-bench", "bad-status", "no-test-number"],
)  # fmt: skip
def test_bad_input_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bench.json"
    bad.write_text(content)
    code, _, err = run(capsys, str(bad))
    assert code == 2
    assert message in err


def test_a_missing_file_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, str(tmp_path / "nope.json"))
    assert code == 2
    assert "cannot read" in err


def test_the_parser_reads_every_result_and_the_accepted_table() -> None:
    report = parse_report(EKS.read_text())
    document = json.loads(EKS.read_text())
    assert report.count("FAIL") == document["Totals"]["total_fail"]
    assert report.count("PASS") == document["Totals"]["total_pass"]
    accepted = accepted_failures((REPO / "docs" / "security.md").read_text())
    assert {"3.2.9", "4.1.8", "1.2.18"} <= set(accepted)
    assert all(reason and not reason.startswith("-") for reason in accepted.values())
