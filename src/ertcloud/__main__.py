"""``python -m ertcloud``."""

import os
import sys

# ``python -m`` puts the working directory first on sys.path: a module there (duckdb.py,
# benchmarks/...) would shadow an installed one. The package is found already; drop it.
if sys.path and sys.path[0] in ("", os.getcwd()) and not getattr(sys.flags, "safe_path", False):
    del sys.path[0]

from .cli import main

sys.exit(main())
