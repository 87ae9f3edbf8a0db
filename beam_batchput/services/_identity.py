"""Records that share an identity (a message id, a table key) within one request."""

from __future__ import annotations

from typing import Callable, Dict, Hashable, List, Sequence, Tuple

from beam_batchput.core.service import Item

__all__ = ["group_by_identity"]


def group_by_identity(items: Sequence[Item], identity: Callable[[Item], Hashable]
                      ) -> Tuple[Dict[Hashable, List[Item]], List[Tuple[Item, Item]]]:
    """Groups a request's items by identity, for services that refuse duplicates.

    The first item of each identity is the one sent; identical copies follow its
    fate; a copy with a different payload conflicts with it.

    Returns:
        ``(groups, conflicts)``: identity → [the sent item, its identical copies],
        in first-seen order; and (conflicting item, the item sent instead) pairs.
    """
    groups: Dict[Hashable, List[Item]] = {}
    conflicts: List[Tuple[Item, Item]] = []
    for item in items:
        group = groups.setdefault(identity(item), [])
        if not group or item.payload == group[0].payload:
            group.append(item)
        else:
            conflicts.append((item, group[0]))
    return groups, conflicts
