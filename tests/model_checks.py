"""Checks of a request against its botocore model beyond what botocore validates."""

from beam_batchput.emulator._regex import compile_pattern


def constraint_violations(value, shape, path="$"):
    """What botocore leaves unchecked: max lengths and sizes, patterns, long ranges."""
    found = []
    meta = shape.metadata
    if shape.type_name == "structure":
        for key, member in value.items():
            if key not in shape.members:
                found.append("%s.%s: not in the model" % (path, key))
            else:
                found += constraint_violations(member, shape.members[key], "%s.%s" % (path, key))
    elif shape.type_name in ("list", "string"):
        if "max" in meta and len(value) > meta["max"]:
            found.append("%s: %d > max %d" % (path, len(value), meta["max"]))
        if shape.type_name == "list":
            for i, member in enumerate(value):
                found += constraint_violations(member, shape.member, "%s[%d]" % (path, i))
        elif "pattern" in meta and not compile_pattern(meta["pattern"]).fullmatch(value):
            found.append("%s: %r does not match %s" % (path, value[:50], meta["pattern"]))
    elif shape.type_name == "long" and not meta.get("min", -2 ** 63) <= value < 2 ** 63:
        found.append("%s: %d out of range" % (path, value))
    return found
