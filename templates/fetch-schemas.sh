#!/usr/bin/env bash
# Fetches, from package registries, the schemas the template tests validate against
# (tests/unit/test_templates.py fails, naming this script, when they are missing):
#   - the Flink Kubernetes operator's CRDs (FlinkDeployment ...), generated into
#     META-INF/fabric8/ of org.apache.flink:flink-kubernetes-operator-api (Maven Central);
#   - Dataflow's API schema (TemplateMetadata, ParameterMetadata): the discovery
#     document inside the google-api-python-client wheel (PyPI), read from the
#     wheel without installing it.
# Kubernetes' own schemas and the compose spec ship inside the test extra's
# kubernetes-validate and check-jsonschema.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST="${BEAM_BATCHPUT_TEMPLATE_SCHEMAS:-${XDG_CACHE_HOME:-$HOME/.cache}/beam-batchput/template-schemas}"
FLINK_OPERATOR_VERSION=1.10.0
GOOGLE_API_CLIENT_VERSION=2.202.0
PYTHON="${PYTHON:-python3}"
mkdir -p "$DEST"

jar="$DEST/flink-kubernetes-operator-api-$FLINK_OPERATOR_VERSION.jar"
if [[ ! -s "$jar" ]]; then
    mvn -q -B dependency:copy -Dtransitive=false -DoutputDirectory="$DEST" \
        -Dartifact="org.apache.flink:flink-kubernetes-operator-api:$FLINK_OPERATOR_VERSION"
fi
wheel="$DEST/google_api_python_client-$GOOGLE_API_CLIENT_VERSION-py3-none-any.whl"
if [[ ! -s "$wheel" ]]; then
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: -d "$DEST" "google-api-python-client==$GOOGLE_API_CLIENT_VERSION"
fi
ls -1 "$jar" "$wheel"
