"""``python -m bench``: the speed benchmark (``bench/speed.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed import main

main(sys.argv[1:])
