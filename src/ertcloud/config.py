"""Where credentials come from: the command line, the environment, or a credentials file.

The file is TOML with any of the keys ``user``, ``password``, ``client_id`` and
``client_secret``::

    user = "GE-A-00000000-1-0000"
    password = "..."
    client_id = "my-app-key"

It is ``--credentials FILE``, or else ``$XDG_CONFIG_HOME/ertcloud/credentials.toml``
(``~/.config/ertcloud/credentials.toml``) when that exists. Like ssh keys, it must be
readable by its owner only (``chmod 600``): a file that the group or others may read is
refused. For each value, the command line wins over the environment (``ERTCLOUD_USER``,
``ERTCLOUD_PASSWORD``, ``ERTCLOUD_CLIENT_ID``, ``ERTCLOUD_CLIENT_SECRET``), which wins over
the file.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .exceptions import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "CREDENTIAL_KEYS",
    "DEFAULT_DISCOVERY_URL",
    "ENV_VARS",
    "MAX_SILENCE",
    "CommandLineSecret",
    "Credentials",
    "default_credentials_file",
    "load_credentials_file",
    "resolve_credentials",
]

#: the service discovery endpoint of the Data Platform (``ertcloud.discovery``)
DEFAULT_DISCOVERY_URL = "https://api.refinitiv.com/streaming/pricing/v1/"

#: default of ``max_silence`` (``ertcloud.sinks.metrics``, ``record --max-silence``):
#: /health is 503 after this many seconds without a message
MAX_SILENCE = 30.0

CREDENTIAL_KEYS = ("user", "password", "client_id", "client_secret")
ENV_VARS = {
    "user": "ERTCLOUD_USER",
    "password": "ERTCLOUD_PASSWORD",
    "client_id": "ERTCLOUD_CLIENT_ID",
    "client_secret": "ERTCLOUD_CLIENT_SECRET",
}


@dataclass(frozen=True)
class Credentials:
    """Resolved credentials; the secrets stay out of ``repr()``."""

    user: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)


def default_credentials_file(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/ertcloud/credentials.toml`` (``~/.config`` by default)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ertcloud" / "credentials.toml"


def load_credentials_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a credentials file, refusing one that the group or others can read."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise ConfigError(f"cannot read credentials file {p}: {exc.strerror}") from None
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        mode = stat.S_IMODE(st.st_mode)
        raise ConfigError(
            f"credentials file {p} is accessible by group or others (mode {mode:04o}); "
            f"run: chmod 600 {p}"
        )
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read credentials file {p}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        # The message names a line and column, never the values.
        raise ConfigError(f"credentials file {p} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"credentials file {p} is not valid TOML: nested too deeply") from None
    unknown = sorted(set(data) - set(CREDENTIAL_KEYS))
    if unknown:
        raise ConfigError(
            f"credentials file {p}: unknown key(s) {', '.join(unknown)} "
            f"(known: {', '.join(CREDENTIAL_KEYS)})"
        )
    out: dict[str, str] = {}
    for k, v in data.items():
        if not isinstance(v, str):
            raise ConfigError(f"credentials file {p}: {k} must be a string")
        out[k] = v
    return out


def resolve_credentials(
    *,
    user: str | None = None,
    password: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """Each value from the arguments, else the environment, else the credentials file
    (``file``, or the default file if it exists). Empty strings count as not given."""
    env = os.environ if environ is None else environ
    given: dict[str, str | None] = {
        "user": user,
        "password": password,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    values: dict[str, str | None] = {}
    for k in CREDENTIAL_KEYS:
        v = given[k]
        values[k] = v if v else env.get(ENV_VARS[k]) or None
    if not all(values.values()):
        path = Path(file) if file is not None else default_credentials_file(env)
        if file is not None or path.exists():
            stored = load_credentials_file(path)
            for k in CREDENTIAL_KEYS:
                if not values[k]:
                    values[k] = stored.get(k) or None
    return Credentials(**values)


class CommandLineSecret(argparse.Action):
    """An option carrying a secret: stores it, and warns on stderr that a command line is
    visible to the other users of the machine (``ps``). The warning is for the person at
    the terminal: scripts that capture stderr keep their one-line errors."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kw: Any) -> None:
        kw.setdefault("metavar", "SECRET")
        super().__init__(option_strings, dest, **kw)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        env = {"password": "ERTCLOUD_PASSWORD", "clientsecret": "ERTCLOUD_CLIENT_SECRET"}
        hint = env.get(self.dest, "an environment variable")
        if values and sys.stderr.isatty():
            sys.stderr.write(
                f"ertcloud: warning: {option_string} on the command line can be seen by other "
                f"users (process list); prefer {hint} or a credentials file (--credentials)\n"
            )
