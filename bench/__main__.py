"""`python -m bench`: every benchmark, each writing its section of BENCHMARKS.md."""

from __future__ import annotations

import sys

from bench import delivery, emulator_apns
from clarion import eventloop


def main() -> None:
    """Run the emulator benchmark, then the delivery benchmark, with default sizes."""
    argv = sys.argv
    try:
        sys.argv = [argv[0]]
        eventloop.run(emulator_apns.main())
        eventloop.run(delivery.main())
    finally:
        sys.argv = argv


if __name__ == "__main__":
    main()
