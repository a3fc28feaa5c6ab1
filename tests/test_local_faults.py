"""Injected faults look like the service's own throttling, errors and broken connections."""

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
from plane_fixtures import ENV_ID


def get(fs):
    return fs.get_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp")


def test_throttling_and_internal_errors_are_modeled(plane):
    plane.set_faults({"sequence": ["throttle", "error"]})
    fs = plane.client("finspace")
    with pytest.raises(ClientError) as throttled:
        get(fs)
    assert (
        throttled.value.response["Error"]["Code"],
        throttled.value.response["ResponseMetadata"]["HTTPStatusCode"],
    ) == ("ThrottlingException", 429)
    with pytest.raises(ClientError) as internal:
        get(fs)
    assert (
        internal.value.response["Error"]["Code"],
        internal.value.response["ResponseMetadata"]["HTTPStatusCode"],
    ) == ("InternalServerException", 500)
    assert get(fs)["status"] == "RUNNING"


def test_standard_retries_ride_through_faults(plane):
    plane.set_faults({"sequence": ["throttle", "drop", "error"], "operations": ["GetKxCluster"]})
    assert get(plane.client("finspace", attempts=5))["status"] == "RUNNING"
    assert plane.counters()["requests"]["GetKxCluster"] == 4


def test_s3_and_logs_faults_take_each_services_own_form(plane):
    s3, logs = plane.client("s3"), plane.client("logs")
    plane.set_faults({"sequence": ["throttle", "error"], "operations": ["ListObjectVersions"]})
    for expected in (("SlowDown", 503), ("InternalError", 500)):
        with pytest.raises(ClientError) as err:
            s3.list_object_versions(Bucket="kx-local-code")
        assert (
            err.value.response["Error"]["Code"],
            err.value.response["ResponseMetadata"]["HTTPStatusCode"],
        ) == expected
    plane.set_faults({"sequence": ["throttle", "error"], "operations": ["DescribeLogGroups"]})
    for expected in ("ThrottlingException", "ServiceUnavailableException"):
        with pytest.raises(ClientError) as err:
            logs.describe_log_groups()
        assert err.value.response["Error"]["Code"] == expected
    assert "logGroups" in logs.describe_log_groups()


def test_an_upload_rides_through_s3_faults_and_a_lost_answer(plane):
    plane.set_faults({"sequence": ["throttle", "drop", "error", "drop_after"], "operations": ["PutObject"]})
    s3 = plane.client("s3", attempts=5)
    version = s3.put_object(Bucket="kx-local-code", Key="tests/faulty.zip", Body=b"PK\x05\x06" + bytes(18))[
        "VersionId"
    ]
    assert (
        s3.get_object(Bucket="kx-local-code", Key="tests/faulty.zip", VersionId=version)["Body"].read()[:4]
        == b"PK\x05\x06"
    )
    assert plane.counters()["requests"]["PutObject"] == 5  # four faults, then the answer
    versions = s3.list_object_versions(Bucket="kx-local-code", Prefix="tests/faulty.zip")["Versions"]
    assert len(versions) == 2  # the lost answer's upload was carried out: the retry stored it again


def test_dropped_connection(plane):
    plane.set_faults({"sequence": ["drop"]})
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        get(plane.client("finspace"))


def test_faults_only_hit_named_operations_and_can_be_cleared(plane):
    plane.set_faults({"throttle": 1.0, "operations": ["UpdateKxClusterCodeConfiguration"]})
    fs = plane.client("finspace")
    assert get(fs)["status"] == "RUNNING"
    with pytest.raises(ClientError) as err:
        fs.update_kx_cluster_code_configuration(
            environmentId=ENV_ID,
            clusterName="dev-gp",
            code={"s3Bucket": "kx-local-code", "s3Key": "seed/code.zip"},
        )
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    assert plane.admin("DELETE", "/_kxlocal/faults") == {"sequence": []}
    assert get(fs)["status"] == "RUNNING"


def test_bad_fault_plan_is_refused(plane):
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as err:
        plane.set_faults({"throttle": 3})
    assert err.value.code == 400 and "between 0 and 1" in err.value.read().decode()


def test_retry_after_a_lost_answer_does_not_deploy_twice(plane):
    version = plane.upload({"init.q": "a:1\n"})
    plane.set_faults({"sequence": ["drop_after"], "operations": ["UpdateKxClusterCodeConfiguration"]})
    fs = plane.client("finspace", attempts=3)  # botocore reuses the generated clientToken on its retry
    fs.update_kx_cluster_code_configuration(
        environmentId=ENV_ID,
        clusterName="dev-gp",
        initializationScript="init.q",
        code={"s3Bucket": "kx-local-code", "s3Key": "tests/code.zip", "s3ObjectVersion": version},
    )
    assert plane.wait_status("dev-gp", "RUNNING")["code"]["s3ObjectVersion"] == version
    counters = plane.counters()
    assert counters["requests"]["UpdateKxClusterCodeConfiguration"] == 2
    assert list(counters["appliedUpdates"].values()) == [1]
