"""Registers Beam's row coder for the records the writers emit."""

import apache_beam as beam

from beam_batchput.core.records import DeadLetter, Receipt

__all__: list = []

beam.coders.registry.register_coder(DeadLetter, beam.coders.RowCoder)
beam.coders.registry.register_coder(Receipt, beam.coders.RowCoder)
