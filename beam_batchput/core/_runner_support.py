"""Which buffering bound a writer's batching step can rely on, given the runner.

The writers bound a partial batch in streaming with a processing-time timer.
Beam's DirectRunner (2.77) picks its engine by what the pipeline holds:

- Prism, when nothing it lacks is used; a processing-time timer is one thing
  it lacks. When Prism cannot start (offline: Beam cannot download it), the
  DirectRunner falls back to the engines below.
- Its portable engine (``FnApiRunner``), unless a ``TestStream``, Pub/Sub or a
  processing-time timer is used.
- Otherwise its bundle-based engine, which honours processing-time timers but
  cannot run splittable unbounded sources (``PeriodicImpulse``,
  ``MatchContinuously``): it fails with "Transform node … _GroupByKeyOnly was not
  replaced as expected".

So on the DirectRunner, a streaming writer without a ``TestStream`` upstream
bounds its partial batches in event time instead: they go out once the
watermark passes the first buffered record's timestamp plus
``max_buffering_seconds`` (or the window closes). The pipeline then runs on
Prism or the portable engine. With sources whose watermark follows the clock
(``PeriodicImpulse``, ``MatchContinuously``) that is the same bound; with a
source whose watermark stalls, partial batches wait for it to move.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Set

from apache_beam.pvalue import PCollection
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.utils.timestamp import Duration, Timestamp

__all__: list = []

#: The DirectRunner engine that cannot run splittable unbounded sources.
_BUNDLE_ENGINE = "BundleBasedDirectRunner"


def _upstream(records: PCollection) -> Iterator[Any]:
    """Every applied transform ``records`` depends on (main inputs), once each."""
    seen: Set[int] = set()
    todo = [records]
    while todo:
        producer = todo.pop().producer
        if producer is None or id(producer) in seen:
            continue
        seen.add(id(producer))
        yield producer
        todo.extend(p for p in producer.inputs if isinstance(p, PCollection))


def _is_test_stream(transform: Any) -> bool:
    from apache_beam.testing.test_stream import TestStream

    return isinstance(transform, TestStream)


def _is_unbounded_splittable(transform: Any) -> bool:
    import apache_beam as beam
    from apache_beam.runners.common import DoFnSignature

    if not isinstance(transform, beam.ParDo):
        return False
    signature = DoFnSignature(transform.dofn)
    return signature.is_splittable_dofn() and signature.is_unbounded_per_element()


def _runner_kind(records: PCollection) -> str:
    """"direct" (the switching DirectRunner), "bundle" (its bundle engine) or "other"."""
    from apache_beam.runners.direct.direct_runner import (
        BundleBasedDirectRunner,
        SwitchingDirectRunner,
    )

    runner = getattr(records.pipeline, "runner", None)
    if isinstance(runner, SwitchingDirectRunner):
        return "direct"
    if isinstance(runner, BundleBasedDirectRunner):
        return "bundle"
    return "other"


#: The Prism experiment that keeps it from splitting bundles (see :func:`keep_bundles_whole`).
PRISM_NO_SPLIT = "prism_disable_sdf_split"


def _may_run_on_prism(records: PCollection) -> bool:
    """The DirectRunner (which picks Prism when it can), Prism, or a portable job
    service that may be Prism's."""
    from apache_beam.runners.portability.portable_runner import PortableRunner
    from apache_beam.runners.portability.prism_runner import PrismRunner

    runner = getattr(records.pipeline, "runner", None)
    return (_runner_kind(records) == "direct" or isinstance(runner, PrismRunner)
            or type(runner) is PortableRunner)


def keep_bundles_whole(records: PCollection) -> bool:
    """Asks Prism not to split bundles, where ``records``' pipeline may run on it.

    Prism (Beam 2.77) splits a bundle whose progress stalls between two of its
    progress reports (a busy machine is enough). For a stateful stage, it then
    frees the keys of the split-off elements although the rest of the bundle,
    which may hold the same keys, is still running; a new bundle for those keys
    starts from the state as it was before either, and when both commit the
    later one's state wins: the other's buffered items are lost, or items both
    read are sent twice. Without splits Prism runs one key in one bundle at a
    time, as the state API requires. Other runners ignore the experiment; the
    pipeline's own options carry it, so it is set once the writer is applied.

    Returns:
        Whether the experiment was added (or was there already).
    """
    from apache_beam.options.pipeline_options import DebugOptions

    options = getattr(records.pipeline, "options", None)
    if options is None or not _may_run_on_prism(records):
        return False
    options.view_as(DebugOptions).add_experiment(PRISM_NO_SPLIT)
    return True


def buffering_time_domain(records: PCollection, writer: str) -> str:
    """The time domain of the buffering bound of a streaming writer on ``records``.

    Args:
        records: The writer's (unbounded) input.
        writer: The writer's label, for the error message.

    Returns:
        ``TimeDomain.REAL_TIME`` where the runner honours processing-time timers
        together with the pipeline's sources, ``TimeDomain.WATERMARK`` on the
        DirectRunner when that timer would send the pipeline to its bundle engine.

    Raises:
        ValueError: When the pipeline must run on the DirectRunner's bundle engine
            (a ``TestStream``, or that runner asked for) and reads a splittable
            unbounded source, which that engine cannot run.
    """
    kind = _runner_kind(records)
    if kind == "other":
        return TimeDomain.REAL_TIME
    upstream = [applied.transform for applied in _upstream(records)]
    test_stream = any(_is_test_stream(t) for t in upstream)
    splittable = [t for t in upstream if _is_unbounded_splittable(t)]
    if kind == "direct" and not test_stream:
        return TimeDomain.WATERMARK
    if splittable:
        cause = ("a TestStream makes the DirectRunner use its bundle-based engine"
                 if kind == "direct" else "the BundleBasedDirectRunner was asked for")
        raise ValueError(
            "%s cannot run here: %s, which cannot run splittable unbounded sources such as "
            "%s; run the pipeline with --runner=FnApiRunner (or the default DirectRunner, "
            "without TestStream) instead" % (writer, cause, type(splittable[0].dofn).__name__))
    return TimeDomain.REAL_TIME


def buffering_deadline(time_domain: str, clock: Callable[[], float], seconds: float,
                       timestamp: Timestamp, window: Any) -> Timestamp:
    """When a partial batch whose first record has ``timestamp`` must go out.

    Processing time: ``seconds`` from now. Event time: ``seconds`` after the
    record's timestamp, and no later than the window's end.
    """
    if time_domain == TimeDomain.REAL_TIME:
        return Timestamp.of(clock()) + Duration.of(seconds)
    return min(timestamp + Duration.of(seconds), window.max_timestamp())
