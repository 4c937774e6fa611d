"""Builds the optional compiled receive core (``ertcloud.protocol._speedups``) and, where
picows is importable at build time, the compiled picows listener
(``ertcloud.client._picows_listener``, compiled against picows' ``.pxd``).

Everything else is in pyproject.toml. Where Cython or a C compiler is missing, or the
compilation fails, the package installs without the extension and runs the pure core
(one notice on stderr); ``ERTCLOUD_NO_EXTENSIONS=1`` at build time skips it on purpose.
Without picows in the build environment the listener is left out (the pure one is used).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCE = "src/ertcloud/protocol/_speedups.pyx"
LISTENER = "ertcloud.client._picows_listener"
LISTENER_SOURCE = "src/ertcloud/client/_picows_listener.pyx"


def _notice(why: object, name: str = "ertcloud.protocol._speedups") -> None:
    if name == LISTENER:
        what = "compiled picows listener not built ({}); the pure listener is used"
    else:
        what = "compiled core not built ({}); installing the pure-Python core"
    print("ertcloud: " + what.format(why), file=sys.stderr)


class OptionalBuildExt(build_ext):
    """build_ext that turns any compile error into the pure-Python install."""

    def finalize_options(self) -> None:
        super().finalize_options()
        # the two extensions compile side by side (`-j`/`parallel` given still wins)
        if self.parallel is None:
            self.parallel = os.cpu_count() or 1

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers...
            _notice(exc)

    def build_extension(self, ext: Any) -> None:
        # No debug info unless CFLAGS asks for it: the same machine code (Python's -O3 stays),
        # a quarter less compile time for the core's 2 MB of generated C.
        cflags = os.environ.get("CFLAGS", "").split()
        if self.compiler.compiler_type == "unix" and not any(f.startswith("-g") for f in cflags):
            ext.extra_compile_args = [*ext.extra_compile_args, "-g0"]
        try:
            super().build_extension(ext)
        except Exception as exc:
            _notice(exc, ext.name)
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
    out: list[Extension] = []
    for ext in (Extension("ertcloud.protocol._speedups", [SOURCE]), *_listener()):
        try:
            out += cythonize([ext], language_level=3, quiet=True)
        except Exception as exc:  # one failing leaves the other
            _notice(exc, ext.name)
    return out


def _listener() -> list[Extension]:
    """The compiled picows listener, tied to the picows found here (its version is built
    in: at run time it is used only under that same version)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        version = dist_version("picows")
    except PackageNotFoundError:
        return []
    macro = ("ERTCLOUD_PICOWS_VERSION", '"' + version.replace('"', "") + '"')
    return [Extension(LISTENER, [LISTENER_SOURCE], define_macros=[macro])]


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
