"""Runs :mod:`beam_batchput.pipelines.redrive` from a checkout: ``python -m pipelines.redrive``.

The pipeline lives in the package; after ``pip install beam-batchput`` run it as
``beam-batchput-redrive`` or ``python -m beam_batchput.pipelines.redrive``.
"""

import sys

from beam_batchput.pipelines.redrive import (  # noqa: F401
    RedriveOptions,
    build,
    main,
    run,
)

if __name__ == "__main__":
    sys.exit(main())
