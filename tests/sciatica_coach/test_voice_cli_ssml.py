"""`sciatica-coach voice estimate` on a line that is not SSML: one clear line and exit 2."""

from __future__ import annotations

import io

import pytest

from sciatica_coach import cli


def test_a_line_that_is_not_well_formed_is_named_and_nothing_after_it_is_timed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SCIATICA_VOICE_PROFILE", raising=False)
    lines = "<speak>Fine.</speak>\n\n<speak>Step one.\n<speak>Not reached.</speak>\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    assert cli.main(["voice", "estimate"]) == 2
    captured = capsys.readouterr()
    assert len(captured.out.split()) == 2  # the good line and the blank one
    assert captured.err.count("\n") == 1
    assert "line 3 of stdin: SSML is not well-formed: <speak> is not closed" in captured.err
