"""Programs written like the vendor's examples for a deployed ADS (a Login by user name on
``ws://host:port/WebSocket``, no token) run unchanged against ``ertcloud sim
--allow-user-login``: batch requests with a view, on-stream posting with Acks, and the
client's own Pings with their time-out."""

from __future__ import annotations

from typing import Any

import pytest
from support import SimProcess, received, sent


def ads_sim(sim_process: Any, *args: str) -> SimProcess:
    sim: SimProcess = sim_process("--allow-user-login", "--rate", "5", *args)
    return sim


def where(sim: SimProcess) -> list[str]:
    return ["--hostname", "127.0.0.1", "--port", str(sim.port), "--position", "10.0.0.7"]


def test_batch_view_example_gets_three_viewed_images(sim_process: Any, run_program: Any) -> None:
    sim = ads_sim(sim_process)
    p = run_program("market_price_batch_view.py", *where(sim))
    p.wait_for(r'^\s*"Type":"Update"', 3)
    out = p.stop()
    assert out.startswith(f"Connecting to WebSocket ws://127.0.0.1:{sim.port}/WebSocket ...")
    assert "WebSocket successfully connected!" in out
    login, request = sent(out)[:2]
    assert login["Key"]["Name"] == "root" and "NameType" not in login["Key"]
    assert request["Key"]["Name"] == ["TRI.N", "IBM.N", "T.N"]
    msgs = received(out)
    assert msgs[0]["Domain"] == "Login" and msgs[0]["State"]["Stream"] == "Open"
    assert msgs[0]["Key"]["Name"] == "root"
    # The batch stream 2 is acknowledged and closed; each item gets a stream of its own.
    batch = [m for m in msgs if m.get("ID") == 2]
    assert batch and batch[0]["Type"] == "Status" and batch[0]["State"]["Stream"] == "Closed"
    refreshes = {m["Key"]["Name"]: m for m in msgs if m["Type"] == "Refresh" and m["ID"] > 2}
    assert set(refreshes) == {"TRI.N", "IBM.N", "T.N"}
    view = {"BID", "ASK", "BIDSIZE"}
    for r in refreshes.values():
        assert set(r["Fields"]) <= view and {"BID", "ASK"} <= set(r["Fields"])
    updates = [m for m in msgs if m["Type"] == "Update"]
    assert all(set(u["Fields"]) <= view for u in updates)


def test_posting_example_gets_acks_and_sees_its_posts(sim_process: Any, run_program: Any) -> None:
    sim = ads_sim(sim_process)
    p = run_program("market_price_posting.py", *where(sim), "--user", "trader1")
    p.wait_for(r'^\s*"Type":"Ack"', 2, timeout=20)  # a post every 3 s, the first after 3 s
    # The program prints a Post after sending it, so its Ack may be printed first.
    p.wait_for(r'^\s*"PostID":2,?$', 1, timeout=10)
    out = p.stop()
    posts = [m for m in sent(out) if m.get("Type") == "Post"]
    assert [m["PostID"] for m in posts[:2]] == [1, 2]
    assert posts[0]["PostUserInfo"]["Address"] == "10.0.0.7"
    acks = [m for m in received(out) if m["Type"] == "Ack"]
    assert [a["AckID"] for a in acks[:2]] == [1, 2]
    assert all(a["ID"] == 2 and "NakCode" not in a for a in acks)
    # The posted values reach the item's subscribers, the poster included.
    assert any(
        m["Type"] == "Update" and m.get("ID") == 2 and m["Fields"].get("BID") == 45.55
        for m in received(out)
    )


def test_user_login_without_the_switch_is_refused(sim_process: Any, run_program: Any) -> None:
    sim: SimProcess = sim_process()  # the cloud service wants a token
    p = run_program("market_price_batch_view.py", *where(sim))
    p.wait_for(r'^\s*"Stream":"Closed"', 1)
    out = p.stop()
    (login,) = [m for m in received(out) if m.get("Domain") == "Login"]
    assert login["Type"] == "Status" and login["State"]["Data"] == "Suspect"
    assert not any(m.get("Type") == "Refresh" for m in received(out))


@pytest.mark.serial  # counts pings and pongs in real time
def test_ping_example_pings_a_quiet_stream_and_gets_pongs(
    sim_process: Any, run_program: Any
) -> None:
    # Nothing but the image, and no Pings from the server: the program's own Pings are all
    # that keeps the connection busy (with the server pinging, its Pings reset the timer).
    sim = ads_sim(sim_process, "--ping-timeout", "3", "--rate", "0", "--ping-mode", "off")
    p = run_program("market_price_ping.py", *where(sim))
    p.wait_for(r'^\s*"Type":"Pong"', 3, timeout=20)  # a Ping after a second of silence
    assert p.proc.poll() is None
    out = p.stop()
    assert "No ping from server" not in out
    pings = [m for m in sent(out) if m.get("Type") == "Ping"]
    pongs = [m for m in received(out) if m.get("Type") == "Pong"]
    assert len(pings) >= 3 and len(pongs) >= 3
    (refresh,) = [m for m in received(out) if m["Type"] == "Refresh" and m["ID"] == 2]
    assert refresh["Key"]["Name"] == "TRI.N" and refresh["State"]["Stream"] == "Open"


def test_ping_example_times_out_when_nothing_answers(sim_process: Any, run_program: Any) -> None:
    sim = ads_sim(
        sim_process, "--ping-timeout", "3", "--rate", "0", "--ping-mode", "off",
        "--fault", "no_pongs",
    )  # fmt: skip
    p = run_program("market_price_ping.py", *where(sim))
    p.proc.wait(timeout=20)  # a Ping after 1 s of silence, no answer in 3 s: it gives up
    out = p.stop()
    assert p.proc.returncode == 0
    assert "No ping from server, timing out" in out
    assert [m for m in sent(out) if m.get("Type") == "Ping"]
    assert not [m for m in received(out) if m.get("Type") == "Pong"]
