"""Dataflow Flex Template support: the launcher and AWS web identity federation."""
