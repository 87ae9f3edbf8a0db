"""Packaging of beam-batchput."""

import os

from setuptools import find_packages, setup

_HERE = os.path.dirname(os.path.abspath(__file__))

with open(os.path.join(_HERE, "README.md"), encoding="utf-8") as readme:
    _LONG_DESCRIPTION = readme.read()

setup(
    name="beam-batchput",
    version="0.1.0",
    description="Apache Beam write connectors for AWS batch-put APIs "
                "(IoT SiteWise, IoT TwinMaker, DataZone, Connect data tables, IoT Events)",
    long_description=_LONG_DESCRIPTION,
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["beam_batchput", "beam_batchput.*"]),
    package_data={"beam_batchput": ["_data/*/*/*.json", "schemas/*.avsc", "yaml/*.yaml"]},
    include_package_data=True,
    # The minimums are tested: `make test-min` installs exactly these versions
    # and runs the unit and contract tests. botocore 1.43.93 is the first
    # release that sends rest-json timestamps with milliseconds (earlier ones
    # cut DataZone's to whole seconds); it also ships Connect's data table API.
    # apache-beam 2.66.0 is the first to parse pipeline options without
    # abbreviations: earlier ones take Dataflow's --region for the pipelines'
    # --region_name, writing to an AWS Region named after a GCP one.
    install_requires=[
        "apache-beam>=2.66.0",
        "boto3>=1.43.93",
        "botocore>=1.43.93",
        "fastavro>=1.9.0",
    ],
    entry_points={
        "console_scripts": [
            "beam-batchput-avro-to-service = beam_batchput.pipelines.avro_to_service:main",
            "beam-batchput-redrive = beam_batchput.pipelines.redrive:main",
            "beam-batchput-demo = beam_batchput.pipelines.demo:main",
            "beam-batchput-emulator = beam_batchput.emulator.__main__:main",
        ],
    },
    extras_require={
        "test": [
            "apache-beam[yaml]>=2.66.0",
            "pytest>=7.0",
            "hypothesis>=6.0",
            # The template tests' validators: Kubernetes schemas and the compose spec, offline.
            "kubernetes-validate>=1.33",
            "check-jsonschema>=0.29",
            # The install test builds a wheel of the checkout without build isolation.
            "setuptools>=68",
            "wheel>=0.40",
            # An independent Kinesis implementation, the integration peer of WriteToKinesis.
            "moto[server]>=5.0",
            # Beam YAML's packages: provider clones environments with it.
            "virtualenv-clone>=0.5",
            # `make coverage`: the whole suite, subprocesses included.
            "coverage>=7.10",
        ],
        # `make mutate`: mutation testing.
        "mutation": ["mutmut>=3.3,<4"],
        # `benchmarks/profile_cpu.py`: where figure 2's CPU goes, sampled.
        "bench": ["py-spy>=0.3"],
    },
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Topic :: System :: Distributed Computing",
    ],
)
