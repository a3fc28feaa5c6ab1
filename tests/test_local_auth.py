"""Only requests signed with the plane's own credentials get in; the answer is each service's 403."""

import os
import stat

import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from plane_fixtures import ENV_ID

from kx_jupyter.finspace.clients import Clients, Connection


def clients_with(plane, secret=None, unsigned=False):
    info = plane.info
    conn = Connection(
        info.endpoint,
        info.endpoint,
        info.region,
        info.access_key,
        secret or info.secret_key,
        logs_endpoint_url=info.endpoint,
    )
    c = Clients(conn, max_attempts=1)
    if unsigned:
        cfg = Config(signature_version=UNSIGNED, retries={"max_attempts": 1}, s3={"addressing_style": "path"})
        return {
            name: c._session.client(name, endpoint_url=info.endpoint, config=cfg)
            for name in ("finspace", "s3", "logs")
        }
    return {"finspace": c.finspace, "s3": c.s3, "logs": c.logs}


@pytest.mark.parametrize("how", ["unsigned", "wrong secret"])
def test_bad_signatures_get_403_from_every_service(plane, how):
    c = clients_with(
        plane, unsigned=how == "unsigned", secret="not-the-secret" if how == "wrong secret" else None
    )
    calls = {
        "finspace": (
            lambda: c["finspace"].get_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp"),
            "AccessDeniedException",
        ),
        "s3": (
            lambda: c["s3"].list_objects_v2(Bucket="kx-local-code"),
            "AccessDenied" if how == "unsigned" else "SignatureDoesNotMatch",
        ),
        "logs": (lambda: c["logs"].describe_log_groups(), "AccessDeniedException"),
    }
    for service, (call, code) in calls.items():
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403, service
        assert err.value.response["Error"]["Code"] == code, service


def test_signed_requests_work_and_credentials_are_private(plane):
    c = clients_with(plane)
    assert c["finspace"].get_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp")["status"] == "RUNNING"
    assert c["s3"].list_objects_v2(Bucket="kx-local-code")["KeyCount"] >= 1
    mode = stat.S_IMODE(os.stat(plane.state_dir / "credentials.json").st_mode)
    assert mode == 0o600
    assert plane.info.secret_key not in repr(plane.info)


def test_admin_routes_need_a_signature(plane):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(plane.info.endpoint + "/_kxlocal/counters", timeout=5)
    assert err.value.code == 403
    assert plane.counters()["requests"] == {}
