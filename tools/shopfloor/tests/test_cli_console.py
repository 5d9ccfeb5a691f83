"""How service output reads in the terminal."""

from __future__ import annotations

import io

import pytest

from shopfloor.local.console import Console, humanize


def test_json_log_lines_read_as_level_message_and_fields() -> None:
    line = (
        '{"time":"2026-01-01 00:00:00","level":"WARNING","logger":"x","message":"cache down",'
        '"service":"catalog","request_id":"abc","color_message":"cache down"}'
    )
    assert humanize(line) == "WARNING cache down  request_id=abc"
    assert humanize("plain text") == "plain text"
    assert humanize("{not json") == "{not json"
    traceback = '{"level":"ERROR","message":"boom","exc_info":"Traceback ...\\nValueError: x"}'
    assert humanize(traceback).splitlines() == ["ERROR   boom", "Traceback ...", "ValueError: x"]


def test_lines_are_prefixed_with_the_padded_service_name() -> None:
    stream = io.StringIO()
    console = Console(["catalog", "api-gateway"], stream=stream, color=False)
    console.service_line("catalog", "hello")
    console.service_line("api-gateway", '{"level":"INFO","message":"two\\nlines"}')
    assert stream.getvalue().splitlines() == [
        "catalog     | hello",
        "api-gateway | INFO    two",
        "api-gateway | lines",
    ]


def test_colour_only_when_asked_or_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    plain = io.StringIO()
    Console(["a"], stream=plain).service_line("a", "x")
    assert "\033[" not in plain.getvalue()
    coloured = io.StringIO()
    Console(["a"], stream=coloured, color=True).service_line("a", "x")
    assert "\033[" in coloured.getvalue()
