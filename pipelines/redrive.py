"""``python -m pipelines.redrive``: runs :mod:`beam_batchput.pipelines.redrive` from a checkout.

The pipeline lives in the package; after ``pip install beam-batchput`` run it as
``beam-batchput-redrive`` or ``python -m beam_batchput.pipelines.redrive``.
"""

import sys

from beam_batchput.pipelines.redrive import RedriveOptions, build, main, run  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
