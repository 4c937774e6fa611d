"""Print the project's requirements (dependencies plus the named extras), one a line.

``make`` installs them beside the editable build of the package (``pip install -e . --no-deps``),
so that the compiled core builds while pip unpacks the dependencies.
Usage: ``python scripts/requirements.py [EXTRA ...]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # the copy pip vendors (the venv has pip before anything else)
    from pip._vendor import tomli as tomllib


def main(extras: list[str]) -> int:
    """Print the requirements; fail with a one-line message on an unknown extra."""
    pyproject = Path(__file__).parents[1] / "pyproject.toml"
    project = tomllib.loads(pyproject.read_text("utf-8"))["project"]
    reqs = list(project.get("dependencies", []))
    known = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in known:
            print(f"requirements.py: no extra {extra!r} in pyproject.toml", file=sys.stderr)
            return 2
        reqs += known[extra]
    print("\n".join(reqs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
