#!/usr/bin/env bash
# A throw-away NATS server with JetStream on loopback, for tests and local trials.
#
#   nats.sh install              make sure nats-server is here (apt-get as root)
#   nats.sh start STATE_DIR      start `nats-server -js` on 127.0.0.1 on a free port; prints the URL
#   nats.sh stop STATE_DIR       stop it and delete its store
set -euo pipefail

die() { echo "nats.sh: $*" >&2; exit 1; }

find_bin() {
    if command -v nats-server >/dev/null 2>&1; then
        command -v nats-server
    elif [ -x /usr/sbin/nats-server ]; then
        echo /usr/sbin/nats-server
    elif [ -x /usr/bin/nats-server ]; then
        echo /usr/bin/nats-server
    else
        return 1
    fi
}

install() {
    if find_bin >/dev/null; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "nats-server is not installed and installing it needs root"
    command -v apt-get >/dev/null || die "nats-server is not installed and there is no apt-get"
    echo "nats.sh: installing Debian's nats-server ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends nats-server >&2
    find_bin >/dev/null || die "nats-server installed but not found"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local state=$1 bin port
    install
    bin=$(find_bin)
    mkdir -p "$state/js"
    port=$(free_port)
    "$bin" -js -a 127.0.0.1 -p "$port" -sd "$state/js" -P "$state/pid" -l "$state/server.log" \
        </dev/null >/dev/null 2>&1 &
    for _ in $(seq 1 100); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" \
            2>/dev/null && [ -s "$state/pid" ]; then
            echo "nats://127.0.0.1:$port" | tee "$state/url"
            return 0
        fi
        sleep 0.1
    done
    cat "$state/server.log" >&2 || true
    die "nats-server did not start"
}

stop() {
    local state=$1 pid
    [ -f "$state/pid" ] || die "nothing started in $state"
    pid=$(cat "$state/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -rf "$state/js" "$state/pid" "$state/url"
}

case "${1:-}" in
    install) install ;;
    start) [ $# -ge 2 ] || die "usage: nats.sh start STATE_DIR"; start "$2" ;;
    stop) [ $# -ge 2 ] || die "usage: nats.sh stop STATE_DIR"; stop "$2" ;;
    *) die "usage: nats.sh install | start STATE_DIR | stop STATE_DIR" ;;
esac
