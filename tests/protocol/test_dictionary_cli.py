"""``ertcloud dictionary``: the summary of what a session loads, ``--export csv|json``
(downloaded from a simulator process, cached, or the builtin table), and bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from support import SimProcess, cli_env, run_cli

from ertcloud.protocol.dictionary import Dictionary, builtin


def conn(sim: SimProcess) -> list[str]:
    return [
        "--url",
        f"ws://127.0.0.1:{sim.port}/WebSocket",
        "--auth_url",
        sim.info["token_url"],
        "--user",
        "demo",
        "--password",
        "demo",
        "--clientid",
        "test-app",
    ]


def test_summary_and_exports_from_a_simulator(
    sim_process: Any, tmp_path: Path, receive_core: str
) -> None:
    """The download goes through the receive core: the command runs on the module's one
    (the compiled one, as this process's: forked by ``run_cli``, no interpreter start-up)."""
    sim = sim_process()
    pure = {"ERTCLOUD_NO_EXTENSIONS": "1"} if receive_core == "pure" else {}
    env = cli_env(ERTCLOUD_CACHE_DIR=str(tmp_path / "cache"), **pure)
    r = run_cli("dictionary", *conn(sim), env=env)
    assert r.returncode == 0, r.stderr
    assert "dictionary: download\n" in r.stdout
    assert f"fields: {len(builtin())} (version {builtin().version})" in r.stdout
    assert list((tmp_path / "cache").glob("dictionary-*.json"))

    r = run_cli("dictionary", *conn(sim), "--export", "json", env=env)
    assert r.returncode == 0, r.stderr
    d = Dictionary.from_json(r.stdout)
    assert d.source == "download (cached)" and len(d) == len(builtin())
    assert d.enum_value("CURRENCY", "USD") == 840

    out = tmp_path / "fields.csv"
    r = run_cli(
        "dictionary", *conn(sim), "--export", "csv", "-o", str(out),
        "--cache-dir", str(tmp_path / "other"), env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == len(builtin())
    bid = next(row for row in rows if row["name"] == "BID")
    assert (bid["fid"], bid["type"], bid["ripple_to"]) == ("22", "REAL", "BID_1")
    assert list((tmp_path / "other").glob("dictionary-*.json"))


def test_builtin_and_file_sources(tmp_path: Path) -> None:
    r = run_cli("dictionary", "--source", "builtin", "--export", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["source"] == "builtin" and len(doc["fields"]) == len(builtin())
    path = tmp_path / "d.json"
    path.write_text(r.stdout, encoding="utf-8")
    r = run_cli("dictionary", "--source", str(path))
    assert r.returncode == 0, r.stderr
    assert f"dictionary: {path}" in r.stdout


def test_bad_input_is_one_line_and_non_zero(tmp_path: Path) -> None:
    r = run_cli("dictionary", "--source", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert "cannot read dictionary" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    r = run_cli("dictionary", "--source", str(bad))
    assert r.returncode == 2 and "not a dictionary file" in r.stderr
    r = run_cli("dictionary", "--source", "builtin", "--export", "xml")
    assert r.returncode == 2 and "invalid choice" in r.stderr
