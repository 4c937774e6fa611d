"""A fork server for ``run_cli``: one ``python`` per test run imports the ``ertcloud``
CLI once, then forks a child per command, which runs ``python -m ertcloud ARGS`` (the
package's ``__main__``, via :mod:`runpy`) with the test's environment, working directory
and its own stdout/stderr pipes. Each command is still a process of its own with a real exit
code, but it skips the second or so of interpreter start-up and imports, and at its exit the
teardown of the modules it shares with the server.

Only commands whose import-time environment (``PYTHON*``, ``ERTCLOUD_NO_EXTENSIONS``)
matches the server's use it; commands given a CA (``SSL_CERT_FILE``, ``SSL_CERT_DIR``) get a
server of their own per CA. The xdist workers of one run share a server per import-time
environment and folder: the first to need it starts it, the others find its socket by
name. ``ERTCLOUD_TEST_NO_FORKSERVER=1`` turns it off."""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

#: Environment read when the package is imported: a command whose values differ starts
#: an interpreter of its own. (aiohttp loads the default CA paths, which ``SSL_CERT_FILE``
#: and ``SSL_CERT_DIR`` name, on import.)
IMPORT_ENV_PREFIXES = ("PYTHON", "ERTCLOUD_NO_EXTENSIONS", "SSL_CERT_")
#: ... of which these get a server of their own per value (a test's private CA).
CERT_ENV_PREFIX = "SSL_CERT_"

#: Imported by the server before it forks: the CLI, and what its commands import when they
#: run (the client, the simulator, aiohttp...), so that no command imports them again.
PRELOAD = (
    "ertcloud.cli",
    "ertcloud.client",
    "ertcloud.client.standby",
    "ertcloud.client.warm_standby",
    "ertcloud.auth.client",
    "ertcloud.auth.manager",
    "ertcloud.discovery",
    "ertcloud.sim.server",
    "ertcloud.sinks.recorder",
    "ertcloud.sinks.runner",
    "ertcloud.sinks.spec",
    # imported by most commands as they run (options checked, host names encoded)
    "ertcloud.cli.checks",
    "ertcloud.client.api",
    "encodings.idna",
    "resource",
)
#: ... and, by the server for the tests' own environment (not one for a CA), what the
#: commands that record or read a store import as they run (0.4 s of CPU per command:
#: pyarrow imports pandas on its first array) and the cluster's, where installed.
PRELOAD_IF_INSTALLED = (
    "duckdb",
    "pyarrow",
    "pandas",
    "nats",
    "nats.js",
    "ertcloud.sinks.metrics",
    "ertcloud.sinks.jsonl",
    "ertcloud.sinks.textfile",
    "ertcloud.sinks.nats_stream",
    "ertcloud.cluster.worker",
    "ertcloud.cluster.metrics",
)

_SERVER = r"""
import atexit, gc, importlib, json, os, select, socket, struct, sys, threading
import runpy

for name in sys.argv[3:]:
    try:
        importlib.import_module(name.lstrip("?"))
    except Exception:
        if not name.startswith("?"):  # ?name: where installed (and importable)
            raise
# Out of the collector's sight: a command's collections (and the ones at its exit) would
# otherwise walk every preloaded object, writing to each page of the heap it shares with
# this process. That was most of a short command's CPU (0.12 s of 0.13 for --version).
gc.collect()
gc.freeze()

parent = os.getppid()
listener = socket.socket(fileno=int(sys.argv[1]))
watched = int(sys.argv[2])  # the process whose end is this server's (the test run)


def gone():
    if os.getppid() == parent:
        return False
    if watched == parent:
        return True
    try:
        os.kill(watched, 0)
    except ProcessLookupError:
        return True
    return False


sys.stdout.write("ready\n")
sys.stdout.flush()


def wait(conn, pid, tied):
    done = []
    if tied:  # the command goes when its client does (a shim killed with SIGKILL)
        threading.Thread(target=watch, args=(conn, pid, done), daemon=True).start()
    _, status = os.waitpid(pid, 0)
    done.append(True)
    try:
        conn.sendall(struct.pack("!i", os.waitstatus_to_exitcode(status)))
    except OSError:
        pass
    finally:
        conn.close()


def watch(conn, pid, done):
    try:
        gone = not conn.recv(1)  # a client sends nothing after its request
    except OSError:
        return
    if gone and not done:
        os.kill(pid, 9)


while True:
    if not select.select([listener], [], [], 1.0)[0]:
        if gone():  # the test process (or run) is gone
            sys.exit(0)
        continue
    conn, _ = listener.accept()
    try:  # a length-prefixed JSON request; the pipes come with its first bytes
        msg, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
        size = struct.unpack("!i", msg[:4])[0]
        msg = msg[4:]
        while len(msg) < size:
            chunk = conn.recv(size - len(msg))
            if not chunk:
                raise EOFError
            msg += chunk
        req = json.loads(msg)
    except Exception:  # a broken request fails alone
        conn.close()
        continue
    pid = os.fork()
    if pid == 0:
        listener.close()
        conn.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        if req.get("terminal"):  # a session of its own, fd 0 its controlling terminal
            import fcntl, termios

            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        os.environ.clear()
        os.environ.update(req["env"])
        os.chdir(req["cwd"])
        sys.argv = ["ertcloud", *req["args"]]
        try:
            runpy.run_module("ertcloud", run_name="__main__", alter_sys=True)
        except SystemExit as e:
            code = e.code
        else:
            code = 0
        # An interpreter's way out (threads joined, atexit handlers, the command's garbage
        # collected with its finalizers, streams flushed), but for the teardown of the
        # modules it shares with this process: most of a short command's CPU.
        threading._shutdown()
        atexit._run_exitfuncs()
        gc.collect()
        if code is None:
            code = 0
        elif not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                code = code or 120
        os._exit(code & 0xFF)
    for fd in fds:
        os.close(fd)
    conn.sendall(struct.pack("!i", pid))
    threading.Thread(target=wait, args=(conn, pid, bool(req.get("tied"))), daemon=True).start()
"""

#: The ``ertcloud`` of a shell (see :func:`shim`): asks the fork server for ``ertcloud
#: ARGS`` with its own stdin, stdout, stderr, environment and folder, passes SIGINT and
#: SIGTERM on to it and exits as it did.
_SHIM = r"""
import json, os, signal, socket, struct, sys

conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
conn.connect(PATH)
env = dict(os.environ)
req = {"args": sys.argv[1:], "env": env, "cwd": os.getcwd(), "tied": True}
data = json.dumps(req).encode()
socket.send_fds(conn, [struct.pack("!i", len(data))], [0, 1, 2])
conn.sendall(data)


def exactly(n):
    out = b""
    while len(out) < n:
        chunk = conn.recv(n - len(out))
        if not chunk:
            sys.exit(70)  # the fork server is gone
        out += chunk
    return out


pid = struct.unpack("!i", exactly(4))[0]
for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, lambda s, _: os.kill(pid, s))
code = struct.unpack("!i", exactly(4))[0]
if code < 0:  # ended by a signal: so does this process
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


class ServerTrouble(Exception):
    """The fork server could not start a command: start it the usual way instead."""


class _Server:
    """A fork server: started by this process, or (``proc`` None) by another xdist worker
    of the same run, for the same import-time environment and folder."""

    def __init__(self, certs: tuple[tuple[str, str], ...] = ()) -> None:
        self.cwd = os.getcwd()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(CERT_ENV_PREFIX)}
        self.env.update(certs)
        self.env["PYTHONUNBUFFERED"] = "1"
        self.proc: subprocess.Popen[str] | None = None
        self.broken = False
        run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
        if run:  # one per run: named by what the server's imports depend on
            imports = sorted(i for i in self.env.items() if i[0].startswith(IMPORT_ENV_PREFIXES))
            digest = hashlib.sha256(json.dumps([self.cwd, imports]).encode()).hexdigest()[:24]
            self.path = f"\0ertcloud-forkserver-{run}-{digest}"
        else:
            self.path = f"\0ertcloud-forkserver-{os.getpid()}-{id(self)}"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(self.path)
        except OSError:
            listener.close()
            if not run:
                raise
            return  # another worker's server: its socket has the name
        listener.listen(64)
        # a shared server lives as long as the run (the workers' parent), not its starter
        watched = os.getppid() if run else os.getpid()
        preload = [*PRELOAD]
        if certs == cert_env(os.environ):
            preload += [f"?{name}" for name in PRELOAD_IF_INSTALLED]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(listener.fileno()), str(watched), *preload],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=self.env,
            pass_fds=(listener.fileno(),),
        )
        listener.close()
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.wait()
            raise RuntimeError("the CLI fork server did not start")

    def alive(self) -> bool:
        """Not known to be gone (another worker's server shows that on a request)."""
        return not self.broken and (self.proc is None or self.proc.poll() is None)

    def serves(self, env: dict[str, str]) -> bool:
        if not self.alive() or os.getcwd() != self.cwd:
            return False
        keys = {k for k in (*env, *self.env) if k.startswith(IMPORT_ENV_PREFIXES)}
        return all(env.get(k) == self.env.get(k) for k in keys)

    def _spawn(self, args: list[str], env: dict[str, str]) -> tuple[socket.socket, int, int, int]:
        """Fork ``ertcloud ARGS``; returns the connection its exit code comes on, its pid
        and the read ends of its stdout and stderr pipes."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        stdin = os.open(os.devnull, os.O_RDONLY)
        try:
            conn, pid = self._request(args, env, [stdin, out_w, err_w])
        except BaseException:
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            for fd in (stdin, out_w, err_w):
                os.close(fd)
        return conn, pid, out_r, err_r

    def _request(
        self, args: list[str], env: dict[str, str], fds: list[int], terminal: bool = False
    ) -> tuple[socket.socket, int]:
        """Ask for a fork with ``fds`` as its stdin, stdout and stderr; returns the
        connection its exit code comes on and its pid."""
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(self.path)
            req = {"args": args, "env": env, "cwd": os.getcwd(), "terminal": terminal}
            data = json.dumps(req).encode()
            socket.send_fds(conn, [struct.pack("!i", len(data))], fds)
            conn.sendall(data)
            pid = struct.unpack("!i", _recv_exactly(conn, 4))[0]
        except BaseException as e:
            conn.close()
            if isinstance(e, (OSError, RuntimeError)):  # nothing was started
                self.broken = self.proc is None  # a shared one: start another next time
                raise ServerTrouble(str(e)) from e
            raise
        return conn, pid

    def run(
        self, args: list[str], env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        proc = ForkedProcess(args, *self._spawn(args, env))
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        return subprocess.CompletedProcess(proc.args, proc.wait(), out, err)

    def leave(self) -> None:
        """The starter's exit, leaving a shared server running for the other workers (it
        exits with the run): its Popen neither reaps it nor warns that it still runs."""
        if self.proc is not None:
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc._child_created = False  # type: ignore[attr-defined]

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class ForkedProcess(subprocess.Popen[str]):
    """A forked command as a :class:`subprocess.Popen` (text pipes for stdout and stderr):
    its exit code comes from the fork server, signals go to its pid."""

    def __init__(
        self, args: list[str], conn: socket.socket, pid: int, out: int | None, err: int | None
    ):
        # Popen's own __init__ would start a process: set what its methods use instead
        self.args = ["ertcloud", *args]
        self.pid = pid
        self.returncode: int | None = None  # type: ignore[assignment]
        self.stdin = None
        self.stdout = None if out is None else open(out, encoding="utf-8", errors="strict")
        self.stderr = None if err is None else open(err, encoding="utf-8", errors="strict")
        self._conn = conn
        self._child_created = False  # nothing for Popen.__del__ to reap
        self._readers: list[threading.Thread] = []
        self._output: dict[str, str] = {}
        self.text_mode = True
        self.universal_newlines = True

    def poll(self) -> int | None:
        self._read_code(0.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._read_code(timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self.returncode

    def _read_code(self, timeout: float | None) -> None:
        """The exit code, if the server sends it within ``timeout`` (0: has sent it)."""
        if self.returncode is not None:
            return
        self._conn.settimeout(timeout)
        try:
            peek = self._conn.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, TimeoutError):
            return
        finally:
            self._conn.settimeout(None)  # the four bytes come in one piece
        if not peek:
            raise RuntimeError("the CLI fork server closed the connection")
        self.returncode = struct.unpack("!i", _recv_exactly(self._conn, 4))[0]
        self._conn.close()

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(
        self, input: str | None = None, timeout: float | None = None
    ) -> tuple[str, str]:
        assert input is None, "forked commands read nothing"
        if not self._readers:  # one reader per pipe, kept across calls after a timeout

            def drain(name: str, f: Any) -> None:
                if f is not None and not f.closed:
                    self._output[name] = f.read()
                    f.close()

            self._readers = [
                threading.Thread(target=drain, args=(n, f), daemon=True)
                for n, f in (("out", self.stdout), ("err", self.stderr))
            ]
            for t in self._readers:
                t.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._readers:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        self.wait(left)
        return self._output.get("out", ""), self._output.get("err", "")

    def __del__(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()


def _recv_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise RuntimeError("the CLI fork server closed the connection")
        data += chunk
    return data


_servers: dict[tuple[tuple[str, str], ...], _Server] = {}
_lock = threading.Lock()


def cert_env(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The ``SSL_CERT_*`` variables of ``env``, which choose a server (see :func:`server`)."""
    return tuple(sorted((k, v) for k, v in env.items() if k.startswith(CERT_ENV_PREFIX)))


def server(env: dict[str, str] | None = None) -> _Server | None:
    """This process's fork server for commands run with ``env`` (the one for its own
    environment; another per ``SSL_CERT_*`` value), started on first use; None where it is
    turned off."""
    if os.environ.get("ERTCLOUD_TEST_NO_FORKSERVER", "") not in ("", "0"):
        return None
    certs = cert_env(os.environ if env is None else env)
    with _lock:
        s = _servers.get(certs)
        if s is None or not s.alive():
            s = _servers[certs] = _Server(certs)
            if s.proc is not None:
                shared = bool(os.environ.get("PYTEST_XDIST_TESTRUNUID"))
                atexit.register(s.leave if shared else s.stop)
        return s


def run(
    args: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str] | None:
    """``ertcloud ARGS`` to its end through the fork server, or None where it does not
    apply."""
    s = server(env)
    if s is None or not s.serves(env):
        return None
    try:
        return s.run(args, env, timeout)
    except ServerTrouble:
        return None


def start(args: list[str], env: dict[str, str]) -> ForkedProcess | None:
    """``ertcloud ARGS`` started through the fork server, with stdout and stderr on
    pipes, or None where it does not apply."""
    s = server(env)
    if s is None or not s.serves(env):
        return None
    try:
        return ForkedProcess(args, *s._spawn(args, env))
    except ServerTrouble:
        return None


def start_with(
    args: list[str], env: dict[str, str], stderr: int, stdout: int | None = None
) -> ForkedProcess | None:
    """``ertcloud ARGS`` started through the fork server with stdin from /dev/null, its
    stderr on the file descriptor ``stderr`` and its stdout on ``stdout`` (None: on a
    pipe; ``subprocess.DEVNULL``: none), or None where the server does not apply."""
    s = server(env)
    if s is None or not s.serves(env):
        return None
    out_r, out_w = os.pipe() if stdout is None else (None, stdout)
    stdin = os.open(os.devnull, os.O_RDWR)
    try:
        fds = [stdin, *(stdin if fd == subprocess.DEVNULL else fd for fd in (out_w, stderr))]
        conn, pid = s._request(args, env, fds)
    except ServerTrouble:
        if out_r is not None:
            os.close(out_r)
        return None
    finally:
        os.close(stdin)
        if out_r is not None:
            os.close(out_w)
    return ForkedProcess(args, conn, pid, out_r, None)


def shim(env: dict[str, str]) -> str | None:
    """The text of an executable ``ertcloud`` for shells run with ``env``: it runs each
    command through this process's fork server (a process of its own, its exit code and
    signals as those of a fresh one); None where the server does not apply."""
    s = server(env)
    if s is None or not s.serves(env):
        return None
    return f"#!{sys.executable} -IS\nPATH = {s.path!r}\n{_SHIM}"


def start_on_terminal(args: list[str], env: dict[str, str], tty: int) -> ForkedProcess | None:
    """``ertcloud ARGS`` started through the fork server in a session of its own, with the
    terminal ``tty`` (the slave end of a pseudo-terminal) as its controlling terminal and
    its stdin, stdout and stderr; None where the server does not apply."""
    s = server(env)
    if s is None or not s.serves(env):
        return None
    try:
        conn, pid = s._request(args, env, [tty, tty, tty], terminal=True)
    except ServerTrouble:
        return None
    return ForkedProcess(args, conn, pid, None, None)
