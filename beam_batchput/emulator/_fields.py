"""Checks a mapping of config fields against a frozen dataclass before building it."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping


def require_known_fields(cls: type, data: Any, what: str) -> Mapping[str, Any]:
    """Returns ``data`` once it is a mapping naming only fields of dataclass ``cls``.

    Raises:
        ValueError: Naming ``what`` (e.g. "fault config"), when ``data`` is not a
            mapping or names an unknown field.
    """
    if not isinstance(data, Mapping):
        raise ValueError("a %s must be a mapping, got %r" % (what, data))
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError("unknown %s field(s) %s; known: %s"
                         % (what, ", ".join(unknown), ", ".join(sorted(known))))
    return data
