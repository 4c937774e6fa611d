"""Builds the optional compiled receive core (``ertcloud.protocol._speedups``).

Everything else is in pyproject.toml. Where Cython or a C compiler is missing, or the
compilation fails, the package installs without the extension and runs the pure core
(one notice on stderr); ``ERTCLOUD_NO_EXTENSIONS=1`` at build time skips it on purpose.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCE = "src/ertcloud/protocol/_speedups.pyx"


def _notice(why: object) -> None:
    print(
        f"ertcloud: compiled core not built ({why}); installing the pure-Python core",
        file=sys.stderr,
    )


class OptionalBuildExt(build_ext):
    """build_ext that turns any compile error into the pure-Python install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers...
            _notice(exc)

    def build_extension(self, ext: Any) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            _notice(exc)
            # an extension left in build/ by an earlier build must not ship with this one
            stale = self.get_ext_fullpath(ext.name)
            if os.path.exists(stale):
                os.remove(stale)


def _extensions() -> list[Extension]:
    if os.environ.get("ERTCLOUD_NO_EXTENSIONS", "") not in ("", "0"):
        _notice("ERTCLOUD_NO_EXTENSIONS is set")
        return []
    try:
        from Cython.Build import cythonize
    except ImportError as exc:
        _notice(exc)
        return []
    ext = Extension("ertcloud.protocol._speedups", [SOURCE])
    try:
        out: list[Extension] = cythonize([ext], language_level=3, quiet=True)
    except Exception as exc:
        _notice(exc)
        return []
    return out


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
