"""Reliability proofs: faults, replays, bad input, fatal conditions and secrets."""
