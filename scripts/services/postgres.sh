#!/usr/bin/env bash
# A throw-away PostgreSQL server on loopback, for tests and local trials.
#
#   postgres.sh install              make sure the server binaries are here (apt-get as root)
#   postgres.sh start STATE_DIR      initdb + start on 127.0.0.1 on a free port; prints the DSN
#   postgres.sh stop STATE_DIR       stop it and delete its data
#
# Uses an installed PostgreSQL (pg_ctl on PATH or under /usr/lib/postgresql/*/bin), else
# installs Debian's `postgresql` package when run as root. The server runs as the
# `postgres` system user when started by root (initdb refuses to run as root).
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit 1; }

find_bin() {
    local d
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return 0
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}

install() {
    if find_bin >/dev/null; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed and installing it needs root"
    command -v apt-get >/dev/null || die "PostgreSQL is not installed and there is no apt-get"
    echo "postgres.sh: installing Debian's postgresql ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
    find_bin >/dev/null || die "postgresql installed but pg_ctl not found"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    local state=$1 bin data port
    install
    bin=$(find_bin)
    mkdir -p "$state"
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    fi
    # The data folder must be reachable by the server's user, so it is not under STATE_DIR
    # (which may sit in a private temporary folder).
    data=$(mktemp -d -t ertcloud-pg.XXXXXX)
    chmod 755 "$data"
    [ "$(id -u)" = 0 ] && chown postgres: "$data"
    echo "$data" >"$state/data_dir"
    as_owner "$bin/initdb" -D "$data/db" -U ertcloud --auth=trust -E UTF8 --no-locale \
        >"$state/initdb.log" 2>&1 || { cat "$state/initdb.log" >&2; die "initdb failed"; }
    port=$(free_port)
    as_owner "$bin/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $data -c fsync=off -c max_connections=50" \
        start >"$state/pg_ctl.log" 2>&1 || {
        cat "$state/pg_ctl.log" "$data/server.log" >&2 || true
        die "the server did not start"
    }
    echo "$bin" >"$state/bin_dir"
    echo "postgresql://ertcloud@127.0.0.1:$port/postgres" | tee "$state/dsn"
}

stop() {
    local state=$1 data bin
    [ -f "$state/data_dir" ] || die "nothing started in $state"
    data=$(cat "$state/data_dir")
    bin=$(cat "$state/bin_dir" 2>/dev/null || find_bin)
    if [ -f "$data/db/postmaster.pid" ]; then
        as_owner "$bin/pg_ctl" -D "$data/db" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$data"
    rm -f "$state/data_dir" "$state/dsn"
}

case "${1:-}" in
    install) install ;;
    start) [ $# -ge 2 ] || die "usage: postgres.sh start STATE_DIR"; start "$2" ;;
    stop) [ $# -ge 2 ] || die "usage: postgres.sh stop STATE_DIR"; stop "$2" ;;
    *) die "usage: postgres.sh install | start STATE_DIR | stop STATE_DIR" ;;
esac
