"""Routing and request validation driven by botocore's service models.

A request is routed by the operation's ``http.method`` and ``http.requestUri``
template, its members are gathered from the URI, the query string, the headers
and the JSON body as the model's ``location`` traits say, and every member is
checked against the model: type, ``required``, ``min``/``max``, ``pattern`` and
``enum`` (botocore itself checks only ``required`` and ``min``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import re
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Pattern, Tuple
from urllib.parse import unquote

from botocore.model import OperationModel, ServiceModel, Shape

from beam_batchput._botocore import service_model
from beam_batchput.emulator._regex import compile_pattern
from beam_batchput.emulator._time import to_epoch_seconds

__all__ = ["InvalidInput", "Route", "Router", "parse_input"]

_INT_RANGES = {"integer": (-2 ** 31, 2 ** 31 - 1), "long": (-2 ** 63, 2 ** 63 - 1)}
_SPECIAL_FLOATS = ("NaN", "Infinity", "-Infinity")
_MAX_REPORTED = 10  # validation messages listed in one answer


class InvalidInput(Exception):
    """A request that fails model validation.

    Args:
        problems: One message per violated constraint.
    """

    def __init__(self, problems: List[str]) -> None:
        self.problems = problems
        shown = problems[:_MAX_REPORTED]
        super().__init__("%d validation error%s detected: %s" % (
            len(problems), "" if len(problems) == 1 else "s", "; ".join(shown)))


@dataclasses.dataclass(frozen=True)
class Route:
    """One operation reachable over HTTP."""

    service: str
    operation: OperationModel
    method: str
    path: Pattern[str]
    labels: Tuple[str, ...]

    def match(self, method: str, path: str) -> Optional[Dict[str, str]]:
        """The URI labels of ``path`` when this route serves it, else None."""
        if method != self.method:
            return None
        found = self.path.fullmatch(path)
        if not found:
            return None
        return {label: unquote(found.group(i + 1)) for i, label in enumerate(self.labels)}


def _compile_template(template: str) -> Tuple[Pattern[str], Tuple[str, ...]]:
    path = template.split("?", 1)[0]
    labels: List[str] = []
    parts: List[str] = []
    for piece in re.split(r"(\{[^}]+\})", path):
        if piece.startswith("{") and piece.endswith("}"):
            name = piece[1:-1]
            greedy = name.endswith("+")
            labels.append(name.rstrip("+"))
            parts.append("(.+)" if greedy else "([^/]+)")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts)), tuple(labels)


class Router:
    """Finds the operation a request is for, across several services.

    Args:
        operations: Service name → the operation names to serve.
        loader: Loads a service model by name.
    """

    def __init__(self, operations: Mapping[str, Iterable[str]],
                 loader: Callable[[str], ServiceModel] = service_model) -> None:
        self._routes: List[Route] = []
        for service, names in operations.items():
            model = loader(service)
            for name in names:
                operation = model.operation_model(name)
                pattern, labels = _compile_template(operation.http["requestUri"])
                self._routes.append(Route(service, operation, operation.http["method"].upper(),
                                          pattern, labels))

    @property
    def routes(self) -> Tuple[Route, ...]:
        """Every route served."""
        return tuple(self._routes)

    def match(self, method: str, path: str) -> Optional[Tuple[Route, Dict[str, str]]]:
        """The route serving ``method`` and ``path`` (no query) and its URI labels."""
        for route in self._routes:
            labels = route.match(method.upper(), path)
            if labels is not None:
                return route, labels
        return None


def parse_input(operation: OperationModel, labels: Mapping[str, str],
                query: Mapping[str, List[str]], headers: Mapping[str, str],
                body: bytes) -> Dict[str, Any]:
    """The operation's input members, validated against the model.

    Values keep their JSON form, except that timestamps become epoch seconds and
    URI, query and header strings become the member's type.

    Raises:
        InvalidInput: When the body is not JSON or any constraint is violated.
    """
    shape = operation.input_shape
    if shape is None:
        return {}
    raw: Dict[str, Any] = {}
    problems: List[str] = []
    body_members = {name: member for name, member in shape.members.items()
                    if not member.serialization.get("location")}
    if body_members:
        document = _json_body(body, problems)
        payload = shape.serialization.get("payload")
        if payload:
            raw[payload] = document
        else:
            raw.update({k: v for k, v in document.items() if k in body_members})
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri" and wire_name in labels:
            raw[name] = _from_text(member, [labels[wire_name]], name, problems)
        elif location == "querystring" and wire_name in query:
            raw[name] = _from_text(member, query[wire_name], name, problems)
        elif location == "header" and wire_name.lower() in lowered:
            raw[name] = _from_text(member, [lowered[wire_name.lower()]], name, problems)
    value = _check(shape, raw, "", problems)
    if problems:
        raise InvalidInput(problems)
    return value


def _json_body(body: bytes, problems: List[str]) -> Dict[str, Any]:
    if not body.strip():
        return {}
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        problems.append("The request body is not valid JSON: %s" % error)
        return {}
    if not isinstance(document, dict):
        problems.append("The request body must be a JSON object")
        return {}
    return document


def _from_text(shape: Shape, texts: List[str], path: str, problems: List[str]) -> Any:
    """Converts URI, query or header text to the member's type (checked later)."""
    if shape.type_name == "list":
        return [_from_text(shape.member, [text], path, problems) for text in texts]
    text = texts[0]
    try:
        if shape.type_name in ("integer", "long"):
            return int(text)
        if shape.type_name in ("float", "double"):
            return float(text)
    except ValueError:
        problems.append("Value '%s' at '%s' failed to satisfy constraint: Member must be a "
                        "number" % (text, path))
        return None
    if shape.type_name == "boolean":
        if text.lower() not in ("true", "false"):
            problems.append("Value '%s' at '%s' failed to satisfy constraint: Member must be "
                            "true or false" % (text, path))
            return None
        return text.lower() == "true"
    return text


def _fail(problems: List[str], value: Any, path: str, rule: str) -> None:
    shown = "null" if value is None else "'%s'" % (value if not isinstance(value, (dict, list))
                                                   else json.dumps(value)[:200])
    problems.append("Value %s at '%s' failed to satisfy constraint: Member must %s"
                    % (shown, path, rule))


def _join(path: str, name: str) -> str:
    return "%s.%s" % (path, name) if path else name


def _check(shape: Shape, value: Any, path: str, problems: List[str]) -> Any:
    check = _CHECKERS.get(shape.type_name, _check_any)
    return check(shape, value, path, problems)


def _check_structure(shape: Shape, value: Any, path: str, problems: List[str]) -> Any:
    if not isinstance(value, dict):
        _fail(problems, value, path, "be a structure")
        return value
    result: Dict[str, Any] = {}
    for name in shape.required_members:
        if value.get(name) is None:
            _fail(problems, None, _join(path, name), "not be null")
    for name, member in shape.members.items():
        if value.get(name) is not None:
            result[name] = _check(member, value[name], _join(path, name), problems)
    return result


def _check_size(shape: Shape, value: Any, size: int, path: str, problems: List[str],
                unit: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        _fail(problems, value, path, "have %s greater than or equal to %d" % (unit, low))
    if high is not None and size > high:
        _fail(problems, value, path, "have %s less than or equal to %d" % (unit, high))


def _check_list(shape: Shape, value: Any, path: str, problems: List[str]) -> Any:
    if not isinstance(value, list):
        _fail(problems, value, path, "be a list")
        return value
    _check_size(shape, value, len(value), path, problems, "length")
    return [_check(shape.member, item, "%s.%d.member" % (path, i + 1), problems)
            for i, item in enumerate(value)]


def _check_map(shape: Shape, value: Any, path: str, problems: List[str]) -> Any:
    if not isinstance(value, dict):
        _fail(problems, value, path, "be a map")
        return value
    _check_size(shape, value, len(value), path, problems, "length")
    result = {}
    for key, item in value.items():
        _check(shape.key, key, "%s.key" % path, problems)
        result[key] = _check(shape.value, item, "%s.%s" % (path, key), problems)
    return result


def _check_string(shape: Shape, value: Any, path: str, problems: List[str]) -> Any:
    if not isinstance(value, str):
        _fail(problems, value, path, "be a string")
        return value
    _check_size(shape, value, len(value), path, problems, "length")
    pattern = shape.metadata.get("pattern")
    if pattern and not compile_pattern(pattern).fullmatch(value):
        _fail(problems, value, path, "satisfy regular expression pattern: %s" % pattern)
    enum = shape.enum
    if enum and value not in enum:
        _fail(problems, value, path, "satisfy enum value set: [%s]" % ", ".join(enum))
    return value


def _check_integer(shape: Shape, value: Any, path: str, problems: List[str]) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(problems, value, path, "be an integer")
        return value
    low, high = _INT_RANGES[shape.type_name]
    if not low <= value <= high:
        _fail(problems, value, path, "be a %d-bit integer" % (32 if shape.type_name == "integer"
                                                              else 64))
    _check_bounds(shape, value, path, problems)
    return value


def _check_bounds(shape: Shape, value: Any, path: str, problems: List[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        _fail(problems, value, path, "have value greater than or equal to %s" % low)
    if high is not None and value > high:
        _fail(problems, value, path, "have value less than or equal to %s" % high)


def _check_double(shape: Shape, value: Any, path: str, problems: List[str]) -> Any:
    if value in _SPECIAL_FLOATS:  # how JSON protocols carry NaN and infinities
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(problems, value, path, "be a number")
        return value
    if not math.isnan(value):
        _check_bounds(shape, value, path, problems)
    return value


def _check_boolean(shape: Shape, value: Any, path: str, problems: List[str]) -> Any:
    if not isinstance(value, bool):
        _fail(problems, value, path, "be a boolean")
    return value


def _check_timestamp(shape: Shape, value: Any, path: str, problems: List[str]) -> Any:
    seconds = to_epoch_seconds(value)
    if seconds is None:
        _fail(problems, value, path, "be a timestamp")
        return value
    return seconds


def _check_blob(shape: Shape, value: Any, path: str, problems: List[str]) -> Any:
    try:
        data = base64.b64decode(value, validate=True) if isinstance(value, str) else None
    except (binascii.Error, ValueError):
        data = None
    if data is None:
        _fail(problems, value if isinstance(value, str) else None, path, "be base64 encoded")
        return value
    _check_size(shape, value, len(data), path, problems, "length")
    return value


def _check_any(shape: Shape, value: Any, path: str, problems: List[str]) -> Any:
    return value


_CHECKERS: Dict[str, Callable[[Shape, Any, str, List[str]], Any]] = {
    "structure": _check_structure,
    "list": _check_list,
    "map": _check_map,
    "string": _check_string,
    "integer": _check_integer,
    "long": _check_integer,
    "float": _check_double,
    "double": _check_double,
    "boolean": _check_boolean,
    "timestamp": _check_timestamp,
    "blob": _check_blob,
}
