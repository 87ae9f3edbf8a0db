"""The pipelines' command lines: mistakes stop before any job, the run ends with a summary."""

from __future__ import annotations

import datetime
import glob
import os
import re

import fastavro
import pytest

from beam_batchput.avro import load_schema
from beam_batchput.emulator import Emulator
from beam_batchput.pipelines import _codes, avro_to_service, redrive
from beam_batchput.pipelines.options import WriterOptions
from beam_batchput.writers import WRITERS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENDPOINT = ["--endpoint_url", "http://127.0.0.1:9"]  # never reached: these stop first


def avro_args(tmp_path, *extra):
    return ["--avro_input", str(tmp_path / "*.avro"), "--service", "sitewise",
            "--dead_letter_output", str(tmp_path / "dlq"), "--runner", "FnApiRunner"] + list(extra)


def write_input(tmp_path, aliases):
    now = datetime.datetime.now(datetime.timezone.utc)
    with open(tmp_path / "in.avro", "wb") as out:
        fastavro.writer(out, load_schema("sitewise_record"), [
            {"property_alias": alias, "value": 1.5, "timestamp": now} for alias in aliases])


def usage_error(capsys, main, argv):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("flag,closest", [("--endpoint-url", "--endpoint_url"),
                                          ("--region-name", "--region_name"),
                                          ("--avro_inpt", "--avro_input"),
                                          ("--max_dead_letter_ration", "--max_dead_letter_ratio")])
def test_a_misspelled_option_stops_naming_the_closest(tmp_path, capsys, flag, closest):
    write_input(tmp_path, ["/a"])
    err = usage_error(capsys, avro_to_service.main, avro_args(tmp_path, flag, "x") + ENDPOINT)
    assert "unrecognized option %s; did you mean %s?" % (flag, closest) in err
    assert not os.path.exists(tmp_path / "dlq")  # no job ran


def test_a_stray_argument_stops(tmp_path, capsys):
    write_input(tmp_path, ["/a"])
    err = usage_error(capsys, avro_to_service.main, avro_args(tmp_path, "stray") + ENDPOINT)
    assert "unexpected argument 'stray'" in err


@pytest.mark.parametrize("main,own", [(avro_to_service.main, "--avro_input"),
                                      (redrive.main, "--error_codes")])
def test_help_lists_the_pipeline_writer_summary_and_beam_options(capsys, main, own):
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    for flag in (own, "--region_name", "--endpoint_url", "--max_buffering_seconds",
                 "--max_in_flight", "--max_dead_letter_ratio", "--runner", "--streaming"):
        assert re.search(r"^\s+%s\b" % flag, out, re.M), flag


def test_the_region_is_required_without_an_endpoint(tmp_path, capsys, monkeypatch):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    write_input(tmp_path, ["/a"])
    err = usage_error(capsys, avro_to_service.main, avro_args(tmp_path))
    assert "--region_name is required" in err


def test_the_region_comes_from_the_environment_or_defaults_with_an_endpoint():
    options = WriterOptions([])
    assert options.resolve_region({"AWS_DEFAULT_REGION": "eu-west-1"}) == "eu-west-1"
    assert WriterOptions(["--region_name", "ap-south-1"]).resolve_region(
        {"AWS_REGION": "eu-west-1"}) == "ap-south-1"
    assert WriterOptions(ENDPOINT).resolve_region({}) == "us-east-1"
    with pytest.raises(ValueError, match="--region_name is required"):
        WriterOptions([]).resolve_region({})


def test_an_input_that_matches_nothing_is_an_error(tmp_path, capsys):
    err = usage_error(capsys, avro_to_service.main, avro_args(tmp_path) + ENDPOINT)
    assert "--avro_input %r matches no file" % str(tmp_path / "*.avro") in err
    err = usage_error(capsys, redrive.main, [
        "--dead_letters", str(tmp_path / "none*.avro"), "--redrive_output", str(tmp_path / "o")]
        + ENDPOINT)
    assert "--dead_letters %r matches no file" % str(tmp_path / "none*.avro") in err


def test_watching_a_folder_where_nothing_matches_yet_says_so(tmp_path, capsys):
    avro_to_service._check_input(avro_to_service.AvroToServiceOptions(
        avro_args(tmp_path, "--watch_interval_seconds", "2")))
    assert "matches no file yet; watching for files every 2 s" in capsys.readouterr().err


def redrive_args(tmp_path, *extra):
    (tmp_path / "dlq").mkdir(exist_ok=True)
    (tmp_path / "dlq" / "x.avro").write_bytes(b"")
    return ["--dead_letters", str(tmp_path / "dlq" / "*.avro"),
            "--redrive_output", str(tmp_path / "again")] + ENDPOINT + list(extra)


@pytest.mark.parametrize("services", ["sitewise,iotevents", "iotsitewise,iotevents-data"])
def test_redrive_takes_short_and_botocore_service_names(tmp_path, services):
    options = redrive.RedriveOptions(redrive_args(tmp_path, "--services", services)).validated()
    assert options.service_names() == ["iotsitewise", "iotevents-data"]


@pytest.mark.parametrize("extra,message", [
    (["--services", "sitewize"], r"--services names unknown service\(s\) sitewize"),
    (["--error_codes", "ResourceNotFound"], "did you mean 'ResourceNotFoundException'"),
    (["--services", "datazone", "--error_codes", "TimestampOutOfRangeException"],
     "a code no dead letter of datazone carries"),
])
def test_redrive_refuses_unknown_services_and_codes(tmp_path, capsys, extra, message):
    assert re.search(message, usage_error(capsys, redrive.main, redrive_args(tmp_path, *extra)))


def test_known_codes_hold_what_the_services_answer():
    assert "TimestampOutOfRangeException" in _codes.known_error_codes("iotsitewise")
    assert "ResourceNotFoundException" in _codes.known_error_codes("iotevents-data")
    assert "ConflictException" in _codes.known_error_codes("datazone")
    assert "NoCredentialsError" in _codes.known_error_codes("connect")


def test_every_code_the_package_gives_is_known():
    """A code literal in the package's source (a validation or pipeline code) must be
    in the table the command lines check against."""
    pattern = re.compile(r'(?:fail|InvalidRecord|RequestError|_letter)\(\s*(?:[\w.]+,\s*)?'
                         r'"([A-Z][A-Za-z]+)"|error_code="([A-Z][A-Za-z]+)"')
    found = set()
    for path in glob.glob(os.path.join(ROOT, "beam_batchput", "**", "*.py"), recursive=True):
        if os.sep + "emulator" + os.sep in path:
            continue
        with open(path, encoding="utf-8") as handle:
            found |= {a or b for a, b in pattern.findall(handle.read())}
    assert {"MissingField", "CorruptAvroFile", "UnknownService", "ItemTooLarge"} <= found
    for service in WRITERS:
        assert found - _codes.known_error_codes(service) == set(), service


@pytest.fixture
def farm(emulator_credentials):
    with Emulator(config={"sitewise": {"property_aliases": ["/farm/t1/power"]}}) as emulator:
        yield emulator


def test_the_summary_counts_written_and_refused_by_service_stage_and_code(
        tmp_path, capsys, farm):
    write_input(tmp_path, ["/farm/t1/power", "/farm/t2/power"])
    status = avro_to_service.main(avro_args(tmp_path, "--endpoint_url", farm.endpoint_url))
    out = capsys.readouterr().out
    assert status == 0, out
    assert "records written: 1, refused (dead-lettered): 1" in out
    assert re.search(r"sitewise\s+entry\s+ResourceNotFoundException\s+1", out)
    assert "dead letters written to %s" % (tmp_path / "dlq") in out
    # Half refused fails a run that allows a quarter.
    status = avro_to_service.main(avro_args(tmp_path, "--endpoint_url", farm.endpoint_url,
                                            "--max_dead_letter_ratio", "0.25"))
    assert status == 1
    assert "more than --max_dead_letter_ratio 0.25 allows" in capsys.readouterr().out


def test_a_run_where_every_record_is_refused_exits_non_zero(tmp_path, capsys, farm):
    write_input(tmp_path, ["/farm/t7/power", "/farm/t8/power"])
    status = avro_to_service.main(avro_args(tmp_path, "--endpoint_url", farm.endpoint_url))
    out = capsys.readouterr().out
    assert status == 1
    assert "records written: 0, refused (dead-lettered): 2" in out
    assert "FAILED: every record was refused" in out


def test_redrive_summary_says_what_it_selected(tmp_path, capsys, farm):
    write_input(tmp_path, ["/farm/t1/power", "/farm/t2/power"])
    assert avro_to_service.main(avro_args(tmp_path, "--endpoint_url", farm.endpoint_url)) == 0
    capsys.readouterr()
    status = redrive.main([
        "--dead_letters", str(tmp_path / "dlq" / "*.avro"), "--redrive_output",
        str(tmp_path / "again"), "--error_codes", "ThrottlingException",
        "--endpoint_url", farm.endpoint_url, "--runner", "FnApiRunner"])
    out = capsys.readouterr().out
    assert status == 0
    assert "dead letters selected and sent again: 0" in out
    assert "dead letters not selected (left alone): 1" in out
