"""The CLI's use of the dictionary in use: a post of a field it does not have is one error
line (exit 2), and table columns of a View given by FID show their fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support import SimProcess, cli_env, run_cli

from ertcloud.protocol.dictionary import Dictionary, FieldInfo, builtin


def test_cli_post_of_an_unknown_field_is_one_line() -> None:
    r = run_cli("post", "TRI.N", "--field", "NO_SUCH_FIELD=1", timeout=60)
    assert r.returncode == 2, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if "error" in ln]
    assert errors == [
        "ertcloud: error: post to TRI.N refused: unknown field 'NO_SUCH_FIELD' "
        "(not in the builtin dictionary)"
    ]


def test_cli_table_columns_given_by_fid_show_their_fields() -> None:
    r = run_cli("subscribe", "TRI.N", "--view", "22,25", "--format", "table", "--count", "1")
    assert r.returncode == 0, r.stderr
    header, line = r.stdout.splitlines()
    assert header.split() == ["time", "RIC", "event", "BID", "ASK"]
    values = line.split()[3:]
    assert line.split()[2] == "REFRESH" and len(values) == 2
    assert all(float(v) > 0 for v in values)  # the BID and ASK values, not blanks


def test_sim_serves_a_dictionary_file(sim_process: Any, tmp_path: Path) -> None:
    b = builtin()
    extra = FieldInfo("MY_SPREAD", 30001, "REAL")
    served = Dictionary([*b.fields.values(), extra], b.enum_tables, version="9.2.0",
                        enum_version=b.enum_version)  # fmt: skip
    path = tmp_path / "served.json"
    path.write_text(served.to_json(), encoding="utf-8")
    sim: SimProcess = sim_process("--dictionary", str(path))
    env = cli_env(ERTCLOUD_CACHE_DIR=str(tmp_path / "cache"))
    r = run_cli(
        "dictionary", "--url", f"ws://127.0.0.1:{sim.port}/WebSocket",
        "--auth_url", sim.info["token_url"], "--user", "demo", "--password", "demo",
        "--clientid", "test-app", "--export", "json", env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    got = Dictionary.from_json(r.stdout)
    fd = got.lookup(30001)
    assert got.version == "9.2.0" and fd is not None
    assert (fd.name, fd.fid, fd.type) == (extra.name, extra.fid, extra.type)


def test_sim_refuses_an_unreadable_dictionary_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json", encoding="utf-8")
    r = run_cli("sim", "--port", "0", "--dictionary", str(path), timeout=60)
    assert r.returncode == 2
    errors = r.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("ertcloud: error: --dictionary: ")
