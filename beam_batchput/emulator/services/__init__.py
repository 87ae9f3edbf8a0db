"""One handler per emulated service."""

from beam_batchput.emulator.services.connect import ConnectHandler
from beam_batchput.emulator.services.datazone import DataZoneHandler
from beam_batchput.emulator.services.iotevents import IoTEventsHandler
from beam_batchput.emulator.services.sitewise import SiteWiseHandler
from beam_batchput.emulator.services.twinmaker import TwinMakerHandler

__all__ = ["HANDLERS"]

HANDLERS = (SiteWiseHandler, TwinMakerHandler, DataZoneHandler, ConnectHandler, IoTEventsHandler)
