"""The README's library example runs as written against ``ertcloud sim`` on any port (the
environment gives it the URLs, as the README says), so no fixed port is ever bound."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from support import ROOT, cli_env


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    return next(b for b in blocks if "ertcloud.connect(" in b)


def test_readme_library_example_runs_as_written(sim_process: Any, tmp_path: Path) -> None:
    sim = sim_process()
    script = tmp_path / "example.py"
    script.write_text(readme_example())
    env = cli_env(ERTCLOUD_URL=sim.info["websocket_url"], ERTCLOUD_TOKEN_URL=sim.info["token_url"])
    r = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[1] == "ItemRefreshed"
    assert any(line.split()[1] == "ItemUpdated" for line in lines)
    assert all(line.split()[0] in ("TRI.N", "EUR=") for line in lines)
    assert "'BID'" in lines[-1] and "'ASK'" in lines[-1]


def test_readme_binds_no_fixed_port_for_what_it_says_runs_as_written() -> None:
    example = readme_example()
    assert "8443" not in example and "connect(user=" in example


def test_readme_starts_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text().splitlines()[:8]
    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)
    assert "make test" in (ROOT / ".ci" / "run").read_text()
