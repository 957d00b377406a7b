"""The upstream simulator for ``bench/speed.py``, in its own process.

    python bench/speed_sim.py PORT fast|realistic

``fast``: no added latency, streams sent as fast as they are produced. ``realistic``: 200 ms to
the first byte and 20 ms between stream chunks, like a provider answering a small model.
Every answer has 50 output tokens; a stream sends them as 50 content chunks.
"""

from __future__ import annotations

import sys

from tollgate.testing import Scenario, Simulator, run_forever

MODES = {
    "fast": Scenario(output_tokens=50, chunks=50),
    "realistic": Scenario(output_tokens=50, chunks=50, latency=0.2, chunk_delay=0.02),
}


def main(argv: list[str]) -> None:
    port, mode = int(argv[0]), argv[1]
    run_forever("127.0.0.1", port, sim=Simulator(defaults=MODES[mode]))


if __name__ == "__main__":
    main(sys.argv[1:])
