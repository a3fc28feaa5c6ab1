"""Pieces of the engine that need no control plane: polling, history, verdicts, diff, error messages."""

import io
import random
import re
import zipfile
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from kx_jupyter.deploy.aws_errors import translate
from kx_jupyter.deploy.diff import compare, read_zip, safe_name
from kx_jupyter.deploy.history import FAILED, IN_PROGRESS, SUCCEEDED, History
from kx_jupyter.deploy.polling import PollPolicy, expected_seconds
from kx_jupyter.deploy.watch import judge


# -- polling
def test_poll_starts_fast_backs_off_and_stays_in_bounds():
    policy = PollPolicy(0.5, 15, rng=random.Random(1))
    sleeps = [policy.next(t) for t in range(30)]
    assert sleeps[0] < 1 and max(sleeps[-5:]) > 10
    assert all(0.5 <= s <= 15 for s in sleeps)


def test_poll_speeds_up_near_expected_end():
    policy = PollPolicy(0.5, 15, expected=600, rng=random.Random(2))
    for t in range(0, 400, 10):
        policy.next(t)
    assert policy.next(400) > 10          # long into the update: slow
    assert policy.next(560) < 15 * 0.5    # near the expected end: fast again
    assert policy.next(2000) > 10         # well past it: back to slow


def test_poll_jitter_differs_between_watchers():
    a, b = PollPolicy(1, 15, rng=random.Random(1)), PollPolicy(1, 15, rng=random.Random(2))
    assert [a.next(t) for t in range(5)] != [b.next(t) for t in range(5)]


def test_expected_seconds_prefers_setting_then_history():
    assert expected_seconds(300, [10, 20]) == 300
    assert expected_seconds(0, [10, 20, 600]) == 20
    assert expected_seconds(0, []) == 0


# -- verdicts
CODE = {"s3Bucket": "b", "s3Key": "k/new.zip", "s3ObjectVersion": "v2"}
OLD = {"s3Bucket": "b", "s3Key": "k/old.zip", "s3ObjectVersion": "v1"}
T0 = 1_000_000.0


def cluster(status, code=CODE, reason="", modified=T0 - 100):
    return {"status": status, "code": code, "statusReason": reason,
            "lastModifiedTimestamp": datetime.fromtimestamp(modified, timezone.utc)}


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


def test_unexpected_status_fails():
    verdict, reason = judge(cluster("DELETING"), CODE, True, T0, T0 + 60)
    assert verdict == "failed" and "DELETING" in reason


# -- history
def test_history_records_every_field_and_orders_newest_first(tmp_path):
    h = History(tmp_path / "history.sqlite")
    first = h.start(backend="local", environment="e", cluster="c", bundle_sha256="ab", bucket="b", key="k1",
                    version="v1", init_script="init.q", arguments={"a": "1"}, strategy="ROLLING", client_token="t1")
    h.finish(first.id, SUCCEEDED)
    second = h.start(backend="local", environment="e", cluster="c", bundle_sha256="cd", bucket="b", key="k2",
                     version=None, init_script="init.q", arguments={}, strategy="FORCE", client_token="t2")
    h.finish(second.id, FAILED, "boom", "node1: error")
    entries = h.entries("c", "e")
    assert [e.id for e in entries] == [second.id, first.id]
    failed, ok = entries
    assert (failed.outcome, failed.reason, failed.log_tail, failed.strategy) == (FAILED, "boom", "node1: error", "FORCE")
    assert ok.arguments == {"a": "1"} and ok.code() == {"s3Bucket": "b", "s3Key": "k1", "s3ObjectVersion": "v1"}
    assert ok.duration is not None and ok.user and ok.host
    assert h.durations("c", "e") == [ok.duration]
    assert h.get(first.id).outcome == SUCCEEDED and h.entries("other") == []


def test_history_in_progress_until_finished(tmp_path):
    h = History(tmp_path / "h.sqlite")
    e = h.start(backend="aws", environment="e", cluster="c", bundle_sha256=None, bucket="b", key="k", version=None,
                init_script=None, arguments=None, strategy="ROLLING", client_token="t")
    assert h.get(e.id).outcome == IN_PROGRESS


# -- diff
def zip_of(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_diff_file_by_file():
    deployed = {"init.q": b"x:1\n", "gone.q": b"1", "same.q": b"s", "blob": b"\x00\x01"}
    workspace = {"init.q": b"x:2\n", "new.q": b"n", "same.q": b"s", "blob": b"\x00\x02"}
    result = {d.path: d for d in compare(deployed, workspace)}
    assert {p: d.status for p, d in result.items()} == {
        "init.q": "modified", "gone.q": "removed", "new.q": "added", "same.q": "unchanged", "blob": "modified"}
    assert "-x:1" in result["init.q"].diff and "+x:2" in result["init.q"].diff
    assert result["blob"].binary and result["blob"].diff == ""


@pytest.mark.parametrize("name", ["../evil.q", "/etc/passwd", "a/../../b", "c:\\x", "dir\\..\\x"])
def test_zip_slip_entries_are_reported_not_read(name):
    assert not safe_name(name)
    files, unsafe = read_zip(zip_of({name: b"x", "ok.q": b"1"}), 10_000)
    assert list(files) == ["ok.q"] and unsafe == [name]
    assert compare(files, {"ok.q": b"1"}, unsafe)[0].status == "unsafe"


def test_zip_bomb_is_refused():
    with pytest.raises(Exception, match="more than the bundle limit"):
        read_zip(zip_of({"a": b"0" * 50_000}), 1000)


# -- error translation
def client_error(code, status, message="m", op="UpdateKxClusterCodeConfiguration"):
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": 5}}, op)


@pytest.mark.parametrize("code,status,words", [
    ("AccessDeniedException", 403, "access denied"),
    ("NoSuchBucket", 404, "bucket does not exist"),
    ("ConflictException", 409, "conflict"),
    ("ValidationException", 400, "refused the request"),
    ("ThrottlingException", 429, "throttled .* 6 attempts"),
    ("InternalServerException", 500, "HTTP 500"),
    ("ResourceNotFoundException", 404, "not found"),
    ("UnrecognizedClientException", 403, "credentials were refused"),
])
def test_client_errors_say_what_happened_and_what_to_do(code, status, words):
    err = translate(client_error(code, status), "updating cluster c")
    assert err.exit_code == 2 and err.hint
    assert re.search(words, err.message)


def test_no_credentials_and_unreachable():
    assert "credentials" in translate(NoCredentialsError(), "x").message
    err = translate(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "x")
    assert "cannot reach the endpoint http://127.0.0.1:9" in err.message


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
        stub.add_client_error("head_object", "404", http_status_code=404,
                              expected_params={"Bucket": "b", "Key": key, "ExpectedBucketOwner": "111122223333"})
        stub.add_response("put_object", {"VersionId": "v7"}, {
            "Bucket": "b", "Key": key, "Body": data, "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
            "Metadata": {"kx-sha256": sha}, "ContentType": "application/zip", "ExpectedBucketOwner": "111122223333",
            "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/code"})
        assert find(s3, "b", key, sha, settings) is None
        staged = upload(s3, data, sha, "b", key, settings)
    assert staged.code() == {"s3Bucket": "b", "s3Key": key, "s3ObjectVersion": "v7"}
    assert staged.uploaded_bytes == len(data)
