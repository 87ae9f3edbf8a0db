"""What a writer tells Beam about itself: sink lineage and display data.

Lineage: every resource a bundle wrote to is reported once per bundle through
``apache_beam.metrics.metric.Lineage.sinks()`` as
``<botocore service>:<Region>.<resource>``, e.g.
``iotsitewise:eu-west-1./windfarm/t01/power`` (a segment holding a dot, colon or
space in backticks, as Beam's ``Lineage.wrap_segment`` does); runners that track lineage
(Dataflow) show it, and ``Lineage.query(result.metrics(), Lineage.SINK)`` reads
it back. Display data: the service, Region, endpoint and the batching, retry,
concurrency and threshold settings; never credentials (an endpoint's user
information is dropped).
"""

from __future__ import annotations

import urllib.parse
from typing import Any, Dict, Iterable, Optional, Set

from apache_beam.metrics.metric import Lineage

from beam_batchput.core.config import BatchingConfig, ClientConfig, RetryConfig

__all__ = ["SinkLineage", "display_items", "region_of"]

#: Distinct resources reported per bundle at most: Beam's lineage trie keeps a
#: bounded number of names and truncates beyond them anyway.
MAX_RESOURCES_PER_BUNDLE = 200
UNKNOWN_REGION = "unknown-region"


def region_of(client: Any) -> str:
    """The Region a boto3 client signs for, or ``unknown-region`` (custom factories)."""
    region = getattr(getattr(client, "meta", None), "region_name", None)
    return region if isinstance(region, str) and region else UNKNOWN_REGION


class SinkLineage:
    """Collects the resources one bundle wrote to; reports them as Beam sink lineage.

    Args:
        service: The botocore service name (the lineage system).
        region: The client's Region.
    """

    def __init__(self, service: str, region: str) -> None:
        self._service = service
        self._region = region
        self._resources: Set[str] = set()

    def note(self, resource: str) -> None:
        """Records that ``resource`` was written to in this bundle."""
        if len(self._resources) < MAX_RESOURCES_PER_BUNDLE:
            self._resources.add(resource)

    def note_all(self, resources: Iterable[str]) -> None:
        """Records that each of ``resources`` was written to in this bundle."""
        room = MAX_RESOURCES_PER_BUNDLE - len(self._resources)
        if room <= 0:
            return
        fresh = set(resources) - self._resources
        if len(fresh) > room:
            fresh = set(sorted(fresh)[:room])
        self._resources |= fresh

    def report(self) -> None:
        """Reports this bundle's resources (call at the end of a bundle) and forgets them."""
        sinks, wrap = Lineage.sinks(), Lineage.wrap_segment
        for resource in sorted(self._resources):
            sinks.add(self._service, wrap(self._region), wrap(resource or "-"))
        self._resources = set()


def _without_userinfo(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = "%s:%d" % (host, parts.port)
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def display_items(service: str, operation: str, client: Optional[ClientConfig],
                  batching: BatchingConfig, retry: RetryConfig, max_in_flight: int,
                  fail_fast: bool, dead_letter_threshold: Optional[float],
                  threshold_windowing: Any, sending: Any = None) -> Dict[str, Any]:
    """The display data of a writer (a ``display_data()`` mapping).

    Args:
        service: The botocore service name.
        operation: The API operation, e.g. ``BatchPutAssetPropertyValue``.
        client: The client configuration, or None for a custom client factory.
        batching: The batching settings.
        retry: The retry settings.
        max_in_flight: Requests in flight per DoFn instance.
        fail_fast: Whether non-transient request errors raise.
        dead_letter_threshold: The threshold, or None.
        threshold_windowing: The threshold's windowing, or None.
        sending: The :class:`~beam_batchput.core.config.SendingConfig`, or None.
    """
    items: Dict[str, Any] = {"service": service, "operation": operation}
    if client is None:
        items["client"] = "custom client factory"
    else:
        items["region"] = client.region_name or "(the worker's default chain)"
        items["endpoint"] = (_without_userinfo(client.endpoint_url) if client.endpoint_url
                             else "(the service's own)")
        if client.profile_name:
            items["profile"] = client.profile_name
        items["tls_verify"] = str(client.verify)
    items.update({
        "max_buffering_seconds": float(batching.max_buffering_seconds),
        "max_buffered_records": str(batching.max_buffered_records or "service default"),
        "num_shards": str(batching.num_shards or "service default"),
        "max_attempts": retry.max_attempts,
        "initial_backoff_seconds": float(retry.initial_backoff_seconds),
        "max_backoff_seconds": float(retry.max_backoff_seconds),
        "max_retry_seconds": float(retry.max_retry_seconds),
        "max_in_flight": max_in_flight,
        "fail_fast": fail_fast,
    })
    if sending is not None:
        items["adaptive_concurrency"] = bool(sending.adaptive_concurrency)
        items["max_throttled_seconds"] = float(retry.max_throttled_seconds)
        for name in ("max_requests_per_second", "max_records_per_second"):
            if getattr(sending, name) is not None:
                items[name] = float(getattr(sending, name))
    if dead_letter_threshold is not None:
        items["dead_letter_threshold"] = float(dead_letter_threshold)
        items["threshold_windowing"] = str(threshold_windowing or "the input's")
    return items
