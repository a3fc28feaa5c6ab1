"""Each FinSpace operation of the local plane, through boto3 against the real HTTP service."""

import http.client
import re
import socket
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from plane_fixtures import ENV_ID

KMS = "arn:aws:kms:us-east-1:123456789012:key/local"
ROLE = "arn:aws:iam::123456789012:role/kdb-user"
USER_ARN = "arn:aws:finspace:us-east-1:123456789012:kxEnvironment/kxlocaldev/kxUser/alice"
VPC = {
    "vpcId": "vpc-0abc1234",
    "securityGroupIds": ["sg-0abc1234"],
    "subnetIds": ["subnet-0abc1234"],
    "ipAddressType": "IP_V4",
}


def error_of(excinfo):
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"]["Message"]


def cluster_request(name, cluster_type="GP", nodes=1, **extra):
    return dict(
        environmentId=ENV_ID,
        clusterName=name,
        clusterType=cluster_type,
        releaseLabel="1.0",
        azMode="SINGLE",
        availabilityZoneId="use1-az1",
        vpcConfiguration=VPC,
        capacityConfiguration={"nodeType": "kx.s.large", "nodeCount": nodes},
        **extra,
    )


def test_seeded_environment_clusters_and_bucket(plane):
    c = plane.clients()
    envs = c.finspace.list_kx_environments()["environments"]
    assert [(e["environmentId"], e["name"]) for e in envs] == [("kxlocaldev", "local-dev")]
    clusters = {
        s["clusterName"]: s for s in c.finspace.list_kx_clusters(environmentId=ENV_ID)["kxClusterSummaries"]
    }
    assert {n: (s["clusterType"], s["status"]) for n, s in clusters.items()} == {
        "dev-gp": ("GP", "RUNNING"),
        "hdb-3": ("HDB", "RUNNING"),
    }
    hdb = c.finspace.get_kx_cluster(environmentId=ENV_ID, clusterName="hdb-3")
    assert hdb["capacityConfiguration"]["nodeCount"] == 3 and hdb["initializationScript"] == "init.q"
    assert hdb["code"]["s3Bucket"] == "kx-local-code"
    assert c.s3.get_bucket_versioning(Bucket="kx-local-code")["Status"] == "Enabled"
    assert c.s3.head_object(
        Bucket="kx-local-code", Key=hdb["code"]["s3Key"], VersionId=hdb["code"]["s3ObjectVersion"]
    )
    nodes = c.finspace.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="hdb-3")["nodes"]
    assert len(nodes) == 3 and all(n["status"] == "RUNNING" and n["launchTime"] for n in nodes)
    description = c.finspace.get_kx_environment(environmentId=ENV_ID)["description"]
    assert re.fullmatch(r"^[a-zA-Z0-9. ]{1,1000}$", description)  # the model's Description pattern


def test_timestamps_have_millisecond_precision(plane):
    fs = plane.clients().finspace
    fs.create_kx_cluster(**cluster_request("ms-gp"))
    stamps = [
        fs.get_kx_cluster(environmentId=ENV_ID, clusterName="ms-gp")["createdTimestamp"],
        fs.get_kx_environment(environmentId=ENV_ID)["creationTimestamp"],
    ]
    for stamp in stamps:
        assert stamp.microsecond % 1000 == 0
    assert any(stamp.microsecond for stamp in stamps)  # not truncated to whole seconds either


def test_environment_create_get_list_delete(plane):
    fs = plane.clients().finspace
    created = fs.create_kx_environment(name="research", kmsKeyId=KMS)
    env_id = created["environmentId"]
    assert fs.get_kx_environment(environmentId=env_id)["name"] == "research"
    first = fs.list_kx_environments(maxResults=1)
    assert len(first["environments"]) == 1 and first["nextToken"]
    second = fs.list_kx_environments(maxResults=1, nextToken=first["nextToken"])
    assert {first["environments"][0]["environmentId"], second["environments"][0]["environmentId"]} == {
        "kxlocaldev",
        env_id,
    }
    with pytest.raises(ClientError) as conflict:
        fs.delete_kx_environment(environmentId=ENV_ID)  # still has clusters
    assert error_of(conflict)[0] == "ConflictException"
    fs.delete_kx_environment(environmentId=env_id)
    with pytest.raises(ClientError) as gone:
        fs.get_kx_environment(environmentId=env_id)
    assert error_of(gone)[0] == "ResourceNotFoundException"


def test_create_cluster_goes_pending_then_running_for_every_type(plane):
    fs = plane.clients().finspace
    version = plane.upload({"init.q": "a:1\n"}, key="types/code.zip")
    code = {"s3Bucket": "kx-local-code", "s3Key": "types/code.zip", "s3ObjectVersion": version}
    for cluster_type in ("HDB", "RDB", "GATEWAY", "GP", "TICKERPLANT"):
        name = f"c-{cluster_type.lower()}"
        created = fs.create_kx_cluster(
            **cluster_request(
                name,
                cluster_type,
                nodes=2,
                code=code,
                initializationScript="init.q",
                commandLineArguments=[{"key": "role", "value": "x"}],
            )
        )
        assert created["status"] == "PENDING"
        nodes = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName=name)["nodes"]
        assert [n["status"] for n in nodes] == ["PROVISIONING", "PROVISIONING"]
    for cluster_type in ("HDB", "RDB", "GATEWAY", "GP", "TICKERPLANT"):
        got = plane.wait_status(f"c-{cluster_type.lower()}", "RUNNING", "CREATE_FAILED")
        assert (got["status"], got["clusterType"], got["commandLineArguments"]) == (
            "RUNNING",
            cluster_type,
            [{"key": "role", "value": "x"}],
        )
        nodes = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName=f"c-{cluster_type.lower()}")[
            "nodes"
        ]
        assert all(n["status"] == "RUNNING" and n["launchTime"] for n in nodes)
    gp_only = fs.list_kx_clusters(environmentId=ENV_ID, clusterType="GP")["kxClusterSummaries"]
    assert sorted(s["clusterName"] for s in gp_only) == ["c-gp", "dev-gp"]


def test_create_cluster_errors(plane):
    fs = plane.clients().finspace
    with pytest.raises(ClientError) as dupe:
        fs.create_kx_cluster(**cluster_request("dev-gp"))
    assert error_of(dupe)[0] == "ConflictException"
    with pytest.raises(ClientError) as missing_code:
        fs.create_kx_cluster(
            **cluster_request(
                "new-gp",
                code={"s3Bucket": "kx-local-code", "s3Key": "nope.zip"},
                initializationScript="init.q",
            )
        )
    assert error_of(missing_code) == (
        "ValidationException",
        "code.s3Key: object nope.zip does not exist in bucket kx-local-code",
    )
    with pytest.raises(ClientError) as no_env:
        fs.create_kx_cluster(**{**cluster_request("new-gp"), "environmentId": "nosuchenv"})
    assert error_of(no_env)[0] == "ResourceNotFoundException"


def test_delete_cluster(plane):
    fs = plane.clients().finspace
    fs.delete_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp")
    assert fs.get_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp")["status"] == "DELETING"
    with pytest.raises(ClientError) as busy:
        fs.update_kx_cluster_code_configuration(
            environmentId=ENV_ID,
            clusterName="dev-gp",
            code={"s3Bucket": "kx-local-code", "s3Key": "seed/code.zip"},
        )
    assert error_of(busy)[0] == "ConflictException"
    with pytest.raises(ClientError) as gone:
        plane.wait_status("dev-gp", "DELETED")
    assert error_of(gone)[0] == "ResourceNotFoundException"


def test_list_nodes_paginates_with_next_token(plane):
    fs = plane.clients().finspace
    seen, token = [], None
    for _ in range(5):
        kwargs = {"nextToken": token} if token else {}
        page = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="hdb-3", maxResults=1, **kwargs)
        assert len(page["nodes"]) == 1
        seen.append(page["nodes"][0]["nodeId"])
        token = page.get("nextToken")
        if not token:
            break
    everything = [
        n["nodeId"] for n in fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="hdb-3")["nodes"]
    ]
    assert seen == everything and len(seen) == 3
    with pytest.raises(ClientError) as bad:
        fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="hdb-3", nextToken="not-a-token")
    assert error_of(bad)[0] == "ValidationException" and "nextToken" in error_of(bad)[1]
    for call in (
        lambda: fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="hdb-3", maxResults=0),
        lambda: fs.list_kx_clusters(environmentId=ENV_ID, maxResults=0),
        lambda: fs.list_kx_environments(maxResults=0),
    ):
        with pytest.raises(ClientError) as zero:
            call()
        assert error_of(zero) == ("ValidationException", "maxResults: must be at least 1")


def test_delete_node_replaces_it(plane):
    fs = plane.clients().finspace
    before = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="hdb-3")["nodes"]
    victim = before[1]["nodeId"]
    fs.delete_kx_cluster_node(environmentId=ENV_ID, clusterName="hdb-3", nodeId=victim)
    after = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="hdb-3")["nodes"]
    assert victim not in [n["nodeId"] for n in after] and len(after) == 3
    assert after[1]["status"] == "PROVISIONING"
    with pytest.raises(ClientError) as busy:
        fs.update_kx_cluster_code_configuration(
            environmentId=ENV_ID,
            clusterName="hdb-3",
            code={"s3Bucket": "kx-local-code", "s3Key": "seed/code.zip"},
        )
    assert busy.value.response["reason"] == "node replacement in progress"
    with pytest.raises(ClientError) as unknown:
        fs.delete_kx_cluster_node(environmentId=ENV_ID, clusterName="hdb-3", nodeId=victim)
    assert error_of(unknown)[0] == "ResourceNotFoundException"
    for _ in range(200):
        nodes = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="hdb-3")["nodes"]
        if all(n["status"] == "RUNNING" for n in nodes):
            break
    assert (
        nodes[1]["nodeId"] == after[1]["nodeId"]
        and nodes[1]["status"] == "RUNNING"
        and nodes[1]["launchTime"]
    )


def test_unknown_cluster_and_environment(plane):
    fs = plane.clients().finspace
    for call in (
        lambda: fs.get_kx_cluster(environmentId=ENV_ID, clusterName="nope"),
        lambda: fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="nope"),
        lambda: fs.list_kx_clusters(environmentId="nosuchenv"),
        lambda: fs.get_kx_environment(environmentId="nosuchenv"),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert error_of(err)[0] == "ResourceNotFoundException"


def test_validation_names_the_field(plane):
    fs = plane.clients().finspace
    with pytest.raises(ClientError) as pattern:  # botocore does not check patterns; the plane does
        fs.get_kx_cluster(environmentId=ENV_ID, clusterName="ABC!")
    code, message = error_of(pattern)
    assert code == "ValidationException" and message.startswith("clusterName:")
    unchecked = plane.clients()._session.client(
        "finspace",
        endpoint_url=plane.info.endpoint,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as enum:
        unchecked.update_kx_cluster_code_configuration(
            environmentId=ENV_ID,
            clusterName="dev-gp",
            code={"s3Bucket": "kx-local-code", "s3Key": "seed/code.zip"},
            deploymentConfiguration={"deploymentStrategy": "SOMETIMES"},
        )
    assert (
        error_of(enum)[0] == "ValidationException"
        and "deploymentConfiguration.deploymentStrategy" in error_of(enum)[1]
    )
    with pytest.raises(ClientError) as arg_key:
        fs.update_kx_cluster_code_configuration(
            environmentId=ENV_ID,
            clusterName="dev-gp",
            code={"s3Bucket": "kx-local-code", "s3Key": "seed/code.zip"},
            commandLineArguments=[{"key": "awsThing", "value": "1"}],
        )
    assert "commandLineArguments[0].key" in error_of(arg_key)[1]


def test_unsupported_operations_answer_an_error_they_declare(plane):
    fs = plane.clients().finspace
    for name, call in (
        ("ListKxDatabases", lambda: fs.list_kx_databases(environmentId=ENV_ID)),
        ("GetKxVolume", lambda: fs.get_kx_volume(environmentId=ENV_ID, volumeName="vol1")),
    ):
        with pytest.raises(ClientError) as err:
            call()
        code, message = error_of(err)
        declared = {e.name for e in fs.meta.service_model.operation_model(name).error_shapes}
        assert code in declared and f"{name} is not supported by the local plane" in message
        assert isinstance(err.value, fs.exceptions.ValidationException)


def test_users_create_get_list_delete(plane):
    fs = plane.clients().finspace
    created = fs.create_kx_user(environmentId=ENV_ID, userName="alice", iamRole=ROLE)
    assert (created["userArn"], created["iamRole"]) == (USER_ARN, ROLE)
    fs.create_kx_user(environmentId=ENV_ID, userName="bob", iamRole=ROLE)
    assert fs.get_kx_user(environmentId=ENV_ID, userName="alice")["userArn"] == USER_ARN
    first = fs.list_kx_users(environmentId=ENV_ID, maxResults=1)
    rest = fs.list_kx_users(environmentId=ENV_ID, nextToken=first["nextToken"])
    assert [u["userName"] for u in first["users"] + rest["users"]] == ["alice", "bob"]
    with pytest.raises(ClientError) as taken:
        fs.create_kx_user(environmentId=ENV_ID, userName="alice", iamRole=ROLE)
    assert error_of(taken)[0] == "ConflictException"
    fs.delete_kx_user(environmentId=ENV_ID, userName="alice")
    with pytest.raises(fs.exceptions.ResourceNotFoundException):
        fs.get_kx_user(environmentId=ENV_ID, userName="alice")


def test_tags_of_environments_clusters_and_users(plane):
    fs = plane.clients().finspace
    env_arn = fs.get_kx_environment(environmentId=ENV_ID)["environmentArn"]
    user_arn = fs.create_kx_user(
        environmentId=ENV_ID, userName="alice", iamRole=ROLE, tags={"team": "rates"}
    )["userArn"]
    cluster_arn = f"{env_arn}/kxCluster/dev-gp"
    for arn in (env_arn, cluster_arn, user_arn):
        fs.tag_resource(resourceArn=arn, tags={"owner": "quant", "stage": "dev"})
        fs.untag_resource(resourceArn=arn, tagKeys=["stage"])
    assert fs.list_tags_for_resource(resourceArn=env_arn)["tags"] == {"owner": "quant"}
    assert fs.list_tags_for_resource(resourceArn=cluster_arn)["tags"] == {"owner": "quant"}
    assert fs.list_tags_for_resource(resourceArn=user_arn)["tags"] == {"team": "rates", "owner": "quant"}
    fs.create_kx_cluster(**cluster_request("tagged-gp", tags={"cost": "a1"}))
    assert fs.list_tags_for_resource(resourceArn=f"{env_arn}/kxCluster/tagged-gp")["tags"] == {"cost": "a1"}
    with pytest.raises(fs.exceptions.ResourceNotFoundException):
        fs.list_tags_for_resource(resourceArn=f"{env_arn}/kxCluster/nope")
    with pytest.raises(fs.exceptions.InvalidRequestException) as bad:  # what the tagging operations declare
        fs.tag_resource(resourceArn=env_arn, tags={"aws:owner": "x"})
    assert "tags key" in error_of(bad)[1]


def test_keep_alive_serves_requests_on_one_connection(plane):
    conn = http.client.HTTPConnection(plane.info.endpoint.split("//")[1], timeout=10)
    sockets = []
    try:
        for path in (
            "/_kxlocal/health",
            "/kx/environments",
            "/_kxlocal/health",
        ):  # the unsigned one gets its 403
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            assert response.status in (200, 403) and not response.will_close
            sockets.append(conn.sock)
    finally:
        conn.close()
    assert sockets[0] is not None and sockets.count(sockets[0]) == 3  # one connection carried all three


def test_connection_string_without_q_explains_why(plane):
    fs = plane.clients().finspace
    with pytest.raises(
        fs.exceptions.ResourceNotFoundException
    ):  # the service signs for an existing user only
        fs.get_kx_connection_string(environmentId=ENV_ID, clusterName="dev-gp", userArn=USER_ARN)
    fs.create_kx_user(environmentId=ENV_ID, userName="alice", iamRole=ROLE)
    with pytest.raises(ClientError) as err:
        fs.get_kx_connection_string(environmentId=ENV_ID, clusterName="dev-gp", userArn=USER_ARN)
    assert error_of(err)[0] == "ConflictException" and "q binary" in error_of(err)[1]


def test_connection_string_reaches_the_q_process(q_plane):
    fs = q_plane.clients().finspace
    fs.create_kx_user(environmentId=ENV_ID, userName="alice", iamRole=ROLE)
    for _ in range(300):  # right after start the seeded nodes' q processes may still be starting
        try:
            text = fs.get_kx_connection_string(environmentId=ENV_ID, clusterName="dev-gp", userArn=USER_ARN)[
                "signedConnectionString"
            ]
            break
        except ClientError as exc:
            assert exc.response.get("reason") == "nodes starting"
            time.sleep(0.05)
    assert text.startswith(":tcps://")
    host, port, user, token = text.split(":")[2:6]  # as AWS's published helper reads it
    host = host.strip("/")
    assert user == "alice" and token
    with socket.create_connection((host, int(port)), timeout=5) as conn:  # q IPC handshake
        conn.sendall(b"alice:\x03\x00")
        assert conn.recv(1) == b"\x03"


def test_create_with_failing_code_ends_create_failed(plane):
    fs = plane.clients().finspace
    version = plane.upload({"lib.q": "x:1\n"}, key="nocode/code.zip")
    fs.create_kx_cluster(
        **cluster_request(
            "broken-gp",
            code={"s3Bucket": "kx-local-code", "s3Key": "nocode/code.zip", "s3ObjectVersion": version},
            initializationScript="init.q",
        )
    )
    failed = plane.wait_status("broken-gp", "CREATE_FAILED", "RUNNING")
    assert (
        failed["status"] == "CREATE_FAILED" and "init.q is not in the code bundle" in failed["statusReason"]
    )
    fs.delete_kx_cluster(environmentId=ENV_ID, clusterName="broken-gp")
