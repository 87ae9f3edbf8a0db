"""One handler per emulated service, as the registry lists them."""

from beam_batchput.registry import SERVICES, load

__all__ = ["HANDLERS"]

HANDLERS = tuple(load(row.emulator_handler) for row in SERVICES if row.emulator_handler)
