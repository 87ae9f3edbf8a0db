"""The Dataflow templates match their pipelines' options."""

import datetime
import importlib.util
import json
import os
import re

import pytest

from pipelines import avro_to_service, redrive
from pipelines.options import WriterOptions

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATAFLOW = os.path.join(ROOT, "templates", "dataflow")

CASES = [
    ("avro_to_service", avro_to_service.AvroToServiceOptions,
     {"avro_input": "gs://b/in/*.avro", "service": "sitewise", "dead_letter_output": "gs://b/dlq",
      "region_name": "eu-west-1"}),
    ("redrive", redrive.RedriveOptions,
     {"dead_letters": "gs://b/dlq/*.avro", "redrive_output": "gs://b/again",
      "region_name": "eu-west-1", "error_codes": "ResourceNotFoundException,ThrottlingException",
      "stages": "entry,request"}),
]


def flags(options_class):
    parser = __import__("argparse").ArgumentParser()
    options_class._add_argparse_args(parser)
    WriterOptions._add_argparse_args(parser)
    return {action.dest for action in parser._actions if action.dest != "help"}


def metadata(name):
    with open(os.path.join(DATAFLOW, name + ".metadata.json")) as handle:
        return json.load(handle)


@pytest.mark.parametrize("name,options_class,example", CASES, ids=[c[0] for c in CASES])
def test_every_parameter_is_an_option_and_every_option_a_parameter(name, options_class, example):
    params = {p["name"]: p for p in metadata(name)["parameters"]}
    assert set(params) == flags(options_class)
    for param in params.values():
        assert param["helpText"] and param["label"]


@pytest.mark.parametrize("name,options_class,example", CASES, ids=[c[0] for c in CASES])
def test_required_parameters_are_what_the_pipeline_requires(name, options_class, example):
    params = {p["name"]: p for p in metadata(name)["parameters"]}
    required = {n for n, p in params.items() if not p.get("isOptional")}
    argv = ["--%s=%s" % kv for kv in example.items()]
    options_class(argv).validated()
    for missing in required - {"region_name"}:
        with pytest.raises(ValueError, match=missing):
            options_class([a for a in argv if not a.startswith("--%s=" % missing)]).validated()


@pytest.mark.parametrize("name,options_class,example", CASES, ids=[c[0] for c in CASES])
def test_parameter_regexes_accept_the_examples(name, options_class, example):
    for param in metadata(name)["parameters"]:
        if param["name"] in example:
            assert all(re.fullmatch(rx, example[param["name"]]) for rx in param.get("regexes", [])), param


def test_the_web_identity_credential_process_exchanges_the_google_token():
    spec = importlib.util.spec_from_file_location("gcp_web_identity",
                                                  os.path.join(DATAFLOW, "gcp_web_identity.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class FakeSts:
        def assume_role_with_web_identity(self, **kwargs):
            self.kwargs = kwargs
            return {"Credentials": {"AccessKeyId": "AKIA", "SecretAccessKey": "s", "SessionToken": "t",
                                    "Expiration": datetime.datetime(2030, 1, 1)}}

    sts = FakeSts()
    result = module.credentials("arn:aws:iam::1:role/r", "job", "sts.amazonaws.com",
                                token_source=lambda audience: "token-for-" + audience, sts_client=sts)
    assert sts.kwargs == {"RoleArn": "arn:aws:iam::1:role/r", "RoleSessionName": "job",
                          "WebIdentityToken": "token-for-sts.amazonaws.com"}
    assert result["Version"] == 1 and result["Expiration"].startswith("2030-01-01")
