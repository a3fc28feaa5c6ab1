"""Pieces of the engine that need no control plane: history, verdicts, diff, error messages (the watch's
steps and poll policy: test_deploy_watch.py)."""

import re
from datetime import datetime, timezone

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from kx_jupyter.config import KxJupyter
from kx_jupyter.deploy.aws_errors import outcome_unknown, translate
from kx_jupyter.deploy.diff import compare
from kx_jupyter.deploy.history import FAILED, IN_PROGRESS, SUCCEEDED, History
from kx_jupyter.deploy.watch import judge, running_since, took_update

# -- verdicts
CODE = {"s3Bucket": "b", "s3Key": "k/new.zip", "s3ObjectVersion": "v2"}
OLD = {"s3Bucket": "b", "s3Key": "k/old.zip", "s3ObjectVersion": "v1"}
T0 = 1_000_000.0


def cluster(status, code=CODE, reason="", modified=T0 - 100):
    return {
        "status": status,
        "code": code,
        "statusReason": reason,
        "lastModifiedTimestamp": datetime.fromtimestamp(modified, timezone.utc),
    }


def test_running_with_pushed_code_after_updating_succeeds():
    assert judge(cluster("RUNNING"), CODE, True, T0, T0 + 30) == ("succeeded", "")


def test_updating_waits():
    assert judge(cluster("UPDATING", OLD), CODE, True, T0, T0 + 30)[0] == "wait"


def test_running_old_code_before_update_seen_waits_then_fails():
    assert judge(cluster("RUNNING", OLD), CODE, False, T0, T0 + 2)[0] == "wait"
    verdict, reason = judge(cluster("RUNNING", OLD), CODE, False, T0, T0 + 3600)
    assert verdict == "failed" and "never started" in reason


def test_update_seen_via_timestamp_when_updating_was_missed():
    assert judge(cluster("RUNNING", modified=T0 + 5), CODE, False, T0, T0 + 10)[0] == "succeeded"


def test_back_to_old_code_is_a_failure_with_the_status_reason():
    verdict, reason = judge(cluster("RUNNING", OLD, reason="init.q failed"), CODE, True, T0, T0 + 60)
    assert (verdict, reason) == ("failed", "init.q failed")
    assert "does not run the pushed code" in judge(cluster("RUNNING", OLD), CODE, True, T0, T0 + 60)[1]


def test_after_a_lost_answer_the_cluster_says_whether_it_took_the_update():
    before = cluster("RUNNING", OLD)  # what preflight saw
    assert took_update(cluster("UPDATING", OLD), CODE, before)
    assert took_update(cluster("RUNNING", CODE, modified=T0 + 9), CODE, before)  # already done
    assert took_update(
        cluster("RUNNING", OLD, modified=T0 + 3), CODE, before
    )  # done and failed: the watch says
    assert not took_update(cluster("RUNNING", OLD), CODE, before)
    assert not took_update(
        cluster("RUNNING", CODE), CODE, cluster("RUNNING", CODE)
    )  # a forced redeploy not taken


def test_unexpected_status_fails():
    verdict, reason = judge(cluster("DELETING"), CODE, True, T0, T0 + 60)
    assert verdict == "failed" and "DELETING" in reason


# -- history
PUSH = dict(
    backend="local",
    environment="e",
    cluster="c",
    bundle_sha256="ab",
    bucket="b",
    key="k",
    version="v1",
    init_script="init.q",
    arguments={},
    strategy="ROLLING",
    client_token="t",
)


def start_push(history, **fields):
    """A push recorded in ``history``: every field History.start requires, ``fields`` over them."""
    return history.start(**{**PUSH, **fields})


def test_history_records_every_field_and_orders_newest_first(tmp_path):
    h = History(tmp_path / "history.sqlite")
    first = start_push(h, key="k1", arguments={"a": "1"}, client_token="t1")
    h.finish(first.id, SUCCEEDED)
    second = start_push(h, bundle_sha256="cd", key="k2", version=None, strategy="FORCE", client_token="t2")
    h.finish(second.id, FAILED, "boom", "node1: error")
    entries = h.entries("c", "e")
    assert [e.id for e in entries] == [second.id, first.id]
    failed, ok = entries
    assert (failed.outcome, failed.reason, failed.log_tail, failed.strategy) == (
        FAILED,
        "boom",
        "node1: error",
        "FORCE",
    )
    assert ok.arguments == {"a": "1"} and ok.code() == {
        "s3Bucket": "b",
        "s3Key": "k1",
        "s3ObjectVersion": "v1",
    }
    assert ok.duration is not None and ok.user and ok.host
    assert h.durations("c", "e", "ROLLING") == [ok.duration] and h.durations("c", "e", "FORCE") == []
    assert h.get(first.id).outcome == SUCCEEDED and h.entries("other") == []


def test_history_durations_end_when_the_cluster_became_running(tmp_path, monkeypatch):
    import kx_jupyter.deploy.history as history

    clock = [T0]
    monkeypatch.setattr(history.time, "time", lambda: clock[0])
    h = History(tmp_path / "h.sqlite")
    start = dict(
        backend="aws",
        environment="e",
        cluster="c",
        bundle_sha256=None,
        bucket="b",
        key="k",
        version=None,
        init_script=None,
        arguments=None,
        strategy="ROLLING",
    )
    seen_late, skewed = h.start(**start, client_token="t1"), h.start(**start, client_token="t2")
    clock[0] = T0 + 100  # the watch saw RUNNING 58 s after it happened
    h.finish(seen_late.id, SUCCEEDED, finished_at=running_since(cluster("RUNNING", modified=T0 + 42)))
    h.finish(skewed.id, SUCCEEDED, finished_at=T0 - 5)  # a cluster clock behind ours: fall back to now
    assert (h.get(seen_late.id).duration, h.get(skewed.id).duration) == (42, 100)
    assert running_since(cluster("UPDATING")) is None


def test_a_first_push_learns_from_the_other_clusters_of_the_environment(tmp_path):
    h = History(tmp_path / "h.sqlite")

    def push(cluster, outcome=SUCCEEDED, **over):
        row = dict(
            backend="aws",
            environment="e",
            cluster=cluster,
            bundle_sha256=None,
            bucket="b",
            key="k",
            version=None,
            init_script=None,
            arguments=None,
            strategy="ROLLING",
            client_token="t",
            nodes=2,
        )
        h.finish(h.start(**{**row, **over}).id, outcome)

    push("other")
    push("other", FAILED)
    push("other", strategy="FORCE")
    push("other", backend="local")
    push("other", environment="e2")
    push("me")
    assert [nodes for _, nodes in h.peer_durations("me", "e", "aws", "ROLLING")] == [2]
    assert h.durations("me", "e", "ROLLING") and not h.durations("me", "e", "FORCE")


def test_history_written_by_an_earlier_version_gains_the_node_count(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    from kx_jupyter.deploy.history import _SCHEMA

    old = sqlite3.connect(path)
    old.executescript(_SCHEMA.replace(",\n    nodes INTEGER", ""))
    assert "nodes" not in {r[1] for r in old.execute("PRAGMA table_info(pushes)")}
    old.close()
    h = History(path)
    e = start_push(
        h, backend="aws", bundle_sha256=None, version=None, init_script=None, arguments=None, nodes=3
    )
    assert h.get(e.id).nodes == 3


def test_history_in_progress_until_finished(tmp_path):
    h = History(tmp_path / "h.sqlite")
    e = start_push(h, backend="aws", bundle_sha256=None, version=None, init_script=None, arguments=None)
    assert h.get(e.id).outcome == IN_PROGRESS


# -- diff
def test_diff_file_by_file():
    deployed = {"init.q": b"x:1\n", "gone.q": b"1", "same.q": b"s", "blob": b"\x00\x01"}
    workspace = {"init.q": b"x:2\n", "new.q": b"n", "same.q": b"s", "blob": b"\x00\x02"}
    result = {d.path: d for d in compare(deployed, workspace)}
    assert {p: d.status for p, d in result.items()} == {
        "init.q": "modified",
        "gone.q": "removed",
        "new.q": "added",
        "same.q": "unchanged",
        "blob": "modified",
    }
    assert "-x:1" in result["init.q"].diff and "+x:2" in result["init.q"].diff
    assert result["blob"].binary and result["blob"].diff == ""


def test_deployed_names_that_could_escape_are_shown_as_unsafe_not_compared():
    # read_bundle's second result (tests/test_zip_bundles.py reads hostile zips)
    result = compare({"ok.q": b"1"}, {"ok.q": b"1"}, ["../evil.q"])
    assert [(d.path, d.status) for d in result] == [("../evil.q", "unsafe"), ("ok.q", "unchanged")]


# -- error translation
def client_error(code, status, message="m", op="UpdateKxClusterCodeConfiguration", retries=5):
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": retries},
        },
        op,
    )


@pytest.mark.parametrize(
    "code,status,words",
    [
        ("AccessDeniedException", 403, "access denied"),
        ("NoSuchBucket", 404, "bucket does not exist"),
        ("ConflictException", 409, "conflict"),
        ("ValidationException", 400, "refused the request"),
        ("ThrottlingException", 429, "throttled .* 6 attempts"),
        ("InternalServerException", 500, "HTTP 500"),
        ("ResourceNotFoundException", 404, "not found"),
        ("UnrecognizedClientException", 403, "credentials were refused"),
    ],
)
def test_client_errors_say_what_happened_and_what_to_do(code, status, words):
    err = translate(client_error(code, status), "updating cluster c")
    assert err.exit_code == 2 and err.hint
    assert re.search(words, err.message)


def test_no_credentials_and_unreachable():
    assert "credentials" in translate(NoCredentialsError(), "x").message
    err = translate(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "x")
    assert "cannot reach the endpoint http://127.0.0.1:9" in err.message


def test_start_the_plane_only_when_it_cannot_be_reached():
    local = KxJupyter(backend="local")
    refused = translate(
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "updating cluster c", local
    )
    assert "kx-jupyter local start" in refused.hint
    for lost in (
        ConnectionClosedError(endpoint_url="http://127.0.0.1:9"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:9"),
    ):
        err = translate(lost, "updating cluster c", local)
        assert "connection to http://127.0.0.1:9 was lost while updating cluster c" in err.message
        assert "local start" not in err.hint and "kx-jupyter status" in err.hint


@pytest.mark.parametrize(
    "error,unknown",
    [
        (ConnectionClosedError(endpoint_url="u"), True),
        (ReadTimeoutError(endpoint_url="u"), True),
        (EndpointConnectionError(endpoint_url="u"), True),  # only the last attempt is reported
        (client_error("InternalServerException", 500, retries=0), True),
        (
            client_error("ThrottlingException", 429, retries=2),
            True,
        ),  # an earlier attempt may have got through
        (client_error("ThrottlingException", 429, retries=0), False),
        (client_error("ValidationException", 400, retries=0), False),
        (NoCredentialsError(), False),
    ],
)
def test_which_failures_leave_the_outcome_unknown(error, unknown):
    assert outcome_unknown(error) is unknown


def test_access_key_ids_are_scrubbed():
    err = translate(client_error("InvalidAccessKeyId", 403, "key AKIAABCDEFGHIJKLMNOP unknown"), "x")
    assert "AKIA" not in str(err)


# -- staging parameters (the plane's S3 does not enforce bucket ownership, so check what is sent)
def test_upload_sends_checksum_owner_and_kms_and_records_the_version():
    import base64
    import hashlib

    import boto3
    from botocore.stub import Stubber

    from kx_jupyter.config import KxJupyter
    from kx_jupyter.deploy.stage import find, object_key, upload

    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    settings = KxJupyter(expected_bucket_owner="111122223333", sse="aws:kms", kms_key_id="alias/code")
    data = b"zip bytes"
    sha = hashlib.sha256(data).hexdigest()
    key = object_key("/team/code/", sha)
    assert key == f"team/code/{sha}.zip"
    with Stubber(s3) as stub:
        stub.add_client_error(
            "head_object",
            "404",
            http_status_code=404,
            expected_params={"Bucket": "b", "Key": key, "ExpectedBucketOwner": "111122223333"},
        )
        stub.add_response(
            "put_object",
            {"VersionId": "v7"},
            {
                "Bucket": "b",
                "Key": key,
                "Body": data,
                "ChecksumAlgorithm": "SHA256",
                "ChecksumSHA256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
                "Metadata": {"kx-sha256": sha},
                "ContentType": "application/zip",
                "ExpectedBucketOwner": "111122223333",
                "ServerSideEncryption": "aws:kms",
                "SSEKMSKeyId": "alias/code",
            },
        )
        assert find(s3, "b", key, sha, settings) is None
        staged = upload(s3, data, sha, "b", key, settings)
    assert staged.code() == {"s3Bucket": "b", "s3Key": key, "s3ObjectVersion": "v7"}
    assert staged.uploaded_bytes == len(data)
