"""``python -m beam_batchput.emulator --port N [--host H] [--config FILE] [--faults FILE]
[--quotas FILE]``.

Prints the endpoint URL on one line once it serves, and runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import List, Optional

from beam_batchput.emulator.faults import configs_from_mapping
from beam_batchput.emulator.resources import SERVICES, load_mapping
from beam_batchput.emulator.server import Emulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m beam_batchput.emulator",
        description="A local emulator of the IoT SiteWise, IoT TwinMaker, DataZone, Connect "
                    "and IoT Events batch-put APIs.")
    parser.add_argument("--port", type=int, required=True, help="Port to listen on (0: any).")
    parser.add_argument("--host", default="127.0.0.1", help="Loopback address to bind.")
    parser.add_argument("--config", help="Resources file (JSON, or YAML with PyYAML).")
    parser.add_argument("--faults", help="Fault file: service or \"*\" → FaultConfig fields.")
    parser.add_argument("--quotas", help="Quota file: service or \"*\" → overrides of its "
                        "documented quota defaults ({} for the defaults), or null.")
    parser.add_argument("--access-key", default="testing", help="Accepted access key id.")
    parser.add_argument("--secret-key", default="testing", help="Its secret access key.")
    parser.add_argument("--log-level", default="WARNING", help="Logging level.")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the emulator until SIGINT or SIGTERM; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    try:
        faults = configs_from_mapping(load_mapping(args.faults), SERVICES) if args.faults else None
        quotas = load_mapping(args.quotas) if args.quotas else None
        emulator = Emulator(host=args.host, port=args.port, config=args.config,
                            credentials={args.access_key: args.secret_key}, faults=faults,
                            quotas=quotas)
    except (OSError, ValueError) as error:
        print("error: %s" % error, file=sys.stderr)
        return 2
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    with emulator:
        print(emulator.endpoint_url, flush=True)
        while not stopping.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
