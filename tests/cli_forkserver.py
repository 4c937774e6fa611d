"""A fork server for ``run_cli``: one ``python`` per test process imports the ``ertcloud``
CLI once, then forks a child per command, which runs ``python -m ertcloud ARGS`` (the
package's ``__main__``, via :mod:`runpy`) with the test's environment, working directory
and its own stdout/stderr pipes. Each command is still a process of its own with a real exit
code, but it skips the second or so of interpreter start-up and imports.

Only commands whose import-time environment (``PYTHON*``, ``ERTCLOUD_NO_EXTENSIONS``)
matches the server's use it; ``ERTCLOUD_TEST_NO_FORKSERVER=1`` turns it off."""

from __future__ import annotations

import atexit
import json
import os
import socket
import struct
import subprocess
import sys
import threading

#: Environment read when the package is imported: a command whose values differ starts
#: an interpreter of its own.
IMPORT_ENV_PREFIXES = ("PYTHON", "ERTCLOUD_NO_EXTENSIONS")

_SERVER = r"""
import json, os, select, socket, struct, sys, threading
import ertcloud.cli  # noqa: F401  (the imports every command shares)
import runpy

parent = os.getppid()
listener = socket.socket(fileno=int(sys.argv[1]))
sys.stdout.write("ready\n")
sys.stdout.flush()


def wait(conn, pid):
    _, status = os.waitpid(pid, 0)
    try:
        conn.sendall(struct.pack("!i", os.waitstatus_to_exitcode(status)))
    finally:
        conn.close()


while True:
    if not select.select([listener], [], [], 1.0)[0]:
        if os.getppid() != parent:  # the test process is gone
            sys.exit(0)
        continue
    conn, _ = listener.accept()
    msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    req = json.loads(msg)
    pid = os.fork()
    if pid == 0:
        listener.close()
        conn.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
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
        sys.exit(code)  # the normal way out: atexit handlers, stream flushes
    for fd in fds:
        os.close(fd)
    conn.sendall(struct.pack("!i", pid))
    threading.Thread(target=wait, args=(conn, pid), daemon=True).start()
"""


class _Server:
    def __init__(self) -> None:
        self.cwd = os.getcwd()
        self.env = dict(os.environ)
        self.env["PYTHONUNBUFFERED"] = "1"
        self.path = f"\0ertcloud-forkserver-{os.getpid()}-{id(self)}"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        listener.listen(16)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(listener.fileno())],
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

    def serves(self, env: dict[str, str]) -> bool:
        if self.proc.poll() is not None or os.getcwd() != self.cwd:
            return False
        keys = {k for k in (*env, *self.env) if k.startswith(IMPORT_ENV_PREFIXES)}
        return all(env.get(k) == self.env.get(k) for k in keys)

    def run(
        self, args: list[str], env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        stdin = os.open(os.devnull, os.O_RDONLY)
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(self.path)
            req = {"args": args, "env": env, "cwd": os.getcwd()}
            socket.send_fds(conn, [json.dumps(req).encode()], [stdin, out_w, err_w])
        finally:
            for fd in (stdin, out_w, err_w):
                os.close(fd)
        conn.settimeout(timeout)
        chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}

        def drain(fd: int) -> None:
            with os.fdopen(fd, "rb") as f:
                chunks[fd].append(f.read())

        readers = [threading.Thread(target=drain, args=(fd,), daemon=True) for fd in chunks]
        for t in readers:
            t.start()
        with conn:
            pid = struct.unpack("!i", _recv_exactly(conn, 4))[0]
            try:
                code = struct.unpack("!i", _recv_exactly(conn, 4))[0]
            except TimeoutError:
                _kill(pid)
                for t in readers:
                    t.join(5)
                raise subprocess.TimeoutExpired(["ertcloud", *args], timeout) from None
        for t in readers:
            t.join(timeout)
        out, err = (b"".join(chunks[fd]).decode() for fd in (out_r, err_r))
        return subprocess.CompletedProcess(["ertcloud", *args], code, out, err)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _recv_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise RuntimeError("the CLI fork server closed the connection")
        data += chunk
    return data


def _kill(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass


_server: _Server | None = None
_lock = threading.Lock()


def server() -> _Server | None:
    """This process's fork server, started on first use; None where it is turned off."""
    global _server
    if os.environ.get("ERTCLOUD_TEST_NO_FORKSERVER", "") not in ("", "0"):
        return None
    with _lock:
        if _server is None or _server.proc.poll() is not None:
            _server = _Server()
            atexit.register(_server.stop)
        return _server


def run(
    args: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str] | None:
    """``ertcloud ARGS`` through the fork server, or None where it does not apply."""
    s = server()
    if s is None or not s.serves(env):
        return None
    return s.run(args, env, timeout)
