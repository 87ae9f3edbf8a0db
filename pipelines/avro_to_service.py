"""``python -m pipelines.avro_to_service``, from a checkout: the packaged pipeline
(:mod:`beam_batchput.pipelines.avro_to_service`).

The pipeline lives in the package; after ``pip install beam-batchput`` run it as
``beam-batchput-avro-to-service`` or ``python -m beam_batchput.pipelines.avro_to_service``.
"""

import sys

from beam_batchput.pipelines.avro_to_service import (  # noqa: F401
    AvroToServiceOptions,
    build,
    main,
    run,
)

if __name__ == "__main__":
    sys.exit(main())
