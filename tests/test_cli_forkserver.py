"""``run_cli`` forks commands from a process with the package imported: the results are
those of a fresh ``python -m ertcloud`` (exit code, stdout, stderr), and it falls back to a
fresh interpreter where the import-time environment differs."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cli_forkserver
import pytest
from support import cli_env, ertcloud_cmd, run_cli


def fresh(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ertcloud_cmd(*args), capture_output=True, text=True, timeout=60, env=cli_env(**env)
    )


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("market-price", "--user", "x"),  # a usage error: exit 2, one line on stderr
        ("token", "--token-timeout", "0"),
        ("sim", "--tls-cert", "/nonexistent/cert.pem"),
    ],
)
def test_forked_commands_behave_as_fresh_ones(args: tuple[str, ...]) -> None:
    assert cli_forkserver.server() is not None
    forked = cli_forkserver.run(list(args), cli_env(), 60)
    assert forked is not None
    want = fresh(*args)
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        want.returncode,
        want.stdout,
        want.stderr,
    )
    assert run_cli(*args).returncode == want.returncode


def test_each_command_gets_the_environment_it_is_given(tmp_path: Path) -> None:
    # nothing listens there: with credentials the command retries until its token timeout
    args = ("token", "--auth_url", "http://127.0.0.1:9/token", "--token-timeout", "1")
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    without = run_cli(*args, env=cli_env(**env))
    assert without.returncode == 2  # no credentials
    env.update(ERTCLOUD_USER="u", ERTCLOUD_PASSWORD="p")
    forked = run_cli(*args, env=cli_env(**env))
    want = fresh(*args, **env)
    assert forked.returncode == want.returncode == 1  # credentials: the network was tried
    assert forked.stderr == want.stderr


def test_a_different_import_environment_starts_a_fresh_interpreter() -> None:
    s = cli_forkserver.server()
    assert s is not None
    other = "0" if os.environ.get("ERTCLOUD_NO_EXTENSIONS") else "1"
    assert not s.serves(cli_env(ERTCLOUD_NO_EXTENSIONS=other))
    assert s.serves(cli_env(ERTCLOUD_USER="someone"))


def test_a_private_ca_gets_a_server_of_its_own(private_ca: dict[str, str]) -> None:
    env = cli_env(SSL_CERT_FILE=private_ca["ca"])
    own = cli_forkserver.server(env)
    assert own is not None and own is not cli_forkserver.server()
    assert own.serves(env) and not own.serves(cli_env())
    assert own is cli_forkserver.server(env)  # one per CA, kept
    # (that its commands trust the CA: tests/cli/test_cli_vendor_lines.py)
    args = ("sim", "--tls-cert", "/nonexistent/cert.pem")
    forked = cli_forkserver.run(list(args), env, 60)
    assert forked is not None
    want = subprocess.run(ertcloud_cmd(*args), capture_output=True, text=True, timeout=60, env=env)
    assert (forked.returncode, forked.stderr) == (want.returncode, want.stderr)


def test_a_command_past_its_timeout_is_killed() -> None:
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        # listens until stopped: a simulator on a free port
        cli_forkserver.run(["sim", "--port", "0"], cli_env(), 1)
    assert time.monotonic() - start < 20


def test_a_started_command_is_a_process_to_signal_and_wait_for() -> None:
    proc = cli_forkserver.start(["sim", "--port", "0"], cli_env())
    assert proc is not None and isinstance(proc, subprocess.Popen)
    with proc:
        assert proc.stdout is not None
        assert '"websocket_url"' in proc.stdout.readline()
        assert proc.poll() is None
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(0.2)
        proc.send_signal(signal.SIGINT)  # Ctrl+C: the simulator stops cleanly
        assert proc.wait(30) == 0
    assert proc.poll() == 0
    killed = cli_forkserver.start(["sim", "--port", "0"], cli_env())
    assert killed is not None
    killed.kill()
    killed.communicate(timeout=30)
    assert killed.returncode == -signal.SIGKILL


def test_a_request_larger_than_one_read_is_served() -> None:
    rics = ",".join(f"R{i}.N" for i in range(10_000))  # about 80 kB of arguments
    r = cli_forkserver.run(["market-price", "--user", "x", "--ric", rics], cli_env(), 60)
    assert r is not None
    assert r.returncode == 2 and r.stderr.startswith("ertcloud: error:")
    assert cli_forkserver.run(["--help"], cli_env(), 60) is not None  # the server lives on


def test_a_command_started_on_a_terminal_gets_its_ctrl_c() -> None:
    master, slave = os.openpty()
    proc = cli_forkserver.start_on_terminal(["sim", "--port", "0"], cli_env(), slave)
    os.close(slave)
    try:
        assert proc is not None
        seen = b""
        while b'"websocket_url"' not in seen:  # the start-up line, on the terminal
            assert select.select([master], [], [], 30)[0], seen
            seen += os.read(master, 65536)
        assert os.getsid(proc.pid) == os.getpgid(proc.pid) == proc.pid  # a session of its own
        os.write(master, b"\x03")  # typed: SIGINT to the terminal's foreground group
        assert proc.wait(30) == 0  # the simulator's clean stop
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(30)
        os.close(master)


def test_a_shell_shim_runs_forked_commands_and_takes_them_along(tmp_path: Path) -> None:
    """``shim``: an ``ertcloud`` for shells; its exit code and Ctrl+C are the command's, and
    the command goes when the shim is killed (no process left behind)."""
    text = cli_forkserver.shim(cli_env())
    assert text is not None
    shim = tmp_path / "ertcloud"
    shim.write_text(text)
    shim.chmod(0o755)
    r = subprocess.run(
        ["bash", "-c", f"{shim} market-price --user x"], capture_output=True, text=True,
        timeout=60, env=cli_env(),
    )  # fmt: skip
    want = fresh("market-price", "--user", "x")
    assert (r.returncode, r.stdout, r.stderr) == (2, "", want.stderr)
    for stop in (signal.SIGINT, signal.SIGKILL):
        proc = subprocess.Popen(
            [str(shim), "sim", "--port", "0"], stdout=subprocess.PIPE, text=True, env=cli_env()
        )
        with proc:
            assert proc.stdout is not None
            info = json.loads(proc.stdout.readline())
            proc.send_signal(stop)
            try:
                assert proc.wait(30) == (0 if stop == signal.SIGINT else -signal.SIGKILL)
            finally:  # a shim still running after a failure: its command goes with it
                if proc.poll() is None:
                    proc.kill()
            deadline = time.monotonic() + 30
            while True:  # the simulator has stopped listening
                try:
                    socket.create_connection(("127.0.0.1", info["port"]), timeout=1).close()
                except OSError:
                    break
                assert time.monotonic() < deadline, "the forked simulator outlived its shim"
                time.sleep(0.1)


def test_the_workers_of_a_run_share_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first xdist worker to need a server starts it; another finds it by the run's ID,
    after the first has ended too; it goes with the run (the workers' parent)."""
    run = f"test-{os.getpid()}-{time.monotonic_ns()}"
    env = cli_env(PYTEST_XDIST_TESTRUNUID=run)
    here = str(Path(cli_forkserver.__file__).parent)
    first = f"import sys; sys.path.insert(0, {here!r}); import cli_forkserver as s; "
    first += "print(s.server().proc.pid)"
    # a stand-in for the run: a shell that starts the first worker, then waits for a line
    the_run = subprocess.Popen(
        ["sh", "-c", f'"{sys.executable}" -c "$0" && {{ read -r _ || true; }}', first],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    with the_run:
        assert the_run.stdout is not None and the_run.stdin is not None
        pid = int(the_run.stdout.readline())
        monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", run)
        other = cli_forkserver._Server(cli_forkserver.cert_env(env))
        assert other.proc is None  # not started again: the first one's
        r = other.run(["--version"], env, 60)
        assert r.returncode == 0 and r.stdout.startswith("ertcloud ")
        the_run.stdin.close()  # the run ends
        assert the_run.wait(30) == 0
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists() and " Z" not in Path(f"/proc/{pid}/stat").read_text():
            assert time.monotonic() < deadline, "the shared server outlived its run"
            time.sleep(0.1)
    with pytest.raises(cli_forkserver.ServerTrouble):
        other.run(["--version"], env, 60)
    assert not other.alive()  # a new one is started for the next command
