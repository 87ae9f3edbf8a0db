"""The deployment templates, checked mechanically.

Dataflow: the Flex Template metadata against the pipelines' options, against
Dataflow's own API schema (the discovery document shipped in the
google-api-python-client wheel) and against the writers' service list; the
README's gcloud commands against the metadata. Kubernetes: the core kinds with
kubernetes-validate, the FlinkDeployment with the Flink operator's CRD schema
(from its Maven Central jar). Compose: check-jsonschema's vendored compose
spec. The registry-fetched schemas come from ``templates/fetch-schemas.sh``;
without them these tests fail and say so.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import zipfile
from typing import Any, Dict, Iterator, List, Optional

import jsonschema
import kubernetes_validate
import pytest
import yaml
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.runners.runner import PipelineResult, PipelineRunner

from beam_batchput.writers import WRITERS, writer_info
from pipelines import avro_to_service, redrive
from pipelines.options import WriterOptions
from templates.dataflow import generate_metadata, launch
from tests.runners import engines

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATAFLOW = os.path.join(ROOT, "templates", "dataflow")
FLINK = os.path.join(ROOT, "templates", "flink")
AWS = os.path.join(ROOT, "templates", "aws")
KUBERNETES_VERSION = "1.33"
SCHEMAS = os.environ.get("BEAM_BATCHPUT_TEMPLATE_SCHEMAS") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "beam-batchput",
    "template-schemas")
FLINK_OPERATOR_JAR = "flink-kubernetes-operator-api-1.10.0.jar"
GOOGLE_API_WHEEL = "google_api_python_client-2.202.0-py3-none-any.whl"

CASES = [
    ("avro_to_service", avro_to_service.AvroToServiceOptions,
     {"avro_input": "gs://b/in/*.avro", "service": "sitewise", "dead_letter_output": "gs://b/dlq",
      "region_name": "eu-west-1"}),
    ("redrive", redrive.RedriveOptions,
     {"dead_letters": "gs://b/dlq/*.avro", "redrive_output": "gs://b/again",
      "region_name": "eu-west-1", "error_codes": "ResourceNotFoundException,ThrottlingException",
      "stages": "entry,request", "services": "sitewise,iotevents-data"}),
]
OPTIONS = {name: options_class for name, options_class, _ in CASES}
# Launch options Dataflow takes besides the template's own parameters.
DATAFLOW_LAUNCH_OPTIONS = {"sdk_container_image"}


def _fetched(name: str) -> str:
    path = os.path.join(SCHEMAS, name)
    if not os.path.isfile(path):
        pytest.fail("%s is missing: run `bash templates/fetch-schemas.sh` (it fetches the "
                    "schemas from Maven Central and PyPI; BEAM_BATCHPUT_TEMPLATE_SCHEMAS "
                    "moves the folder)" % path)
    return path


def flags(options_class):
    parser = argparse.ArgumentParser()
    options_class._add_argparse_args(parser)
    WriterOptions._add_argparse_args(parser)
    return {action.dest for action in parser._actions if action.dest != "help"}


def metadata(name):
    with open(os.path.join(DATAFLOW, name + ".metadata.json")) as handle:
        return json.load(handle)


def yaml_documents(path: str) -> List[Dict[str, Any]]:
    with open(path) as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


# --- Dataflow: metadata against the pipelines -----------------------------------------------


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
            assert all(re.fullmatch(rx, example[param["name"]])
                       for rx in param.get("regexes", [])), param


def _discovery_to_json_schema(node: Dict[str, Any]) -> Dict[str, Any]:
    """A discovery-document schema as JSON Schema; "Required." fields become required."""
    out: Dict[str, Any] = {}
    if "$ref" in node:
        return {"$ref": "#/definitions/%s" % node["$ref"]}
    if "type" in node:
        out["type"] = {"integer": "integer", "number": "number", "boolean": "boolean",
                       "array": "array", "object": "object"}.get(node["type"], "string")
    if "enum" in node:
        out["enum"] = node["enum"]
    if "items" in node:
        out["items"] = _discovery_to_json_schema(node["items"])
    if "properties" in node:
        out["properties"] = {k: _discovery_to_json_schema(v) for k, v in node["properties"].items()}
        out["additionalProperties"] = False
        out["required"] = sorted(k for k, v in node["properties"].items()
                                 if v.get("description", "").startswith("Required."))
    elif "additionalProperties" in node:
        out["additionalProperties"] = _discovery_to_json_schema(node["additionalProperties"])
    return out


@pytest.fixture(scope="module")
def template_metadata_schema() -> Dict[str, Any]:
    with zipfile.ZipFile(_fetched(GOOGLE_API_WHEEL)) as wheel:
        document = json.loads(wheel.read(
            "googleapiclient/discovery_cache/documents/dataflow.v1b3.json"))
    definitions: Dict[str, Any] = {}
    pending = ["TemplateMetadata"]
    while pending:   # the definitions TemplateMetadata reaches
        name = pending.pop()
        if name not in definitions:
            definitions[name] = _discovery_to_json_schema(document["schemas"][name])
            pending.extend(re.findall(r'"#/definitions/(\w+)"', json.dumps(definitions[name])))
    return {"$ref": "#/definitions/TemplateMetadata", "definitions": definitions}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_metadata_is_a_valid_dataflow_template_metadata(name, template_metadata_schema):
    jsonschema.validate(metadata(name), template_metadata_schema)
    with pytest.raises(jsonschema.ValidationError, match="isOptinal"):   # the check bites
        broken = metadata(name)
        broken["parameters"][0]["isOptinal"] = True
        jsonschema.validate(broken, template_metadata_schema)


# --- Dataflow: the service lists come from the writers --------------------------------------


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_committed_metadata_is_what_the_generator_writes(name):
    with open(generate_metadata.path_of(name), encoding="utf-8") as handle:
        assert handle.read() == generate_metadata.generated(name), (
            "run python -m templates.dataflow.generate_metadata")


def _service_regex(name: str, parameter: str) -> str:
    (param,) = [p for p in metadata(name)["parameters"] if p["name"] == parameter]
    (regex,) = param["regexes"]
    return regex


def _pipeline_accepts_services(value: str) -> bool:
    argv = ["--dead_letters=gs://b/d/*.avro", "--redrive_output=gs://b/o",
            "--region_name=eu-west-1", "--services=%s" % value]
    try:
        redrive.RedriveOptions(argv).validated()
    except ValueError:
        return False
    return True


def _candidate_names() -> List[str]:
    names = [alias for info in WRITERS.values() for alias in (info.short_name, info.service)]
    return names + ["s3", "sitewise-x", "Sitewise", "iot-sitewise", "kinesis-data", "", "-"]


def test_the_service_parameter_admits_exactly_the_writers():
    regex = _service_regex("avro_to_service", "service")
    for name in _candidate_names():
        try:
            writer_info(name)
            accepted = bool(name)
        except ValueError:
            accepted = False
        assert bool(re.fullmatch(regex, name)) == accepted, name


def test_the_services_parameter_admits_exactly_what_the_redrive_accepts():
    regex = _service_regex("redrive", "services")
    names = [name for name in _candidate_names() if name]
    for value in names + ["%s,%s" % (a, b) for a in names for b in names]:
        assert bool(re.fullmatch(regex, value)) == _pipeline_accepts_services(value), value
    for loose in ("sitewise,", ",connect", "sitewise,,connect", "sitewise, connect"):
        assert not re.fullmatch(regex, loose), loose   # stricter than the pipeline's parsing


# --- Dataflow: the README's commands ---------------------------------------------------------

_SHELL_VALUES = {"PROJECT": "my-project", "REGION": "europe-west1", "REPO": "beam-batchput",
                 "BUCKET": "gs://my-project-beam-batchput",
                 "SA": "dataflow-worker@my-project.iam.gserviceaccount.com",
                 "AVRO_IMAGE": "europe-west1-docker.pkg.dev/my-project/beam-batchput/a:0.1.0",
                 "REDRIVE_IMAGE": "europe-west1-docker.pkg.dev/my-project/beam-batchput/r:0.1.0",
                 "ROLE": "arn:aws:iam::123456789012:role/beam-batchput-writer"}


def _readme_commands(path: str, prefix: str) -> List[List[str]]:
    with open(path) as handle:
        text = handle.read()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    commands = []
    for block in blocks:
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"\$\(date [^)]*\)", "20260101-000000", line.split(" #")[0])
            for var, value in _SHELL_VALUES.items():
                line = line.replace("$" + var, value)
            if line.strip().startswith(prefix):
                assert "$" not in line, "an undefined shell variable in: " + line
                commands.append(shlex.split(line))
    return commands


def _gcloud_parameters(words: List[str]) -> Dict[str, str]:
    """The ``--parameters`` of a gcloud command, parsed as gcloud's dict flag does."""
    parameters: Dict[str, str] = {}
    for i, word in enumerate(words):
        value = words[i + 1] if word == "--parameters" else (
            word.split("=", 1)[1] if word.startswith("--parameters=") else None)
        if value is None:
            continue
        delimiter = ","
        match = re.match(r"^\^([^^]+)\^(.*)$", value, re.S)
        if match:
            delimiter, value = match.groups()
        for item in value.split(delimiter):
            key, _, val = item.partition("=")
            parameters[key] = val
    return parameters


def test_readme_run_commands_pass_only_known_parameters_the_pipeline_accepts():
    commands = _readme_commands(os.path.join(DATAFLOW, "README.md"),
                                "gcloud dataflow flex-template run")
    assert len(commands) == 3
    for words in commands:
        assert "--service-account-email" in words, words   # else the AWS role does not trust it
        template = re.search(r"/templates/(\w+)\.json", " ".join(words)).group(1)
        params = {p["name"]: p for p in metadata(template)["parameters"]}
        given = _gcloud_parameters(words)
        unknown = set(given) - set(params) - DATAFLOW_LAUNCH_OPTIONS
        assert not unknown, "Dataflow refuses unknown parameters %s" % sorted(unknown)
        missing = {n for n, p in params.items() if not p.get("isOptional")} - set(given)
        assert not missing, missing
        for key, value in given.items():
            for regex in params.get(key, {}).get("regexes", []):
                assert re.fullmatch(regex, value), (key, value, regex)
        OPTIONS[template](["--%s=%s" % (k, v) for k, v in given.items()
                           if k not in DATAFLOW_LAUNCH_OPTIONS]).validated()


def test_readme_builds_one_image_per_template_from_the_dockerfile():
    builds = _readme_commands(os.path.join(DATAFLOW, "README.md"), "docker build")
    pipelines_built = {w.split("=", 1)[1] for words in builds for w in words
                       if w.startswith("PIPELINE=")}
    assert pipelines_built == set(launch.PIPELINES) == set(OPTIONS)
    for words in builds:
        assert any(w.startswith("AWS_ROLE_ARN=arn:aws:iam::") for w in words), words


# --- Dataflow: the launcher ------------------------------------------------------------------


class NeverFinishingResult(PipelineResult):
    def __init__(self) -> None:
        super().__init__("RUNNING")

    def wait_until_finish(self, duration=None):
        raise AssertionError("the launcher must not wait for the job")


class RecordingRunner(PipelineRunner):
    """Records the submitted pipeline's options; the job 'runs' forever."""

    options: Optional[Any] = None

    def run_pipeline(self, pipeline, options):
        RecordingRunner.options = options
        return NeverFinishingResult()


@pytest.mark.parametrize("watch,streaming", [("0", False), ("30", True)])
def test_the_launcher_submits_without_waiting_and_streams_when_watching(watch, streaming):
    argv = ["--runner=%s.RecordingRunner" % __name__, "--avro_input=gs://b/in/*.avro",
            "--service=sitewise", "--dead_letter_output=gs://b/dlq", "--region_name=eu-west-1",
            "--watch_interval_seconds=" + watch]
    result = launch.launch(argv, {"BEAM_BATCHPUT_PIPELINE": "avro_to_service"})
    assert isinstance(result, NeverFinishingResult)
    assert RecordingRunner.options.view_as(StandardOptions).streaming is streaming


def test_the_launcher_refuses_an_unknown_pipeline_and_bad_options():
    with pytest.raises(ValueError, match="BEAM_BATCHPUT_PIPELINE"):
        launch.launch(["--runner=%s.RecordingRunner" % __name__], {})
    with pytest.raises(ValueError, match="--services"):
        launch.launch(["--runner=%s.RecordingRunner" % __name__, "--dead_letters=gs://b/*",
                       "--redrive_output=gs://b/o", "--services=s3"],
                      {"BEAM_BATCHPUT_PIPELINE": "redrive"})
    with pytest.raises(ValueError, match="region_name"):   # STS needs the writers' Region
        launch.launch(["--runner=%s.RecordingRunner" % __name__, "--dead_letters=gs://b/*",
                       "--redrive_output=gs://b/o"],
                      {"BEAM_BATCHPUT_PIPELINE": "redrive",
                       "BEAM_BATCHPUT_AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/w"})


# --- Dockerfiles and their build context -----------------------------------------------------


def _dockerignore_excludes(patterns: List[str], path: str) -> bool:
    """Docker's rule: the last pattern matching the path or a parent of it wins."""
    excluded = False
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern[1:] if negate else pattern
        pattern = pattern.rstrip("/")
        regex = fnmatch.translate(pattern).replace(".*", "[^/]*").replace(
            "[^/]*[^/]*/", "(.*/)?").replace("[^/]*[^/]*", ".*")
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            excluded = not negate
    return excluded


def _copied_sources(dockerfile: str) -> List[str]:
    with open(dockerfile) as handle:
        text = re.sub(r"\\\n\s*", " ", handle.read())
    sources = []
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources.extend(words[1:-1])
    return sources


def test_the_build_context_holds_what_the_images_copy_and_nothing_else():
    with open(os.path.join(ROOT, ".dockerignore")) as handle:
        patterns = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    copied = (_copied_sources(os.path.join(DATAFLOW, "Dockerfile"))
              + _copied_sources(os.path.join(FLINK, "Dockerfile.worker")))
    assert "templates/dataflow/launch.py" in copied
    for source in copied:
        assert os.path.exists(os.path.join(ROOT, source)), source
        assert not _dockerignore_excludes(patterns, source.rstrip("/") + "/x.py"
                                          if os.path.isdir(os.path.join(ROOT, source))
                                          else source), source
    for kept_out in (".venv/bin/python", "build/lib/x.py", ".git/config", "out/dlq/a.avro",
                     "beam_batchput/__pycache__/writers.cpython-311.pyc", "tests/fakes.py"):
        assert _dockerignore_excludes(patterns, kept_out), kept_out


def test_the_dataflow_image_launches_launch_py_with_the_role_from_the_build():
    with open(os.path.join(DATAFLOW, "Dockerfile")) as handle:
        text = handle.read()
    assert "FLEX_TEMPLATE_PYTHON_PY_FILE=/template/templates/dataflow/launch.py" in text
    assert "BEAM_BATCHPUT_PIPELINE=${PIPELINE}" in text
    assert "BEAM_BATCHPUT_AWS_ROLE_ARN=${AWS_ROLE_ARN}" in text


# --- AWS policies ----------------------------------------------------------------------------

# IAM's service prefix where it differs from botocore's service name.
_IAM_PREFIX = {"iotevents-data": "iotevents"}


def _policy(name: str) -> Dict[str, Any]:
    with open(os.path.join(AWS, name)) as handle:
        return json.load(handle)


def test_the_permissions_policy_grants_each_writers_operation_and_nothing_else():
    (statement,) = _policy("writer-permissions.json")["Statement"]
    expected = {"%s:%s" % (_IAM_PREFIX.get(service, service), info.writer()._service.operation)
                for service, info in WRITERS.items()}
    assert statement["Effect"] == "Allow" and set(statement["Action"]) == expected


def test_the_gcp_trust_policy_pins_azp_sub_and_the_sts_audience():
    (statement,) = _policy("trust-policy-gcp.json")["Statement"]
    assert statement["Principal"] == {"Federated": "accounts.google.com"}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    condition = statement["Condition"]["StringEquals"]
    assert condition["accounts.google.com:aud"] == condition["accounts.google.com:sub"] == (
        "GCP_SERVICE_ACCOUNT_UNIQUE_ID")
    from templates.dataflow.gcp_web_identity import DEFAULT_AUDIENCE

    assert condition["accounts.google.com:oaud"] == DEFAULT_AUDIENCE == "sts.amazonaws.com"


def test_the_irsa_trust_policy_pins_the_service_account_and_audience():
    (statement,) = _policy("trust-policy-eks-irsa.json")["Statement"]
    issuer = "EKS_OIDC_ISSUER"
    assert statement["Principal"]["Federated"].endswith(":oidc-provider/" + issuer)
    condition = statement["Condition"]["StringEquals"]
    (account,) = [d for d in yaml_documents(os.path.join(FLINK, "service-account.yaml"))
                  if d["kind"] == "ServiceAccount"]
    assert condition == {issuer + ":aud": "sts.amazonaws.com", issuer + ":sub": (
        "system:serviceaccount:K8S_NAMESPACE:%s" % account["metadata"]["name"])}


# --- Kubernetes ------------------------------------------------------------------------------

_CORE_MANIFESTS = ["service-account.yaml", "network-policy.yaml"]


@pytest.mark.parametrize("name", _CORE_MANIFESTS)
def test_core_manifests_validate_against_the_kubernetes_schemas(name):
    for document in yaml_documents(os.path.join(FLINK, name)):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_kubernetes_validate_refuses_an_unknown_field():   # the check bites
    (account,) = [d for d in yaml_documents(os.path.join(FLINK, "service-account.yaml"))
                  if d["kind"] == "ServiceAccount"]
    account["metadata"]["annotation"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(account, KUBERNETES_VERSION, strict=True)


@pytest.fixture(scope="module")
def flink_deployment_schema() -> Dict[str, Any]:
    with zipfile.ZipFile(_fetched(FLINK_OPERATOR_JAR)) as jar:
        crd = yaml.load(jar.read("META-INF/fabric8/flinkdeployments.flink.apache.org-v1.yml"),
                        Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1"]
    schema = dict(version["schema"]["openAPIV3Schema"])
    # apiVersion, kind and metadata are implicit in a CRD's schema: pin them here.
    schema["properties"] = dict(schema["properties"], **{
        "apiVersion": {"enum": ["%s/%s" % (crd["spec"]["group"], version["name"])]},
        "kind": {"enum": [crd["spec"]["names"]["kind"]]},
        "metadata": {"type": "object", "properties": {"name": {"type": "string"},
                                                      "namespace": {"type": "string"}}}})
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    return schema


def _unknown_fields(value: Any, schema: Dict[str, Any], path: str = "") -> Iterator[str]:
    """Fields the API server would prune: not in a structural schema's properties."""
    if schema.get("x-kubernetes-preserve-unknown-fields") or not isinstance(value, (dict, list)):
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _unknown_fields(item, schema.get("items", {}), "%s[%d]" % (path, i))
        return
    properties = schema.get("properties")
    if properties is None:
        return  # a map (additionalProperties) or an untyped object
    for key, item in value.items():
        if key not in properties:
            yield path + "." + key
        else:
            yield from _unknown_fields(item, properties[key], path + "." + key)


def _flink_deployment() -> Dict[str, Any]:
    (deployment,) = yaml_documents(os.path.join(FLINK, "flink-deployment.yaml"))
    return deployment


def test_the_flink_deployment_validates_against_the_operators_crd(flink_deployment_schema):
    deployment = _flink_deployment()
    jsonschema.validate(deployment, flink_deployment_schema)
    assert list(_unknown_fields(deployment, flink_deployment_schema)) == []
    broken = _flink_deployment()
    broken["spec"]["taskManager"]["podTemplate"]["spec"]["containers"][0]["resource"] = {}
    assert list(_unknown_fields(broken, flink_deployment_schema)) == [
        ".spec.taskManager.podTemplate.spec.containers[0].resource"]   # the check bites


def test_the_flink_pod_templates_are_valid_pods():
    spec = _flink_deployment()["spec"]
    for template in (spec["podTemplate"], spec["taskManager"]["podTemplate"]):
        pod = dict(template, apiVersion="v1", kind="Pod", metadata={"name": "template"})
        kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)


def test_task_managers_run_as_the_irsa_account_with_a_bounded_worker_pool():
    spec = _flink_deployment()["spec"]
    documents = yaml_documents(os.path.join(FLINK, "service-account.yaml"))
    (account,) = [d for d in documents if d["kind"] == "ServiceAccount"]
    assert spec["serviceAccount"] == account["metadata"]["name"]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith(
        "arn:aws:iam::")
    (binding,) = [d for d in documents if d["kind"] == "RoleBinding"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                    "namespace": account["metadata"]["namespace"]}]
    # The operator overrides a pod template's account with spec.serviceAccount.
    for template in (spec.get("podTemplate", {}), spec["taskManager"]["podTemplate"],
                     spec["jobManager"].get("podTemplate", {})):
        assert "serviceAccountName" not in template.get("spec", {})
    (pool,) = [c for c in spec["taskManager"]["podTemplate"]["spec"]["containers"]
               if c["name"] == "python-worker-pool"]
    assert pool["args"] == ["--worker_pool"]
    assert set(pool["resources"]["limits"]) == {"cpu", "memory"}
    assert set(pool["resources"]["requests"]) == {"cpu", "memory"}


def test_network_policies_admit_only_flinks_ports_from_the_cluster_itself():
    spec = _flink_deployment()["spec"]
    name = _flink_deployment()["metadata"]["name"]
    config = spec["flinkConfiguration"]
    policies = {p["spec"]["podSelector"]["matchLabels"]["component"]: p
                for p in yaml_documents(os.path.join(FLINK, "network-policy.yaml"))}
    assert set(policies) == {"taskmanager", "jobmanager"}
    for component, policy in policies.items():
        assert policy["spec"]["podSelector"]["matchLabels"]["app"] == name
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
        assert 50000 not in ports
        for rule in policy["spec"]["ingress"]:
            assert rule["from"] and all("podSelector" in peer for peer in rule["from"])
    task_ports = {p["port"] for rule in policies["taskmanager"]["spec"]["ingress"]
                  for p in rule["ports"]}
    assert task_ports == {int(config["taskmanager.rpc.port"]),
                          int(config["taskmanager.data.port"])}


def test_streaming_checkpoints_have_durable_storage():
    config = _flink_deployment()["spec"]["flinkConfiguration"]
    assert config["state.checkpoints.dir"].startswith("s3://")
    assert config["state.savepoints.dir"].startswith("s3://")
    plugins = _flink_deployment()["spec"]["podTemplate"]["spec"]["containers"][0]["env"]
    image = _flink_deployment()["spec"]["image"]
    version = re.match(r"flink:(\d+\.\d+\.\d+)-", image).group(1)
    assert {"name": "ENABLE_BUILT_IN_PLUGINS",
            "value": "flink-s3-fs-hadoop-%s.jar" % version} in plugins


# --- docker compose --------------------------------------------------------------------------

COMPOSE = os.path.join(FLINK, "docker-compose.yaml")


def test_the_compose_file_validates_against_the_compose_spec():
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.compose-spec", COMPOSE], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_spec_validation_refuses_a_misspelt_key(tmp_path):   # the check bites
    with open(COMPOSE) as handle:
        compose = yaml.safe_load(handle)
    compose["services"]["job-server"]["volume"] = compose["services"]["job-server"].pop("volumes")
    broken = tmp_path / "docker-compose.yaml"
    broken.write_text(yaml.safe_dump(compose))
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.compose-spec", str(broken)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and "volume" in done.stdout


def _mounts(service: Dict[str, Any]) -> Dict[str, str]:
    return dict(reversed(v.split(":")[:2]) for v in service.get("volumes", []))


def test_artifacts_are_staged_on_one_volume_the_job_server_and_flink_share():
    with open(COMPOSE) as handle:
        services = yaml.safe_load(handle)["services"]
    (artifacts_dir,) = [a.split("=", 1)[1] for a in services["job-server"]["command"]
                        if a.startswith("--artifacts-dir=")]
    for name in ("job-server", "jobmanager", "taskmanager"):
        assert _mounts(services[name]).get(artifacts_dir) == "artifacts", name


def test_compose_publishes_only_loopback_ports_and_never_the_worker_pool():
    with open(COMPOSE) as handle:
        services = yaml.safe_load(handle)["services"]
    pool = services["python-worker-pool"]
    assert pool["network_mode"] == "service:taskmanager" and "ports" not in pool
    assert pool["cpus"] and pool["mem_limit"]
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
    assert "state.checkpoints.dir: file:///flink-state/" in services["jobmanager"]["environment"][
        "FLINK_PROPERTIES"]


def test_flink_images_job_server_and_operator_name_one_flink_minor():
    with open(COMPOSE) as handle:
        services = yaml.safe_load(handle)["services"]
    spec = _flink_deployment()["spec"]
    minors = {re.match(r"flink:(\d+\.\d+)\.", services[name]["image"]).group(1)
              for name in ("jobmanager", "taskmanager")}
    minors.add(re.search(r"beam_flink(\d+\.\d+)_job_server", services["job-server"]["image"])
               .group(1))
    minors.add(re.match(r"flink:(\d+\.\d+)\.", spec["image"]).group(1))
    minors.add(spec["flinkVersion"][1:].replace("_", "."))
    with open(os.path.join(FLINK, "README.md")) as handle:
        minors.update(re.findall(r"--flink_version=(\d+\.\d+)", handle.read()))
    assert len(minors) == 1, minors


def test_the_flink_templates_name_the_flink_release_the_engine_tests_run():
    """Flink's images in the compose file and the FlinkDeployment are the release the
    engine tier fetches and runs (tests/runners/engines.py), so what they name ran."""
    with open(COMPOSE) as handle:
        services = yaml.safe_load(handle)["services"]
    images = {services[name]["image"] for name in ("jobmanager", "taskmanager")}
    images.add(_flink_deployment()["spec"]["image"])
    assert images == {"flink:%s-scala_2.12-java17" % engines.FLINK_DIST_VERSION}
    assert services["job-server"]["image"].startswith(
        "apache/beam_flink%s_job_server:" % engines.FLINK_MINOR)
