"""The service-agnostic machinery: configuration, packing, sending, the DoFns."""
