"""Amazon DataZone: PostTimeSeriesDataPoints and ListTimeSeriesDataPoints.

Resources section (entity id → ASSET or LISTING)::

    {"domains": {"dzd_abc123": {"entities": {"asset01": "ASSET", "listing01": "LISTING"}}}}

A request succeeds or fails whole. A ``clientToken`` seen before for the same
entity returns the first answer again without writing; reused with other forms
it is a ConflictException.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Dict, Mapping, Tuple

from beam_batchput.emulator.errors import ServiceErrors
from beam_batchput.emulator.faults import FaultInjector
from beam_batchput.emulator.services.base import ServiceHandler, paginate

__all__ = ["DataZoneHandler"]

DEFAULT_LIST_RESULTS = 50
CONTENT_SUMMARY_LENGTH = 20000  # contentSummary's max in the model


class DataZoneHandler(ServiceHandler):
    """DataZone's time series data point writes and reads."""

    service = "datazone"
    errors = ServiceErrors(validation="ValidationException", internal="InternalServerException")
    operations = {"PostTimeSeriesDataPoints": "post", "ListTimeSeriesDataPoints": "list"}
    has_entry_errors = False

    def load_resources(self, section: Mapping[str, Any]) -> None:
        self._entities: Dict[str, Dict[str, str]] = {}
        for domain, spec in (section.get("domains") or {}).items():
            entities = dict((spec or {}).get("entities") or {})
            for entity, entity_type in entities.items():
                if entity_type not in ("ASSET", "LISTING"):
                    raise ValueError("datazone entity %s type must be ASSET or LISTING, got %r"
                                     % (entity, entity_type))
            self._entities[domain] = entities

    def _entity_key(self, params: Mapping[str, Any]) -> str:
        domain, entity = params["domainIdentifier"], params["entityIdentifier"]
        entity_type = params["entityType"]
        if self.declared:
            if domain not in self._entities:
                raise self.error("not_found", "Domain %s not found." % domain)
            if self._entities[domain].get(entity) != entity_type:
                raise self.error("not_found", "%s %s not found in domain %s."
                                 % (entity_type.title(), entity, domain))
        return "%s/%s/%s" % (domain, entity_type, entity)

    def post(self, params: Dict[str, Any], faults: FaultInjector) -> Dict[str, Any]:
        key = self._entity_key(params)
        for form in params["forms"]:
            content = form.get("content")
            if content is not None:
                try:
                    json.loads(content)
                except ValueError as error:
                    raise self.error("validation", "Form %s content is not JSON: %s"
                                     % (form["formName"], error)) from error
        token = params.get("clientToken")
        fingerprint = json.dumps(params["forms"], sort_keys=True)
        with self.open() as (public, private):
            tokens: Dict[Tuple[str, str], Tuple[str, Dict[str, Any]]] = private.setdefault(
                "tokens", {})
            if token is not None and (key, token) in tokens:
                seen_fingerprint, answer = tokens[(key, token)]
                if seen_fingerprint != fingerprint:
                    raise self.error("conflict", "clientToken %s was used with other forms."
                                     % token)
                return json.loads(json.dumps(answer))
            stored = [{"id": uuid.uuid4().hex, "formName": form["formName"],
                       "typeIdentifier": form["typeIdentifier"],
                       "typeRevision": form.get("typeRevision", "1"),
                       "timestamp": form["timestamp"], "content": form.get("content", "")}
                      for form in params["forms"]]
            points = public.setdefault("dataPoints", {}).setdefault(key, [])
            points.extend(json.loads(json.dumps(stored)))
            points.sort(key=lambda p: p["timestamp"])
            answer = {"domainId": params["domainIdentifier"],
                      "entityId": params["entityIdentifier"],
                      "entityType": params["entityType"], "forms": stored}
            if token is not None:
                tokens[(key, token)] = (fingerprint, answer)
            return json.loads(json.dumps(answer))

    def list(self, params: Dict[str, Any], faults: FaultInjector) -> Dict[str, Any]:
        key = self._entity_key(params)
        start, end = params.get("startedAt"), params.get("endedAt")
        with self.open() as (public, _):
            chosen = [
                {"id": p["id"], "formName": p["formName"], "typeIdentifier": p["typeIdentifier"],
                 "typeRevision": p["typeRevision"], "timestamp": p["timestamp"],
                 "contentSummary": p["content"][:CONTENT_SUMMARY_LENGTH]}
                for p in public.get("dataPoints", {}).get(key, [])
                if p["formName"] == params["formName"]
                and (start is None or p["timestamp"] >= start)
                and (end is None or p["timestamp"] <= end)]
        try:
            page, token = paginate(chosen, params.get("maxResults"), params.get("nextToken"),
                                   DEFAULT_LIST_RESULTS)
        except ValueError as error:
            raise self.error("validation", str(error)) from error
        answer: Dict[str, Any] = {"items": page}
        if token:
            answer["nextToken"] = token
        return answer
