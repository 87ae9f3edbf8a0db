"""The test extra's dependencies: a test module that needs one fails to import, naming it."""

import importlib


def require_test_modules(*names: str) -> None:
    """Imports ``names``; a missing one raises ImportError naming it and the extra to install."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise ImportError("%s is missing: install the test extra (pip install -e '.[test]')"
                              % name) from error
