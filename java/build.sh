#!/bin/sh
# Builds the Java example and writes its runtime classpath to target/classpath.txt.
# Maven fetches Beam's Java artifacts from Maven Central on the first run.
# MAVEN_REPO (optional) is the local repository to use instead of ~/.m2/repository.
set -eu
cd "$(dirname "$0")"
repo=${MAVEN_REPO:+-Dmaven.repo.local=$MAVEN_REPO}
# shellcheck disable=SC2086
mvn -B -q $repo package dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
