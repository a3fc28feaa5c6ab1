"""Each FinSpace operation of the local plane, through boto3 against the real HTTP service."""

import socket
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from plane_fixtures import ENV_ID

KMS = "arn:aws:kms:us-east-1:123456789012:key/local"
VPC = {"vpcId": "vpc-0abc1234", "securityGroupIds": ["sg-0abc1234"], "subnetIds": ["subnet-0abc1234"], "ipAddressType": "IP_V4"}


def error_of(excinfo):
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"]["Message"]


def cluster_request(name, cluster_type="GP", nodes=1, **extra):
    return dict(
        environmentId=ENV_ID, clusterName=name, clusterType=cluster_type, releaseLabel="1.0", azMode="SINGLE",
        availabilityZoneId="use1-az1", vpcConfiguration=VPC,
        capacityConfiguration={"nodeType": "kx.s.large", "nodeCount": nodes}, **extra,
    )


def test_seeded_environment_clusters_and_bucket(plane):
    c = plane.clients()
    envs = c.finspace.list_kx_environments()["environments"]
    assert [(e["environmentId"], e["name"]) for e in envs] == [("kxlocaldev", "local-dev")]
    clusters = {s["clusterName"]: s for s in c.finspace.list_kx_clusters(environmentId=ENV_ID)["kxClusterSummaries"]}
    assert {n: (s["clusterType"], s["status"]) for n, s in clusters.items()} == {"dev-gp": ("GP", "RUNNING"), "hdb-3": ("HDB", "RUNNING")}
    hdb = c.finspace.get_kx_cluster(environmentId=ENV_ID, clusterName="hdb-3")
    assert hdb["capacityConfiguration"]["nodeCount"] == 3 and hdb["initializationScript"] == "init.q"
    assert hdb["code"]["s3Bucket"] == "kx-local-code"
    assert c.s3.get_bucket_versioning(Bucket="kx-local-code")["Status"] == "Enabled"
    assert c.s3.head_object(Bucket="kx-local-code", Key=hdb["code"]["s3Key"], VersionId=hdb["code"]["s3ObjectVersion"])
    nodes = c.finspace.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="hdb-3")["nodes"]
    assert len(nodes) == 3 and all(n["status"] == "RUNNING" and n["launchTime"] for n in nodes)


def test_environment_create_get_list_delete(plane):
    fs = plane.clients().finspace
    created = fs.create_kx_environment(name="research", kmsKeyId=KMS)
    env_id = created["environmentId"]
    assert fs.get_kx_environment(environmentId=env_id)["name"] == "research"
    first = fs.list_kx_environments(maxResults=1)
    assert len(first["environments"]) == 1 and first["nextToken"]
    second = fs.list_kx_environments(maxResults=1, nextToken=first["nextToken"])
    assert {first["environments"][0]["environmentId"], second["environments"][0]["environmentId"]} == {"kxlocaldev", env_id}
    with pytest.raises(ClientError) as conflict:
        fs.delete_kx_environment(environmentId=ENV_ID)  # still has clusters
    assert error_of(conflict)[0] == "ConflictException"
    fs.delete_kx_environment(environmentId=env_id)
    with pytest.raises(ClientError) as gone:
        fs.get_kx_environment(environmentId=env_id)
    assert error_of(gone)[0] == "ResourceNotFoundException"


def test_create_cluster_goes_creating_then_running_for_every_type(plane):
    fs = plane.clients().finspace
    version = plane.upload({"init.q": "a:1\n"}, key="types/code.zip")
    code = {"s3Bucket": "kx-local-code", "s3Key": "types/code.zip", "s3ObjectVersion": version}
    for cluster_type in ("HDB", "RDB", "GATEWAY", "GP", "TICKERPLANT"):
        name = f"c-{cluster_type.lower()}"
        created = fs.create_kx_cluster(**cluster_request(name, cluster_type, nodes=2, code=code, initializationScript="init.q",
                                                         commandLineArguments=[{"key": "role", "value": "x"}]))
        assert created["status"] == "CREATING"
        nodes = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName=name)["nodes"]
        assert [n["status"] for n in nodes] == ["PROVISIONING", "PROVISIONING"]
    for cluster_type in ("HDB", "RDB", "GATEWAY", "GP", "TICKERPLANT"):
        got = plane.wait_status(f"c-{cluster_type.lower()}", "RUNNING", "CREATE_FAILED")
        assert (got["status"], got["clusterType"], got["commandLineArguments"]) == ("RUNNING", cluster_type, [{"key": "role", "value": "x"}])
        nodes = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName=f"c-{cluster_type.lower()}")["nodes"]
        assert all(n["status"] == "RUNNING" and n["launchTime"] for n in nodes)
    gp_only = fs.list_kx_clusters(environmentId=ENV_ID, clusterType="GP")["kxClusterSummaries"]
    assert sorted(s["clusterName"] for s in gp_only) == ["c-gp", "dev-gp"]


def test_create_cluster_errors(plane):
    fs = plane.clients().finspace
    with pytest.raises(ClientError) as dupe:
        fs.create_kx_cluster(**cluster_request("dev-gp"))
    assert error_of(dupe)[0] == "ConflictException"
    with pytest.raises(ClientError) as missing_code:
        fs.create_kx_cluster(**cluster_request("new-gp", code={"s3Bucket": "kx-local-code", "s3Key": "nope.zip"}, initializationScript="init.q"))
    assert error_of(missing_code) == ("ValidationException", "code.s3Key: object nope.zip does not exist in bucket kx-local-code")
    with pytest.raises(ClientError) as no_env:
        fs.create_kx_cluster(**{**cluster_request("new-gp"), "environmentId": "nosuchenv"})
    assert error_of(no_env)[0] == "ResourceNotFoundException"


def test_delete_cluster(plane):
    fs = plane.clients().finspace
    fs.delete_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp")
    assert fs.get_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp")["status"] == "DELETING"
    with pytest.raises(ClientError) as busy:
        fs.update_kx_cluster_code_configuration(
            environmentId=ENV_ID, clusterName="dev-gp", code={"s3Bucket": "kx-local-code", "s3Key": "seed/code.zip"})
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
    everything = [n["nodeId"] for n in fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="hdb-3")["nodes"]]
    assert seen == everything and len(seen) == 3
    with pytest.raises(ClientError) as bad:
        fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="hdb-3", nextToken="not-a-token")
    assert error_of(bad)[0] == "ValidationException" and "nextToken" in error_of(bad)[1]


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
            environmentId=ENV_ID, clusterName="hdb-3", code={"s3Bucket": "kx-local-code", "s3Key": "seed/code.zip"})
    assert busy.value.response["reason"] == "node replacement in progress"
    with pytest.raises(ClientError) as unknown:
        fs.delete_kx_cluster_node(environmentId=ENV_ID, clusterName="hdb-3", nodeId=victim)
    assert error_of(unknown)[0] == "ResourceNotFoundException"
    for _ in range(200):
        nodes = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="hdb-3")["nodes"]
        if all(n["status"] == "RUNNING" for n in nodes):
            break
    assert nodes[1]["nodeId"] == after[1]["nodeId"] and nodes[1]["status"] == "RUNNING" and nodes[1]["launchTime"]


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
        "finspace", endpoint_url=plane.info.endpoint, config=Config(parameter_validation=False, retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as enum:
        unchecked.update_kx_cluster_code_configuration(
            environmentId=ENV_ID, clusterName="dev-gp", code={"s3Bucket": "kx-local-code", "s3Key": "seed/code.zip"},
            deploymentConfiguration={"deploymentStrategy": "SOMETIMES"})
    assert error_of(enum)[0] == "ValidationException" and "deploymentConfiguration.deploymentStrategy" in error_of(enum)[1]
    with pytest.raises(ClientError) as arg_key:
        fs.update_kx_cluster_code_configuration(
            environmentId=ENV_ID, clusterName="dev-gp", code={"s3Bucket": "kx-local-code", "s3Key": "seed/code.zip"},
            commandLineArguments=[{"key": "awsThing", "value": "1"}])
    assert "commandLineArguments[0].key" in error_of(arg_key)[1]


def test_unsupported_operation_says_so(plane):
    with pytest.raises(ClientError) as err:
        plane.clients().finspace.list_kx_databases(environmentId=ENV_ID)
    code, message = error_of(err)
    assert code == "ValidationException" and "does not support ListKxDatabases" in message


def test_connection_string_without_q_explains_why(plane):
    with pytest.raises(ClientError) as err:
        plane.clients().finspace.get_kx_connection_string(
            environmentId=ENV_ID, clusterName="dev-gp", userArn="arn:aws:finspace:us-east-1:123456789012:kxEnvironment/kxlocaldev/kxUser/alice")
    assert error_of(err)[0] == "ConflictException" and "q binary" in error_of(err)[1]


def test_connection_string_reaches_the_q_process(q_plane):
    fs = q_plane.clients().finspace
    for _ in range(300):  # right after start the seeded nodes' q processes may still be starting
        try:
            text = fs.get_kx_connection_string(
                environmentId=ENV_ID, clusterName="dev-gp",
                userArn="arn:aws:finspace:us-east-1:123456789012:kxEnvironment/kxlocaldev/kxUser/alice")["signedConnectionString"]
            break
        except ClientError as exc:
            assert exc.response.get("reason") == "nodes starting"
            time.sleep(0.05)
    host, port = text.split(":")[1:3]
    with socket.create_connection((host, int(port)), timeout=5) as conn:  # q IPC handshake
        conn.sendall(b"alice:\x03\x00")
        assert conn.recv(1) == b"\x03"


def test_create_with_failing_code_ends_create_failed(plane):
    fs = plane.clients().finspace
    version = plane.upload({"lib.q": "x:1\n"}, key="nocode/code.zip")
    fs.create_kx_cluster(**cluster_request("broken-gp", code={"s3Bucket": "kx-local-code", "s3Key": "nocode/code.zip",
                                                              "s3ObjectVersion": version}, initializationScript="init.q"))
    failed = plane.wait_status("broken-gp", "CREATE_FAILED", "RUNNING")
    assert failed["status"] == "CREATE_FAILED" and "init.q is not in the code bundle" in failed["statusReason"]
    fs.delete_kx_cluster(environmentId=ENV_ID, clusterName="broken-gp")
