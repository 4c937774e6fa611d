"""Operator errors of the cluster commands, through the command line: each is one
``ertcloud: error:`` line and exit code 2, no traceback. Bad URLs, options and item files
(found before anything starts), an unreachable NATS, a NATS without JetStream, a stream
that is not there, a bucket of another group and a second worker of the same name."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_servers import NatsServer
from support import own_names, run_cli

from ertcloud.cluster import parse_cluster_url
from ertcloud.cluster.connect import connect_nats
from ertcloud.cluster.lease import LeaseTable

UNREACHABLE = "nats://127.0.0.1:1"


def error_line(out: subprocess.CompletedProcess[str]) -> str:
    """The one error line (a ``record --cluster`` says first that it uses the simulator)."""
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    errors = [ln for ln in out.stderr.splitlines() if "error" in ln.lower()]
    assert len(errors) == 1 and out.stderr.strip().splitlines()[-1] == errors[0], out.stderr
    assert errors[0].startswith("ertcloud: error: "), out.stderr
    return errors[0][len("ertcloud: error: ") :]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--cluster", "http://127.0.0.1:4222", "TRI.N"], "cluster URL must start with nats://"),
        (["--cluster", "nats://", "TRI.N"], "no NATS server in 'nats://'"),
        (["--cluster", "nats://127.0.0.1:4222?colour=red", "TRI.N"],
         "unknown cluster option(s): colour"),
        (["--cluster", "nats://127.0.0.1:4222?ttl=soon", "TRI.N"],
         "cluster options ttl and replicas must be numbers"),
        (["--cluster", "nats://127.0.0.1:4222", "--lease-ttl", "0.2", "TRI.N"],
         "the lease ttl must be at least 1 s"),
        (["--cluster", "nats://127.0.0.1:4222?group=a.b", "TRI.N"],
         "cluster group 'a.b': use letters, digits, _ and -"),
        (["--cluster", "nats://127.0.0.1:4222", "--worker-name", "w 1", "TRI.N"],
         "worker name 'w 1': use letters, digits, _ and -"),
        (["--cluster", "nats://127.0.0.1:4222"], "no item to share"),
        (["--cluster", "nats://127.0.0.1:4222", "--items-file", "{tmp}/missing.txt"],
         "cannot read {tmp}/missing.txt: No such file or directory"),
        (["--cluster", "nats://127.0.0.1:4222", "--items-file", "{tmp}"],
         "cannot read {tmp}: Is a directory"),
        (["--cluster", "nats://127.0.0.1:4222", "--items-file", "{tmp}/empty.txt"],
         "{tmp}/empty.txt lists no item"),
        (["--cluster", "nats://127.0.0.1:4222", "--items-file", "{tmp}/binary.db"],
         "{tmp}/binary.db is not a text file of items"),
    ],
)  # fmt: skip
def test_bad_options_and_item_files(args: list[str], says: str, tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("# nothing yet\n\n")
    (tmp_path / "binary.db").write_bytes(b"DUCK\xd0\xff\x00\x01" * 64)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = run_cli("record", *args, "--duration", "5", timeout=60)
    assert out.stderr.strip().splitlines() == [f"ertcloud: error: {error_line(out)}"]
    assert says.replace("{tmp}", str(tmp_path)) in error_line(out)


@pytest.mark.parametrize(
    "args",
    [
        ["record", "--cluster", UNREACHABLE, "--worker-name", "w1", "TRI.N", "--duration", "9"],
        ["record", "--from", UNREACHABLE, "--to", "jsonl:{tmp}/copy.jsonl", "--duration", "1"],
        ["subscribe", "--from", UNREACHABLE, "*", "--count", "1"],
    ],
    ids=["worker", "record-from", "subscribe-from"],
)
def test_unreachable_nats(args: list[str], tmp_path: Path) -> None:
    out = run_cli(*(a.replace("{tmp}", str(tmp_path)) for a in args), timeout=60)
    assert error_line(out).startswith(f"cannot reach NATS at {UNREACHABLE}: ")
    assert not (tmp_path / "copy.jsonl").exists()  # no sink opened for nothing


class NatsWithoutJetStream(NatsServer):
    """``nats-server`` as it starts without ``-js``."""

    def _run_server(self, exe: Path, port: str, ports: Path) -> subprocess.Popen[bytes]:
        assert self.base is not None
        return subprocess.Popen(
            [str(exe), "-a", "127.0.0.1", "-p", port, "--ports_file_dir", str(ports),
             "-l", str(self.base / "server.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip


@pytest.fixture(scope="module")
def plain_nats() -> Iterator[str]:
    server = NatsWithoutJetStream()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.mark.parametrize(
    "args",
    [["cluster", "status", "{url}"], ["subscribe", "--from", "{url}", "*", "--count", "1"],
     ["record", "--from", "{url}", "--to", "jsonl:{tmp}/copy.jsonl", "--duration", "5"]],
    ids=["status", "subscribe-from", "record-from"],
)  # fmt: skip
def test_nats_without_jetstream(args: list[str], plain_nats: str, tmp_path: Path) -> None:
    args = [a.replace("{url}", plain_nats).replace("{tmp}", str(tmp_path)) for a in args]
    out = run_cli(*args, timeout=60)
    assert error_line(out) == (
        f"no JetStream answers at {plain_nats}: start nats-server with -js "
        "(or a jetstream block in its configuration)"
    )


@pytest.mark.parametrize(
    "args",
    [["subscribe", "--from", "{url}", "*", "--count", "1"],
     ["record", "--from", "{url}", "--to", "jsonl:{tmp}/copy.jsonl", "--duration", "5"]],
    ids=["subscribe-from", "record-from"],
)  # fmt: skip
def test_a_stream_that_is_not_there(args: list[str], nats_url: str, tmp_path: Path) -> None:
    url = f"{nats_url}?stream=NOT_THERE"
    out = run_cli(*(a.replace("{url}", url).replace("{tmp}", str(tmp_path)) for a in args))
    assert error_line(out) == (
        f"no stream NOT_THERE at {nats_url}: no worker has published to it yet "
        "(or ?stream= names another)"
    )
    assert not (tmp_path / "copy.jsonl").exists()


async def test_a_second_worker_of_the_same_name_and_another_groups_bucket(
    nats_url: str,
) -> None:
    url = f"{nats_url}?{own_names('twins')}&bucket=twins_leases&ttl=60"
    cfg = parse_cluster_url(url)
    nc = await connect_nats(cfg)
    try:
        first = LeaseTable(nc.jetstream(timeout=10), cfg, "w1", 1)  # a worker w1, alive
        await first.open()
        await first.join({"name": "w1", "pid": 1, "host": "elsewhere", "started": 0})
        out = run_cli("record", "--cluster", url, "--worker-name", "w1", "TRI.N",
                      "--duration", "9", timeout=60)  # fmt: skip
        assert error_line(out) == (
            "a worker named 'w1' is already running in cluster group 'twins' "
            "(or stopped less than 60 s ago)"
        )
        other = url.replace("group=twins", "group=others")
        for args in (["record", "--cluster", other, "--worker-name", "w2", "TRI.N",
                      "--duration", "9"], ["cluster", "status", other]):  # fmt: skip
            out = run_cli(*args, timeout=60)
            assert error_line(out) == (
                "bucket twins_leases belongs to cluster group 'twins', not 'others'"
            )
        assert set(await first.members()) == {"w1"}  # the refused ones took nothing
        await first.leave()
    finally:
        await nc.close()
