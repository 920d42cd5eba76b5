"""The `claims` command line against a real PostgreSQL: load, positions, history, projections status."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from adapters.settings import Settings
from api import cli
from tests.conftest import meta
from tests.integration.conftest import ORF, PARTIES, caught_up, claim_body

ROOT = Path(__file__).parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ndjson(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return path



def test_load_with_a_bad_sixth_record_records_nothing_and_names_every_bad_one(
    env: Settings, live: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = [{"type": "party", **p} for p in PARTIES[:5]]
    bad = {"type": "claim", **claim_body(speaker="Lawrow")}  # sixth: no such party
    also_bad = {"type": "claim", **claim_body(co_speakers=["Peskow"])}  # the speaker again
    claim = {"type": "claim", "id": "3f0e1b9a-5a43-4a8e-9d65-1c2b7e0f7a11", **claim_body()}
    path = ndjson(tmp_path / "in.ndjson", [*good, bad, claim, also_bad])
    code, out, err = run(capsys, "load", str(path))
    assert code == 1
    assert f"{path}:6: claim speaker: no party is called 'Lawrow'" in err
    assert f"{path}:8: claim co_speakers[0]:" in err and "nothing recorded: 2 of 8" in err
    assert live.app.recorder.max_notification_id() is None  # not one event stored
    code, out, err = run(capsys, "load", "--keep-going", str(path))
    assert code == 1 and "6 recorded, 0 unchanged, 2 failed" in out
    assert live.app.get_party("kremlin").affiliation == "russia"
    fixed = ndjson(tmp_path / "fixed.ndjson", [*good, claim])
    code, out, err = run(capsys, "load", str(fixed))  # what is there already counts as unchanged
    assert (code, out.strip()) == (0, "0 recorded, 6 unchanged, 0 failed"), err


def test_load_of_deeply_nested_json_names_the_line_and_exits_1(
    env: Settings, live: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    array = tmp_path / "deep.json"
    array.write_text('[\n{"type": "topic", "id": "a", "title": "A"},\n{"type": "topic", "facts": '
                     + "[" * 5000 + "]" * 5000 + "}\n]\n")
    code, out, err = run(capsys, "load", str(array))
    assert code == 1 and f"{array}:3: not JSON: depth limit exceeded" in err and "Traceback" not in err
    lines = ndjson(tmp_path / "deep.ndjson", [{"type": "topic", "id": "a", "title": "A"}])
    lines.write_text(lines.read_text() + '{"type": "topic", "id": "b", "title": ' + "[" * 2000 + "]" * 2000 + "}\n")
    code, out, err = run(capsys, "load", str(lines))
    assert code == 1 and f"{lines}:2: not JSON" in err and "nothing recorded" in err
    assert live.app.recorder.max_notification_id() is None


def _record_controls(live: Any) -> Any:
    m = meta()
    for p in PARTIES:
        live.app.register_party(p["id"], p["name"], p["kind"], p.get("affiliation"), p.get("aliases", []), m)
    hostile = "[bold]laut[/bold] \x1b[2J\x1b]0;owned\x07 zwei\nZeilen \u202eesrever"
    claim = live.app.record_claim(
        {**claim_body(speaker="dmitry-peskov", about=None), "position": hostile, "source": ORF}, m
    ).value
    caught_up(live)
    return claim, hostile


def test_positions_shows_the_table_with_control_characters_and_markup_inert(
    env: Settings, live: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _record_controls(live)
    monkeypatch.setattr(cli, "console", Console(width=300))  # a wide terminal: each row on one line
    code, out, err = run(capsys, "positions", "--topic", "miami-talks")
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    flat = "".join(out.split())  # the table may fold a long cell over lines
    assert "[bold]laut[/bold]\\x1b[2J\\x1b]0;owned\\x07zwei\\nZeilen\\u202eesrever" in flat
    for party in ("russia", "kremlin", "dmitry-peskov"):
        assert f"│{party}│miami-talks│negative│" in flat
    code, out, err = run(capsys, "positions", "--party", "Kreml", "--format", "json")
    assert code == 0 and [(r["party"], r["stance"]) for r in json.loads(out)] == [("kremlin", "negative")]
    code, out, err = run(capsys, "positions", "--format", "markdown", "--party", "russia")
    assert "\x1b" not in out and "| russia | miami-talks | negative |" in out


def test_positions_refuses_an_invalid_or_unknown_topic_or_party(
    env: Settings, live: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _record_controls(live)
    with pytest.raises(SystemExit) as usage:
        cli.main(["positions", "--topic", "NOT A SLUG"])
    assert usage.value.code == 2 and "is no topic id" in capsys.readouterr().err
    code, out, err = run(capsys, "positions", "--topic", "nowhere")
    assert (code, out) == (1, "") and "no topic has id 'nowhere'" in err
    code, out, err = run(capsys, "positions", "--party", "nobody")
    assert (code, out) == (1, "") and "no party is called 'nobody'" in err
    code, out, err = run(capsys, "positions", "--party", "[bold]x")
    assert code == 1 and "'[bold]x'" in err  # markup in a message is shown, not applied


def test_projections_status_lists_each_projection_live_at_the_head(
    env: Settings, live: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from projections.runner import PROJECTIONS

    _record_controls(live)
    head = live.app.recorder.max_notification_id()
    code, out, err = run(capsys, "projections", "status")
    assert code == 0, err
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[1:-1]]
            for line in out.splitlines() if line.startswith("│")}
    assert set(PROJECTIONS) <= set(rows)
    for name in PROJECTIONS:
        assert rows[name][1:5] == ["live", str(head), str(head), "0"], rows[name]


def _history_claim(live: Any) -> Any:
    claim, _ = _record_controls(live)
    live.app.correct_claim(claim.id, 1, {"stance": "mixed", "text": "neu"}, "Peskov said more", meta())
    live.app.corroborate_claim(claim.id, "bbc", None, "verified", meta())
    return claim


def test_history_at_80_columns_is_one_line_per_event_with_the_changes(
    env: Settings, live: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    claim = _history_claim(live)
    screen = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=screen, width=80, force_terminal=True, color_system=None))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert cli.main(["history", str(claim.id)]) == 0
    lines = screen.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    events = [line for line in lines if line.strip()[:1].isdigit()]
    assert len(events) == 3, lines
    assert "ClaimAsserted" in events[0] and "speaker: dmitry-peskov" in events[0]
    assert "ClaimCorrected" in events[1] and "stance: negative → mixed" in events[1]
    assert "ClaimCorroborated" in events[2] and "by: bbc" in events[2]
    assert "\x1b" not in screen.getvalue() and "{'" not in screen.getvalue()


def test_history_piped_keeps_every_line_whole_and_json_has_all_data(env: Settings, live: Any) -> None:
    claim = _history_claim(live)
    environ = {**os.environ, "DATABASE_URL": env.database_url or "", "CLAIMS_DB_SCHEMA": env.db_schema}
    piped = subprocess.run([sys.executable, "-m", "api.cli", "history", str(claim.id)], cwd=ROOT, env=environ,
                           capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0, piped.stderr
    events = [line for line in piped.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert len(events) == 3, piped.stdout
    assert "stance: negative → mixed; text: Dmitrijews Aufgabe in Miami sei es lediglich, „Informationen zu " \
           "erhalten“. → neu; reason: Peskov said more" in events[1]
    assert "\\x1b[2J" in events[0] and "\x1b" not in piped.stdout and "{'" not in piped.stdout
    as_json = subprocess.run([sys.executable, "-m", "api.cli", "history", str(claim.id), "--format", "json"],
                             cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)
    data = json.loads(as_json.stdout)
    assert [e["type"] for e in data] == ["ClaimAsserted", "ClaimCorrected", "ClaimCorroborated"]
    assert data[1]["data"]["changes"] == {"stance": "mixed", "text": "neu"}


def test_positions_piped_keeps_each_position_on_one_line(
    env: Settings, live: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _record_controls(live)
    code, out, err = run(capsys, "positions", "--topic", "miami-talks")  # captured: not a terminal
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert [r.split("│")[1].strip() for r in rows] == ["dmitry-peskov", "kremlin", "russia"], out
    assert all("zwei\\nZeilen" in r for r in rows), "a long position is not folded over lines"
