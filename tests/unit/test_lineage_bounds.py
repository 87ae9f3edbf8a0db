"""Sink lineage per bundle: every resource once, at most MAX_RESOURCES_PER_BUNDLE of them."""

from beam_batchput.core import lineage
from beam_batchput.core.lineage import MAX_RESOURCES_PER_BUNDLE, SinkLineage


def test_note_and_note_all_keep_each_resource_once_within_the_bound():
    one, many = SinkLineage("s", "r"), SinkLineage("s", "r")
    names = ["/p/%04d" % n for n in range(MAX_RESOURCES_PER_BUNDLE + 50)]
    for name in names[:10] * 2:
        one.note(name)
    many.note_all(names[:10] * 2)
    assert one._resources == many._resources == set(names[:10])
    many.note_all(names)
    assert len(many._resources) == MAX_RESOURCES_PER_BUNDLE
    assert set(names[:10]) <= many._resources
    many.note_all(["/late"])  # full: nothing more is kept
    assert "/late" not in many._resources


def test_reported_resources_are_forgotten(monkeypatch):
    reported = []

    class _Sinks:
        def add(self, *parts):
            reported.append(parts)

    monkeypatch.setattr(lineage.Lineage, "sinks", staticmethod(lambda: _Sinks()))
    sink = SinkLineage("iotsitewise", "eu-west-1")
    sink.note_all({"/a", "/b"})
    sink.report()
    assert [parts[-1] for parts in reported] == ["/a", "/b"]
    sink.report()
    assert len(reported) == 2
