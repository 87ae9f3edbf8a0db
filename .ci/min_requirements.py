"""Prints the minimum versions setup.py admits, as pip requirements (name==version).

Reads ``install_requires`` from setup.py without running it; every ``>=``
bound becomes ``==``, so ``make test-min`` installs exactly the oldest versions
the package claims to work with. The ``test`` extra's tools (pytest,
hypothesis) are printed as setup.py gives them: they are not the package's.
"""

import ast
import os
import re
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_BOUND = re.compile(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?>=([0-9][0-9A-Za-z.]*)")


def _keyword(tree: ast.AST, name: str) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == name:
            return node.value
    raise SystemExit("setup.py has no %s" % name)


def _test_tools(tree: ast.AST):
    extras = _keyword(tree, "extras_require")
    for key, value in zip(extras.keys, extras.values):
        if ast.literal_eval(key) == "test":
            for element in value.elts:
                requirement = ast.literal_eval(element)
                if not requirement.startswith("apache-beam"):
                    yield requirement


def main() -> int:
    with open(os.path.join(_HERE, "..", "setup.py"), encoding="utf-8") as source:
        tree = ast.parse(source.read())
    for element in _keyword(tree, "install_requires").elts:
        requirement = ast.literal_eval(element)
        match = _BOUND.match(requirement)
        if match is None:
            print("setup.py requirement %r has no >= bound" % requirement, file=sys.stderr)
            return 1
        print("%s==%s" % (match.group(1), match.group(3)))
    # The Beam YAML extra serves the full suite only; test-min runs without it.
    for requirement in _test_tools(tree):
        print(requirement)
    return 0


if __name__ == "__main__":
    sys.exit(main())
