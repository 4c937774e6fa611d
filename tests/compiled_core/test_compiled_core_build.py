"""Building and installing the package from source: the wheel holds the compiled receive core
(built where a C compiler is present), and an install without a compiler falls back to the
pure core with one notice.

Both use one fresh venv holding the package's build requirements (``[build-system]
requires``, read from pyproject.toml, plus ``build``), set up once for the module, where
Cython also turns the ``.pyx`` into C once: the wheel is built in it (``python -m build
--wheel --no-isolation``) and the package installed into it (``pip install
--no-build-isolation``), each from a copy of that source tree of its own (no ``build/`` left
over from another build, none left in the checkout). The isolated environments that ``python
-m build`` and ``pip install`` would each create, and the Cython run each would repeat, are
done once instead of twice, with the same requirements.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.wheel,
    # a build, not a hang: the module's venv and Cython run take minutes on a loaded machine
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        os.environ.get("ERTCLOUD_WHEEL_TEST") != "1", reason="set ERTCLOUD_WHEEL_TEST=1 (slow)"
    ),
]
NOTICE = "compiled core not built"


def _run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    return r  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def build_venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fresh venv (no pip of its own: the tests' pip installs into it) with the build
    requirements, and a copy of the source tree whose C source Cython has made in it: the
    venv's python and the tree."""
    tmp = tmp_path_factory.mktemp("build")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    # --no-compile: no bytecode for all of Cython and setuptools (two thirds of the install's
    # time); the few modules the builds import get theirs as they load
    _run([*_pip(python), "install", "--quiet", "--no-compile", *requires, "build"])
    src = tmp / "src"
    src.mkdir()
    for f in ROOT.iterdir():  # the top-level files and src/, without build products
        if f.is_file():
            shutil.copy2(f, src)
    skip = shutil.ignore_patterns("*.so", "*.c", "__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", src / "src", ignore=skip)
    # setup.py runs Cython as it loads (a C file newer than this venv's Cython, which
    # the builds below then keep)
    _run([str(python), "setup.py", "--version"], cwd=src)
    assert list(src.glob("src/ertcloud/protocol/_speedups.c"))
    return python, src


def _pip(python: Path) -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", str(python)]


def test_wheel_holds_the_compiled_core(build_venv: tuple[Path, Path], tmp_path: Path) -> None:
    python, tree = build_venv
    src = shutil.copytree(tree, tmp_path / "src")
    out = tmp_path / "dist"
    # -O0 (after Python's -O3): a third of the build's time instead of nine tenths; what is
    # checked is what the wheel holds and that it runs (make test's install builds with -O3)
    # -x: the venv holds the build requirements just installed from pyproject.toml; checking
    # them again would load setup.py (and Cython) once more in a subprocess of its own
    build = [str(python), "-m", "build", "--wheel", "--no-isolation", "-x"]
    _run([*build, "-o", str(out), str(src)], env={**os.environ, "CFLAGS": "-O0"})
    (wheel,) = out.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("ertcloud/protocol/_speedups.") and n.endswith(".so") for n in names)
    assert "ertcloud/protocol/_speedups.pyi" in names
    # the wheel's package, compiled core and all, runs: the module loads and is the one
    # picked, and the demo (simulator, token, WebSocket, Refresh, Updates) runs on it
    unpacked = tmp_path / "unpacked"
    zipfile.ZipFile(wheel).extractall(unpacked)
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    env.pop("ERTCLOUD_NO_EXTENSIONS", None)
    # (one interpreter: the core that reports itself is the one the demo then runs on)
    code = (
        "import runpy, sys; from ertcloud.protocol import core;"
        " print(core.__file__, core.CORE, flush=True);"
        " sys.argv = ['ertcloud', 'demo', '--duration', '1'];"
        " runpy.run_module('ertcloud', run_name='__main__')"
    )
    r = _run([sys.executable, "-c", code], env=env, cwd=tmp_path)
    first, _, rest = r.stdout.partition("\n")
    assert first.split() == [str(unpacked / "ertcloud/protocol/core.py"), "compiled"]
    assert "1 item, 1 Refresh" in rest, r.stdout[-2000:]


def test_install_without_a_compiler_gives_the_pure_core(
    build_venv: tuple[Path, Path], tmp_path: Path
) -> None:
    python, tree = build_venv
    src = shutil.copytree(tree, tmp_path / "src")
    install = ["install", "-v", "--no-deps", "--no-build-isolation", "--no-compile", str(src)]
    r = _run(
        [*_pip(python), *install],
        env={**os.environ, "CC": "/bin/false"},
        cwd=tmp_path,
    )
    assert (r.stdout + r.stderr).count(NOTICE) == 1, (r.stdout + r.stderr)[-3000:]
    site = next(python.parent.parent.glob("lib/python3*/site-packages/ertcloud/protocol"))
    assert not list(site.glob("_speedups*.so"))
    assert (site / "_dispatch_pure.py").exists()
