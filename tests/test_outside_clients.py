"""The local plane driven only the way clients this project did not write drive it.

Each script below is a plain boto3 program in the shape of AWS's published Managed kdb
examples (module-level client, an update call, a hand-written loop polling GetKxCluster),
run as a subprocess in a shell whose only AWS settings are what `kx-jupyter local env`
exports, as a user would run it. The AWS CLI and a profile-based script get the same.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from plane_fixtures import CODE_BUCKET, ENV_ID, make_zip, plane_in

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
NODE_SECONDS = 1.0  # long enough for a polling script to see every status a cluster passes through

WAIT_HELPER = '''
def wait_for_cluster_status(client, environment_id, cluster_name, wanted, seen):
    """Poll GetKxCluster until the cluster reaches one of ``wanted``; record each status seen."""
    while True:
        try:
            status = client.get_kx_cluster(environmentId=environment_id, clusterName=cluster_name)["status"]
        except client.exceptions.ResourceNotFoundException:
            status = "NOT_FOUND"
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in wanted or status.endswith("FAILED"):
            return status
        time.sleep(0.1)
'''

NO_RESTART_SCRIPT = (
    """
import json, sys, time
import boto3
"""
    + WAIT_HELPER
    + """
environment_id, cluster_name, zip_path, bucket, key = sys.argv[1:6]
s3 = boto3.client("s3")
s3.upload_file(zip_path, bucket, key)
client = boto3.client("finspace")
client.update_kx_cluster_code_configuration(
    environmentId=environment_id, clusterName=cluster_name,
    code={"s3Bucket": bucket, "s3Key": key},
    deploymentConfiguration={"deploymentStrategy": "NO_RESTART"},
)
seen = []
wait_for_cluster_status(client, environment_id, cluster_name, ("RUNNING",), seen)
cluster = client.get_kx_cluster(environmentId=environment_id, clusterName=cluster_name)
print(json.dumps({"seen": seen, "cluster": cluster}, default=str))
"""
)

ROLLING_SCRIPT = (
    """
import json, sys, time
import boto3
"""
    + WAIT_HELPER
    + """
environment_id, cluster_name, bucket, key = sys.argv[1:5]
client = boto3.client("finspace")
cluster = client.get_kx_cluster(environmentId=environment_id, clusterName=cluster_name)
client.update_kx_cluster_code_configuration(
    environmentId=environment_id, clusterName=cluster_name,
    code={"s3Bucket": bucket, "s3Key": key},
    initializationScript=cluster["initializationScript"],
    commandLineArguments=[
        {"key": "s", "value": "2"}, {"key": "g", "value": "1"}, {"key": "tp", "value": "tp1:5010"},
        {"key": "procName", "value": "rdb1"}, {"key": "AWS_ZIP_DEFAULT", "value": "17,2,6"},
    ],
    deploymentConfiguration={"deploymentStrategy": "ROLLING"},
)
seen = []
wait_for_cluster_status(client, environment_id, cluster_name, ("RUNNING",), seen)
cluster = client.get_kx_cluster(environmentId=environment_id, clusterName=cluster_name)
print(json.dumps({"seen": seen, "cluster": cluster}, default=str))
"""
)

LIFECYCLE_SCRIPT = (
    """
import json, sys, time
import boto3
"""
    + WAIT_HELPER
    + """
environment_id, cluster_name, bucket, key, new_key = sys.argv[1:6]
client = boto3.client("finspace")
created = client.create_kx_cluster(
    environmentId=environment_id, clusterName=cluster_name, clusterType="GP", releaseLabel="1.0",
    azMode="SINGLE", availabilityZoneId="use1-az1",
    capacityConfiguration={"nodeType": "kx.s.large", "nodeCount": 1},
    vpcConfiguration={"vpcId": "vpc-0abc1234", "securityGroupIds": ["sg-0abc1234"],
                      "subnetIds": ["subnet-0abc1234"], "ipAddressType": "IP_V4"},
    code={"s3Bucket": bucket, "s3Key": key}, initializationScript="init.q",
    commandLineArguments=[{"key": "procName", "value": "gp1"}],
)
flow = {"create": [created["status"]], "update": [], "delete": []}
wait_for_cluster_status(client, environment_id, cluster_name, ("RUNNING",), flow["create"])
client.update_kx_cluster_code_configuration(
    environmentId=environment_id, clusterName=cluster_name, code={"s3Bucket": bucket, "s3Key": new_key},
    initializationScript="init.q", commandLineArguments=[{"key": "procName", "value": "gp1"}],
    deploymentConfiguration={"deploymentStrategy": "FORCE"},
)
wait_for_cluster_status(client, environment_id, cluster_name, ("RUNNING",), flow["update"])
client.delete_kx_cluster(environmentId=environment_id, clusterName=cluster_name)
wait_for_cluster_status(client, environment_id, cluster_name, ("NOT_FOUND",), flow["delete"])
print(json.dumps(flow))
"""
)

PROFILE_SCRIPT = """
import json
import boto3
session = boto3.Session(profile_name="default")
client = session.client("finspace")
clusters = client.list_kx_clusters(environmentId="kxlocaldev")["kxClusterSummaries"]
objects = session.client("s3").list_objects_v2(Bucket="kx-local-code")["Contents"]
print(json.dumps({"clusters": sorted(c["clusterName"] for c in clusters), "keys": [o["Key"] for o in objects],
                  "region": session.region_name}))
"""


@pytest.fixture
def outside_plane(tmp_path, monkeypatch):
    from kx_jupyter.finspace.model import DATA_PATH

    monkeypatch.setenv("AWS_DATA_PATH", str(DATA_PATH))  # for this process's plain boto3 clients, as exported
    with plane_in(tmp_path, monkeypatch, node_start_seconds=NODE_SECONDS) as running:
        yield running


def user_shell_env(home: Path) -> dict[str, str]:
    """A user's shell: no AWS settings of its own (a real-looking ~/.aws that must not be used), the
    venv's commands first on PATH, and the kx-jupyter home of the plane under test."""
    aws = home / ".aws"
    aws.mkdir(parents=True, exist_ok=True)
    (aws / "config").write_text("[default]\nregion = eu-west-1\n")
    (aws / "credentials").write_text(
        "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = not-the-plane-secret\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(home), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    return env


def run(command: str, env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    return done


def run_script(
    tmp_path: Path, source: str, *args: str, env: dict, setup: str = 'eval "$(kx-jupyter local env)"'
) -> dict:
    script = tmp_path / "script.py"
    script.write_text(source)
    line = " ".join(shlex.quote(a) for a in (sys.executable, str(script), *args))
    return json.loads(run(f"{setup} && {line}", env).stdout.strip().splitlines()[-1])


def published_client(plane, service: str):
    """A plain boto3 client with what `kx-jupyter local env` exports (keys, endpoint, AWS_DATA_PATH set by
    the fixture below); no kx-jupyter code is in its path."""
    info = plane.info
    return boto3.Session(
        aws_access_key_id=info.access_key, aws_secret_access_key=info.secret_key, region_name=info.region
    ).client(
        service,
        endpoint_url=info.endpoint,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def test_no_restart_in_the_published_shape_keeps_the_init_script(outside_plane, tmp_path):
    zip_path = tmp_path / "code.zip"
    zip_path.write_bytes(make_zip({"init.q": "/ same init\n", "lib.q": "f:{x+1}\n"}))
    out = run_script(
        tmp_path,
        NO_RESTART_SCRIPT,
        ENV_ID,
        "dev-gp",
        str(zip_path),
        CODE_BUCKET,
        "app/code-2.zip",
        env=user_shell_env(tmp_path / "user"),
    )
    cluster = out["cluster"]
    assert out["seen"] == ["UPDATING", "RUNNING"] and not cluster.get("statusReason")
    assert cluster["code"]["s3Key"] == "app/code-2.zip"
    assert cluster["initializationScript"] == "init.q"  # left out of the request, kept by the cluster
    assert "commandLineArguments" not in cluster or cluster["commandLineArguments"] == []


def test_rolling_with_single_letter_keys_as_the_basic_tick_example_ran(outside_plane, tmp_path):
    outside_plane.upload({"init.q": "x:1\n"}, key="tick/code.zip")
    out = run_script(
        tmp_path,
        ROLLING_SCRIPT,
        ENV_ID,
        "hdb-3",
        CODE_BUCKET,
        "tick/code.zip",
        env=user_shell_env(tmp_path / "user"),
    )
    cluster = out["cluster"]
    assert out["seen"][-1] == "RUNNING" and not cluster.get("statusReason")
    assert {a["key"]: a["value"] for a in cluster["commandLineArguments"]} == {
        "s": "2",
        "g": "1",
        "tp": "tp1:5010",
        "procName": "rdb1",
        "AWS_ZIP_DEFAULT": "17,2,6",
    }
    assert cluster["code"]["s3Key"] == "tick/code.zip"


def test_create_update_delete_with_its_own_waiter_loop(outside_plane, tmp_path):
    outside_plane.upload({"init.q": "a:1\n"}, key="flow/v1.zip")
    outside_plane.upload({"init.q": "a:2\n"}, key="flow/v2.zip")
    flow = run_script(
        tmp_path,
        LIFECYCLE_SCRIPT,
        ENV_ID,
        "flow-gp",
        CODE_BUCKET,
        "flow/v1.zip",
        "flow/v2.zip",
        env=user_shell_env(tmp_path / "user"),
    )
    assert flow["create"] == ["PENDING", "CREATING", "RUNNING"]
    assert flow["update"] == ["UPDATING", "RUNNING"]
    assert flow["delete"] == ["DELETING", "NOT_FOUND"]


def test_aws_cli_with_only_the_exported_environment(outside_plane, tmp_path):
    env = user_shell_env(tmp_path / "user")
    clusters = json.loads(
        run(
            'eval "$(kx-jupyter local env)" && aws finspace list-kx-clusters '
            f"--environment-id {ENV_ID} --output json",
            env,
        ).stdout
    )
    assert sorted(c["clusterName"] for c in clusters["kxClusterSummaries"]) == ["dev-gp", "hdb-3"]
    env_arn = f"arn:aws:finspace:us-east-1:123456789012:kxEnvironment/{ENV_ID}"
    tags = json.loads(
        run(
            f'eval "$(kx-jupyter local env)" && aws finspace tag-resource --resource-arn {env_arn} '
            f"--tags team=rates && aws finspace list-tags-for-resource --resource-arn {env_arn}",
            env,
        ).stdout
    )
    assert tags == {"tags": {"team": "rates"}}
    versions = json.loads(
        run(
            'eval "$(kx-jupyter local env)" && aws s3api list-object-versions '
            f"--bucket {CODE_BUCKET} --output json",
            env,
        ).stdout
    )
    assert [v["Key"] for v in versions["Versions"]] == ["seed/code.zip"]
    refused = subprocess.run(
        [
            "bash",
            "-c",
            'eval "$(kx-jupyter local env)" && aws finspace get-kx-cluster '
            f"--environment-id {ENV_ID} --cluster-name 'ABC!'",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert (
        refused.returncode != 0
        and "ValidationException" in refused.stderr
        and "clusterName" in refused.stderr
    )


def test_profile_based_script_with_a_written_profile(outside_plane, tmp_path):
    env = user_shell_env(tmp_path / "user")
    profile_dir = tmp_path / "plane-profile"
    profile_dir.mkdir()
    (profile_dir / "config").write_text(
        "# my notes\n[profile prod]\nregion = eu-west-1\n\n[default]\nregion = old\n"
    )
    out = run_script(
        tmp_path,
        PROFILE_SCRIPT,
        env=env,
        setup=f'eval "$(kx-jupyter local env --profile default --write {shlex.quote(str(profile_dir))})"',
    )
    assert out == {"clusters": ["dev-gp", "hdb-3"], "keys": ["seed/code.zip"], "region": "us-east-1"}
    assert {p.name: p.stat().st_mode & 0o777 for p in profile_dir.iterdir()} == {
        "config": 0o600,
        "credentials": 0o600,
    }
    config = (
        profile_dir / "config"
    ).read_text()  # other profiles and notes are kept; the old default is replaced
    assert (
        config.startswith("# my notes\n[profile prod]\nregion = eu-west-1\n") and "region = old" not in config
    )
    for wrong, says in (
        (["--write", str(profile_dir)], "--write needs --profile NAME"),
        (["--profile", "my profile"], "not usable in an AWS config file"),
    ):
        refused = subprocess.run(
            ["kx-jupyter", "local", "env", *wrong], env=env, capture_output=True, text=True
        )
        assert (
            refused.returncode == 2
            and says in refused.stderr.splitlines()[0]
            and "Traceback" not in refused.stderr
        )


MALFORMED = {  # (what a script sends, the field the 400 names)
    "argument with a key and no value": (
        {"commandLineArguments": [{"key": "g"}]},
        "commandLineArguments[0].value",
    ),
    "argument with no key": ({"commandLineArguments": [{"value": "1"}]}, "commandLineArguments[0].key"),
    "code with only s3Bucket": ({"code": {"s3Bucket": CODE_BUCKET}}, "code.s3Key"),
    "code with only s3Key": ({"code": {"s3Key": "seed/code.zip"}}, "code.s3Bucket"),
    "empty code": ({"code": {}}, "code.s3Bucket"),
    "NO_RESTART with a value-less argument": (
        {
            "commandLineArguments": [{"key": "role"}],
            "deploymentConfiguration": {"deploymentStrategy": "NO_RESTART"},
        },
        "commandLineArguments[0].value",
    ),
}


def test_every_malformed_request_is_a_400_while_another_update_completes(outside_plane):
    fs, s3 = published_client(outside_plane, "finspace"), published_client(outside_plane, "s3")
    version = s3.put_object(Bucket=CODE_BUCKET, Key="good/code.zip", Body=make_zip({"init.q": "ok:1\n"}))[
        "VersionId"
    ]
    good = {"s3Bucket": CODE_BUCKET, "s3Key": "good/code.zip", "s3ObjectVersion": version}
    fs.update_kx_cluster_code_configuration(
        environmentId=ENV_ID,
        clusterName="hdb-3",
        code=good,
        initializationScript="init.q",
        deploymentConfiguration={"deploymentStrategy": "FORCE"},
    )
    for what, (request, field) in MALFORMED.items():
        params = {
            "environmentId": ENV_ID,
            "clusterName": "dev-gp",
            "code": {"s3Bucket": CODE_BUCKET, "s3Key": "seed/code.zip"},
            "initializationScript": "init.q",
            **request,
        }
        with pytest.raises(ClientError) as refused:
            fs.update_kx_cluster_code_configuration(**params)
        error = refused.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400, what
        assert error["Error"]["Code"] == "ValidationException" and error["Error"]["Message"].startswith(
            f"{field}:"
        ), what
    with pytest.raises(ClientError) as create:
        fs.create_kx_cluster(
            environmentId=ENV_ID,
            clusterName="bad-gp",
            clusterType="GP",
            releaseLabel="1.0",
            azMode="SINGLE",
            vpcConfiguration={"vpcId": "vpc-0abc1234"},
            commandLineArguments=[{"key": "g"}],
        )
    assert create.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    hdb = outside_plane.wait_status("hdb-3", "RUNNING", timeout=60)
    assert hdb["status"] == "RUNNING" and hdb["code"] == good and not hdb.get("statusReason")
    assert fs.get_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp")["status"] == "RUNNING"
