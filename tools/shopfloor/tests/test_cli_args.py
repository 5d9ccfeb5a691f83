"""The command line: what `make run` and `make bench` pass, and bad input refused by name."""

from __future__ import annotations

import pytest

from shopfloor.cli import build_parser
from shopfloor.commands import CommandError, default_edge_port


def test_run_options_parse() -> None:
    args = build_parser().parse_args(
        ["run", "--port", "18000", "--service-port", "catalog=18081", "--service-port", "api-gateway=18080"]
    )
    assert args.port == 18000
    assert dict(args.service_port) == {"catalog": 18081, "api-gateway": 18080}
    assert not args.free_ports


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--service-port", "catalog"],
        ["run", "--service-port", "catalog=99999"],
        ["run", "--port", "http"],
        ["edge", "--route", "api=http://127.0.0.1:8080"],
        [],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)
    assert caught.value.code == 2
    assert capsys.readouterr().err


def test_edge_port_comes_from_edge_port_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGE_PORT", raising=False)
    assert default_edge_port() == 8000
    monkeypatch.setenv("EDGE_PORT", "18000")
    assert default_edge_port() == 18000
    monkeypatch.setenv("EDGE_PORT", "eighty")
    with pytest.raises(CommandError, match="EDGE_PORT"):
        default_edge_port()
