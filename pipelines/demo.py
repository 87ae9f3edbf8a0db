"""Runs :mod:`beam_batchput.pipelines.demo` from a checkout: ``python -m pipelines.demo``.

The pipeline lives in the package; after ``pip install beam-batchput`` run it as
``beam-batchput-demo`` or ``python -m beam_batchput.pipelines.demo``.
"""

import sys

from beam_batchput.pipelines.demo import (  # noqa: F401
    DemoOptions,
    build,
    emulator_config,
    main,
    run,
    summarize,
)

if __name__ == "__main__":
    sys.exit(main())
