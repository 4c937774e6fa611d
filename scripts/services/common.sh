# Shared by postgres.sh and nats.sh: the work is done by local_servers.py.
# shellcheck shell=bash

ROOT=$(cd "$HERE/../.." && pwd)
if [ -n "${PYTHON:-}" ]; then
    PY=$PYTHON
elif [ -x "$ROOT/.venv/bin/python" ]; then
    PY=$ROOT/.venv/bin/python  # has the test extra's server wheels
else
    PY=python3
fi

service_main() {
    local kind=$1 debian_pkg=$2 cmd=${3:-}
    die() { echo "$kind: $*" >&2; exit 1; }
    case "$cmd" in
        install)
            "$PY" "$HERE/local_servers.py" "$kind" where >/dev/null 2>&1 && return 0
            [ "$(id -u)" = 0 ] || die "no $kind server found and installing Debian's needs root"
            command -v apt-get >/dev/null || die "no $kind server found and there is no apt-get"
            echo "$kind: no wheel for this platform: installing Debian's $debian_pkg ..." >&2
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq >&2
            apt-get install -y -qq --no-install-recommends "$debian_pkg" >&2
            "$PY" "$HERE/local_servers.py" "$kind" where >/dev/null || die "$debian_pkg not found"
            ;;
        start | stop)
            [ $# -ge 4 ] || die "usage: $kind.sh $cmd STATE_DIR"
            exec "$PY" "$HERE/local_servers.py" "$kind" "$cmd" "$4"
            ;;
        *) die "usage: $kind.sh install | start STATE_DIR | stop STATE_DIR" ;;
    esac
}
