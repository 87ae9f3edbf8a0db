"""Lineage and display data at their edges: one note at a time stops at the bound, the last room
is filled, and an endpoint's user information (a token, a password) is never displayed."""

import pytest

from beam_batchput.core.lineage import SinkLineage, _without_userinfo

BOUND = 200  # resources reported per bundle at most


def test_resources_noted_one_at_a_time_stop_at_the_bound():
    lineage = SinkLineage("s", "r")
    for n in range(BOUND + 10):
        lineage.note("/p/%04d" % n)
    assert len(lineage._resources) == BOUND


def test_the_last_room_is_filled_by_a_batch_of_notes():
    lineage = SinkLineage("s", "r")
    lineage.note_all(["/p/%04d" % n for n in range(BOUND - 1)])
    lineage.note_all(["/z/b", "/z/a"])
    assert len(lineage._resources) == BOUND and "/z/a" in lineage._resources


@pytest.mark.parametrize("url, shown", [
    ("https://user:secret@emulator.local:8443/p?q=1", "https://emulator.local:8443/p?q=1"),
    ("https://AKIAEXAMPLETOKEN@emulator.local/p", "https://emulator.local/p"),
    ("https://:secret@emulator.local", "https://emulator.local"),
    ("https://emulator.local:8443/p", "https://emulator.local:8443/p"),
])
def test_an_endpoint_is_displayed_without_its_user_information(url, shown):
    assert _without_userinfo(url) == shown
