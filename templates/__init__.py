"""Deployment templates: Dataflow Flex Templates and Flink."""
