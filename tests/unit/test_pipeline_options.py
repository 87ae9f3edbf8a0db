"""Every pipeline's options: bad values are refused naming the option; runner flags pass."""

import pytest
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PortableOptions,
    StandardOptions,
)

from pipelines import avro_to_service, demo, redrive
from pipelines.options import WriterOptions, pipeline_metrics

AVRO = ["--avro_input", "data/*.avro", "--service", "sitewise", "--dead_letter_output", "out/dlq"]
REDRIVE = ["--dead_letters", "out/dlq/*.avro", "--redrive_output", "out/again"]
DEMO = []


def validate_avro(argv):
    return avro_to_service.AvroToServiceOptions(argv).validated()


def validate_redrive(argv):
    return redrive.RedriveOptions(argv).validated()


def validate_demo(argv):
    options = demo.DemoOptions(argv)
    options.validate_demo()
    return options


PIPELINES = [(validate_avro, AVRO), (validate_redrive, REDRIVE), (validate_demo, DEMO)]
PIPELINE_IDS = ["avro_to_service", "redrive", "demo"]

# Writer options every pipeline shares: (flags, what the error names).
BAD_WRITER_OPTIONS = [
    (["--max_buffering_seconds", "0"], "--max_buffering_seconds must be a positive"),
    (["--max_buffering_seconds", "-2"], "--max_buffering_seconds must be a positive"),
    (["--max_buffering_seconds", "inf"], "--max_buffering_seconds must be a positive finite"),
    (["--max_in_flight", "0"], "--max_in_flight must be at least 1"),
    (["--endpoint_url", "127.0.0.1:4599"], "--endpoint_url must be an http:// or https:// URL"),
    (["--endpoint_url", ""], "--endpoint_url must not be empty"),
    (["--region_name", ""], "--region_name must not be empty"),
]


@pytest.mark.parametrize("validate,argv", PIPELINES, ids=PIPELINE_IDS)
@pytest.mark.parametrize("flags,message", BAD_WRITER_OPTIONS,
                         ids=[" ".join(f) or "empty" for f, _ in BAD_WRITER_OPTIONS])
def test_bad_writer_option_is_refused_naming_it_in_every_pipeline(validate, argv, flags,
                                                                  message):
    with pytest.raises(ValueError, match=message):
        validate(argv + flags)


@pytest.mark.parametrize("argv,message", [
    (AVRO[2:], "--avro_input .* is required"),
    (AVRO[:2] + AVRO[4:], "--service is required"),
    (AVRO[:2] + ["--service", "firehose"] + AVRO[4:], "unknown service 'firehose'; known: "
                                                      "connect, datazone, iotevents, kinesis"),
    (AVRO[:4], "--dead_letter_output .* is required"),
    (AVRO + ["--watch_for_seconds", "-1"], "--watch_for_seconds must be >= 0"),
    (AVRO + ["--watch_for_seconds", "30"], "--watch_for_seconds needs --watch_interval_seconds"),
])
def test_avro_to_service_refuses_missing_or_bad_options_naming_them(argv, message):
    with pytest.raises(ValueError, match=message):
        validate_avro(argv)


@pytest.mark.parametrize("argv,message", [
    (REDRIVE[2:], "--dead_letters .* is required"),
    (REDRIVE[:2], "--redrive_output .* is required"),
    (REDRIVE + ["--services", "iotsitewise,s3"], r"--services names unknown service\(s\) s3"),
    (REDRIVE + ["--stages", "entry,later"], r"--stages names unknown stage\(s\) later"),
])
def test_redrive_refuses_missing_or_bad_options_naming_them(argv, message):
    with pytest.raises(ValueError, match=message):
        validate_redrive(argv)


@pytest.mark.parametrize("argv,message", [
    (["--duration_seconds", "0"], "--duration_seconds must be positive"),
    (["--ticks_per_second", "-1"], "--ticks_per_second must be positive"),
    (["--window_seconds", "0"], "--window_seconds must be positive"),
    (["--turbines", "0"], r"--turbines must be in 1\.\.98"),
    (["--turbines", "99"], r"--turbines must be in 1\.\.98"),
])
def test_demo_refuses_bad_options_naming_them(argv, message):
    with pytest.raises(ValueError, match=message):
        validate_demo(argv)


def test_a_number_option_given_text_stops_with_argparse_naming_the_option(capsys):
    with pytest.raises(SystemExit):
        validate_avro(AVRO + ["--max_in_flight", "four"])
    assert "--max_in_flight: invalid int value: 'four'" in capsys.readouterr().err


RUNNER_FLAGS = {
    "direct_multi_processing": ["--runner=DirectRunner", "--direct_running_mode=multi_processing",
                                "--direct_num_workers=2"],
    "portable_external": ["--runner=PortableRunner", "--job_endpoint=localhost:8099",
                          "--environment_type=EXTERNAL", "--environment_config=localhost:50000"],
    "flink": ["--runner=FlinkRunner", "--flink_master=localhost:8081",
              "--environment_type=EXTERNAL", "--environment_config=localhost:50000"],
    "dataflow": ["--runner=DataflowRunner", "--project=my-project", "--region=europe-west1",
                 "--temp_location=gs://my-bucket/tmp", "--streaming",
                 "--sdk_container_image=europe-west1-docker.pkg.dev/p/r/avro-to-service:1"],
}


@pytest.mark.parametrize("validate,argv", PIPELINES, ids=PIPELINE_IDS)
@pytest.mark.parametrize("runner", sorted(RUNNER_FLAGS))
def test_runner_flags_pass_beside_pipeline_options_and_leave_them_intact(validate, argv, runner):
    options = validate(RUNNER_FLAGS[runner] + argv + [
        "--region_name", "eu-west-1", "--endpoint_url", "http://127.0.0.1:4599",
        "--max_in_flight", "8"])
    assert options.view_as(StandardOptions).runner == RUNNER_FLAGS[runner][0].split("=")[1]
    assert options.view_as(WriterOptions).writer_kwargs() == {
        "region_name": "eu-west-1", "endpoint_url": "http://127.0.0.1:4599",
        "max_buffering_seconds": 5.0, "max_in_flight": 8}


def test_dataflow_region_is_not_taken_for_the_aws_region():
    options = validate_avro(RUNNER_FLAGS["dataflow"] + AVRO)
    assert options.view_as(GoogleCloudOptions).region == "europe-west1"
    assert options.view_as(WriterOptions).region_name is None


def test_external_environment_flags_reach_the_portable_options():
    options = validate_redrive(RUNNER_FLAGS["portable_external"] + REDRIVE)
    portable = options.view_as(PortableOptions)
    assert (portable.environment_type, portable.environment_config) == (
        "EXTERNAL", "localhost:50000")


class _DeepResult:
    """Metrics that take a deep recursion to read, as after many bundles."""

    def __init__(self, depth, error=None):
        self._depth, self._error = depth, error

    def metrics(self):
        def nest(n):
            yield from (nest(n - 1) if n else iter([self._depth]))

        if self._error:
            raise self._error
        return next(nest(self._depth))


def test_pipeline_metrics_reads_metrics_nested_deeper_than_the_recursion_limit():
    import sys

    depth = 5 * sys.getrecursionlimit()
    with pytest.raises(RecursionError):
        _DeepResult(depth).metrics()
    assert pipeline_metrics(_DeepResult(depth)) == depth
    assert sys.getrecursionlimit() < depth


def test_pipeline_metrics_hands_on_the_reader_s_error():
    with pytest.raises(KeyError, match="gone"):
        pipeline_metrics(_DeepResult(1, KeyError("gone")))
