"""The fault API takes JSON from this host only (no cross-site requests) and answers bad
bodies with one-line errors; a scenario file nested too deeply is one line of error."""

from __future__ import annotations

import json
from pathlib import Path

from support import run_cli

from .sim_hardening_support import http_json, start_sim, stop_sim


def test_fault_api_refuses_cross_site_and_non_json_requests() -> None:
    sp = start_sim()
    url = sp.info["faults_url"]
    body = json.dumps({"fault": "gateway_error"}).encode()
    try:
        # what a web page can send without a preflight: text/plain, from its own Origin
        status, reply = http_json(
            url, body, **{"Content-Type": "text/plain", "Origin": "http://evil.example"}
        )
        assert status == 403 and "cross-origin" in reply["error"]
        status, reply = http_json(url, body, **{"Content-Type": "text/plain"})
        assert status == 400 and "application/json" in reply["error"]
        status, reply = http_json(
            url, body, **{"Content-Type": "application/json", "Origin": "http://evil.example"}
        )
        assert status == 403
        # DNS rebinding: a page of another name resolving to loopback
        status, reply = http_json(
            url, body, **{"Content-Type": "application/json", "Host": f"evil.example:{sp.port}"}
        )
        assert status == 403
        assert http_json(url)[1]["active"] == {}  # nothing was switched on
        same = f"http://127.0.0.1:{sp.port}"
        status, reply = http_json(url, body, **{"Content-Type": "application/json", "Origin": same})
        assert status == 200 and "gateway_error" in reply["active"]
    finally:
        stop_sim(sp)


def test_fault_api_bad_bodies_get_one_line_errors() -> None:
    sp = start_sim()
    url = sp.info["faults_url"]
    bad = [
        {"fault": "drop", "bogus": 1},
        {"fault": "gateway_error", "duration": "soon"},
        {"fault": 3},
        {"clear": "drop", "fault": "drop"},
        [1, 2],
        "[" * 100_000,
        {"fault": "short_tokens", "seconds": "x"},
    ]
    try:
        for body in bad:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            status, reply = http_json(url, data, **{"Content-Type": "application/json"})
            assert status == 400, (body, reply)
            text = reply["error"]
            assert "\n" not in text and "Traceback" not in text and "TypeError" not in text
            assert "got an unexpected keyword" not in text
        assert http_json(url)[1]["active"] == {}
    finally:
        stop_sim(sp)


def test_deeply_nested_scenario_file_is_one_line_of_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("step = " + "[" * 100_000 + "]" * 100_000 + "\n")
    proc = run_cli("sim", "--port", "0", "--scenario", str(path), timeout=60)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "nested too deeply" in lines[0], proc.stderr[-500:]
