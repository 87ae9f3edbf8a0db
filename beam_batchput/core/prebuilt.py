"""Request bodies a service module serializes itself, sent through botocore's own path.

botocore's serializer walks the service model for every value of a request;
for a batch of a hundred values that is most of the call's CPU. A service
module that can write the same JSON text directly
(:meth:`~beam_batchput.core.service.Service.request_body`) hands it over here:
the client is called with the request stripped of its entries (the
*placeholder*), botocore serializes that as usual, and a ``before-call``
handler, first in line, puts the prebuilt body in its place. Everything after
that is botocore's as for any call: compression and checksums where the model
asks for them, the endpoint, signing (over the body sent), retries, the
answer's parsing and its errors. Handlers of the events before serialization
(``provide-client-params``, ``before-parameter-build``, a ``Stubber``'s
expected parameters) see the placeholder; a client meant for them can be built
with ``parameter_validation=True``, which keeps botocore's own serialization.

Guards, so that a placeholder never leaves the process in place of a request:

- Only clients built by :meth:`~beam_batchput.core.config.ClientConfig.create_client`
  (which calls :func:`enable`) with parameter validation off take this path;
  any other client, and a client that validates parameters, is called with
  the full keyword arguments.
- The handler swaps the body only when botocore's body is exactly the
  placeholder's JSON; otherwise it raises before anything is sent.
- A call that returns without the handler having run (another ``before-call``
  handler answered first) raises :class:`PrebuiltBodyError`: a bug, not a
  bad record.
"""

from __future__ import annotations

import json
import threading
from typing import Any, List, Mapping, Optional

__all__ = ["PrebuiltBodyError", "accepts", "call", "enable"]

# Set on a client by enable(): it carries the body swap handler.
_MARK = "_beam_batchput_prebuilt_bodies"
_LOCAL = threading.local()


class PrebuiltBodyError(RuntimeError):
    """The prebuilt body could not take the placeholder's place (a bug, never a record's fault)."""


def enable(client: Any) -> bool:
    """Lets ``client`` take prebuilt bodies, unless it validates parameters.

    Called once per client, when it is built: registers the body swap on its
    events (the handler does nothing for a call that carries no prebuilt
    body). Returns whether the client takes prebuilt bodies.

    Implementation note: botocore does not expose whether a client validates
    parameters (its ``meta.config`` does not say; a profile may turn it on);
    the serializer it built does: a validating client's is wrapped in
    ``ParamValidationDecorator``, which would refuse the placeholder. A
    client whose serializer is not where this botocore keeps it is left alone.
    """
    from botocore.serialize import Serializer
    from botocore.validate import ParamValidationDecorator

    serializer = getattr(client, "_serializer", None)
    events = getattr(getattr(client, "meta", None), "events", None)
    if (not isinstance(serializer, Serializer) or isinstance(serializer, ParamValidationDecorator)
            or events is None):
        return False
    events.register_first("before-call", _swap_body, unique_id=_MARK)
    setattr(client, _MARK, True)
    return True


def accepts(client: Any) -> bool:
    """Whether ``client`` takes prebuilt bodies (see :func:`enable`)."""
    return getattr(client, _MARK, False) is True


def call(client: Any, method: str, operation: str, placeholder: Mapping[str, Any],
         body: bytes) -> Any:
    """Calls ``client.<method>(**placeholder)`` with ``body`` sent in its place.

    Args:
        client: A client for which :func:`accepts` holds.
        method: The boto3 method, e.g. ``batch_put_asset_property_value``.
        operation: The API operation, e.g. ``BatchPutAssetPropertyValue``.
        placeholder: The request's keyword arguments without its entries.
        body: The request's JSON body, as botocore would serialize the full
            keyword arguments.

    Returns:
        The parsed response, as the method returns it.

    Raises:
        PrebuiltBodyError: When the body could not be put in place.
        botocore.exceptions.ClientError: As the method raises it.
    """
    # [placeholder JSON, body, operation, swapped]
    pending: List[Any] = [json.dumps(placeholder).encode("utf-8"), body, operation, False]
    _LOCAL.pending = pending
    try:
        response = getattr(client, method)(**placeholder)
    finally:
        _LOCAL.pending = None
    if not pending[3]:
        raise PrebuiltBodyError(
            "%s returned without the prebuilt body in place: a before-call handler answered "
            "the call before the writer's" % operation)
    return response


def _swap_body(params: Optional[dict] = None, model: Any = None, **kwargs: Any) -> None:
    """The ``before-call`` handler: the pending prebuilt body replaces the placeholder's."""
    pending = getattr(_LOCAL, "pending", None)
    if pending is None or params is None or getattr(model, "name", None) != pending[2]:
        return None
    if params.get("body") != pending[0]:
        raise PrebuiltBodyError(
            "botocore serialized the placeholder of %s as %r, not as %r: the prebuilt body "
            "cannot replace it, and nothing was sent" % (pending[2], params.get("body"),
                                                        pending[0]))
    params["body"] = pending[1]
    pending[3] = True
    # Once per call: a nested call on this thread is not this one.
    _LOCAL.pending = None
    return None
