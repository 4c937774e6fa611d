"""The CLI's use of the dictionary in use: a post of a field it does not have is one error
line (exit 2), and table columns of a View given by FID show their fields."""

from __future__ import annotations

from support import run_cli


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
