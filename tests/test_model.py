"""The shipped FinSpace model makes a working client on whatever botocore is installed."""

import json

import boto3
import botocore
import pytest
from botocore.exceptions import ParamValidationError, UnknownServiceError

from kx_jupyter.finspace import clients
from kx_jupyter.finspace.model import DATA_PATH, SERVICE_PATH, service_model
from kx_jupyter.finspace.rules import check_value, validate


def local_connection():
    return clients.Connection(
        "http://127.0.0.1:9", "http://127.0.0.1:9", "us-east-1", "AKIDEXAMPLE", "secret"
    )


def test_client_has_every_kx_operation_on_installed_botocore():
    client = clients.Clients(local_connection()).finspace
    ops = set(client.meta.service_model.operation_names)
    assert {
        "UpdateKxClusterCodeConfiguration",
        "GetKxCluster",
        "ListKxClusterNodes",
        "CreateKxCluster",
    } <= ops
    tagging = {"TagResource", "UntagResource", "ListTagsForResource"}
    assert tagging <= ops and all("Kx" in op for op in ops - tagging), (
        "trimmed to the kx and tagging operations"
    )
    assert client.meta.service_model.metadata["protocol"] == "rest-json"
    assert hasattr(client, "update_kx_cluster_code_configuration")


def test_global_boto3_environment_is_left_alone():
    """Building our client must not add the model to boto3's default session."""
    _ = clients.Clients(local_connection()).finspace
    has_builtin = botocore.__version__ <= "1.43.116" and tuple(map(int, botocore.__version__.split("."))) <= (
        1,
        43,
        116,
    )
    if has_builtin:
        pytest.skip(f"botocore {botocore.__version__} still ships finspace itself")
    with pytest.raises(UnknownServiceError):
        boto3.Session().client("finspace", region_name="us-east-1")


def test_model_has_no_documentation_and_keeps_patterns():
    text = SERVICE_PATH.read_text()
    assert '"documentation"' not in text
    model = service_model()  # botocore's ServiceModel, loaded once through the shared loader
    assert model.shape_for("KxClusterName").metadata["pattern"] == "^[a-zA-Z0-9][a-zA-Z0-9-_]*[a-zA-Z0-9]$"
    assert (
        model is service_model()
        and model.operation_model("TagResource").http["requestUri"] == "/tags/{resourceArn}"
    )
    assert (DATA_PATH / "NOTICE").read_text().count("Apache License") == 1


def test_botocore_still_checks_required_members_with_our_model():
    client = clients.Clients(local_connection()).finspace
    with pytest.raises(ParamValidationError, match="code"):
        client.update_kx_cluster_code_configuration(environmentId="abc", clusterName="abc")


def test_rules_catch_patterns_botocore_lets_through():
    problems = validate(
        "UpdateKxClusterCodeConfiguration",
        {
            "environmentId": "ABC",
            "clusterName": "bad!",
            "code": {"s3Bucket": "bucket", "s3Key": "k.zip"},
            "commandLineArguments": [{"key": "awsRegion", "value": "a-b"}],
            "deploymentConfiguration": {"deploymentStrategy": "SLOW"},
        },
    )
    fields = sorted(p.field for p in problems)
    assert fields == [
        "clusterName",
        "commandLineArguments[0].key",
        "commandLineArguments[0].value",
        "deploymentConfiguration.deploymentStrategy",
        "environmentId",
    ]
    assert "ROLLING" in str([p for p in problems if "Strategy" in p.field][0])


def test_rules_accept_a_good_request():
    assert (
        validate(
            "UpdateKxClusterCodeConfiguration",
            {
                "environmentId": "kxlocaldev",
                "clusterName": "hdb-3",
                "clientToken": "a1-b2",
                "code": {"s3Bucket": "kx-local-code", "s3Key": "kx-jupyter/abc.zip", "s3ObjectVersion": "v1"},
                "initializationScript": "init.q",
                "commandLineArguments": [
                    {"key": "s", "value": "4"},
                    {"key": "AWS_ZIP_DEFAULT", "value": "17,2,6"},
                ],
                "deploymentConfiguration": {"deploymentStrategy": "NO_RESTART"},
            },
        )
        == []
    )


def test_check_value_names_the_field():
    (problem,) = check_value("InitializationScriptFilePath", "my init.q", "--init")
    assert problem.field == "--init"
    assert "my init.q" in problem.message


def test_build_script_output_is_what_is_shipped():
    """The shipped JSON is exactly what scripts/build_model.py writes (sorted, indented)."""
    raw = SERVICE_PATH.read_text()
    assert raw == json.dumps(json.loads(raw), indent=1, sort_keys=True) + "\n"


def test_every_client_keeps_the_configured_attempts():
    c = clients.Clients(local_connection(), max_attempts=2)
    for client in (c.finspace, c.s3, c.logs):
        assert client.meta.config.retries["total_max_attempts"] == 2
    assert c.s3.meta.config.s3["addressing_style"] == "path"


def test_one_definition_of_an_argument_key_accepts_what_the_service_ran_and_nothing_longer():
    from kx_jupyter.finspace.rules import check_value

    for key in ("s", "g", "tp", "procName", "hdbProc", "AWS_ZIP_DEFAULT"):
        assert check_value("KxCommandLineArgumentKey", key, "key") == [], key
    for key in ("bad key!", "awsRegion", "AWSx", "1abc", "-port", "tp-1", "g\n"):
        problems = check_value("KxCommandLineArgumentKey", key, "key")
        assert problems and "a letter followed by letters" in str(problems[0]), key
    assert check_value("KxCommandLineArgumentValue", "17,2,6", "value") == []
    assert check_value("KxCommandLineArgumentValue", "x\n", "value")


def test_rules_refuse_what_the_service_could_not_carry_out():
    base = {
        "environmentId": "kxlocaldev",
        "clusterName": "dev-gp",
        "code": {"s3Bucket": "kx-local-code", "s3Key": "c.zip"},
    }
    cases = {
        "commandLineArguments[0].value: is required": {"commandLineArguments": [{"key": "g"}]},
        "commandLineArguments[0].key: is required": {"commandLineArguments": [{"value": "1"}]},
        "code.s3Key: is required": {"code": {"s3Bucket": "kx-local-code"}},
        "code.s3Bucket: is required": {"code": {"s3Key": "c.zip"}},
        "code: must be an object": {"code": "s3://kx-local-code/c.zip"},
        "commandLineArguments[0]: must be an object": {"commandLineArguments": ["g=1"]},
    }
    for expected, change in cases.items():
        assert expected in [
            str(v) for v in validate("UpdateKxClusterCodeConfiguration", {**base, **change})
        ], change
    assert [str(v) for v in validate("UpdateKxClusterCodeConfiguration", {**base, "code": {}})] == [
        "code.s3Bucket: is required",
        "code.s3Key: is required",
    ]
    for operation, params in (
        ("ListKxClusters", {"environmentId": "kxlocaldev"}),
        ("ListKxEnvironments", {}),
    ):
        assert [str(v) for v in validate(operation, {**params, "maxResults": 0})] == [
            "maxResults: must be at least 1"
        ]
        assert validate(operation, {**params, "maxResults": 1}) == []


def test_rules_build_on_botocores_validator_and_add_what_it_skips():
    from botocore.validate import ParamValidator

    from kx_jupyter.finspace.model import operation

    too_long = {
        "environmentId": "kxlocaldev",
        "clusterName": "dev-gp",
        "code": {"s3Bucket": "kx-local-code", "s3Key": "c.zip"},
        "initializationScript": "x" * 300,
    }
    assert (
        not ParamValidator()
        .validate(too_long, operation("UpdateKxClusterCodeConfiguration").input_shape)
        .has_errors()
    )
    (problem,) = validate(
        "UpdateKxClusterCodeConfiguration", too_long
    )  # the service's maximum, which botocore skips
    assert problem.field == "initializationScript" and problem.message.startswith(
        "has 300 characters; it must be 1-255"
    )
    (missing,) = validate(
        "UpdateKxClusterCodeConfiguration", {"environmentId": "kxlocaldev", "clusterName": "dev-gp"}
    )
    assert str(missing) == "code: is required"  # botocore's own finding, in the same wording
