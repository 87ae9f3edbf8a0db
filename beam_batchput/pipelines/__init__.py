"""The ready-made pipelines: Avro files to a service, redrive of dead letters, the demo.

Each is a command after ``pip install beam-batchput``:

- ``beam-batchput-avro-to-service`` (``python -m beam_batchput.pipelines.avro_to_service``)
- ``beam-batchput-redrive`` (``python -m beam_batchput.pipelines.redrive``)
- ``beam-batchput-demo`` (``python -m beam_batchput.pipelines.demo``)

and each module has its options class, ``build(pipeline, options)``, ``run(argv)``
and ``main(argv)``.
"""
