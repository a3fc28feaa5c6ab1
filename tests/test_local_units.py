"""Small pieces of the local plane on their own: routes, status reasons, fault plans, seeds."""

import re

import pytest

from kx_jupyter.finspace.model import service_model
from kx_jupyter.finspace.rules import validate
from kx_jupyter.local import seed, wire
from kx_jupyter.local.api import status_reason
from kx_jupyter.local.faults import FaultPlanError, Faults


def test_every_model_operation_routes_to_itself():
    model = service_model()
    for name in model.operation_names:
        http = model.operation_model(name).http
        path = re.sub(r"\{(\w+)\+?\}", "abc", http["requestUri"].split("?")[0])
        assert wire.match(http["method"], path)[0] == name


def test_routes_decode_labels():
    assert wire.match("GET", "/kx/environments/env1/clusters/my-cluster/nodes") == (
        "ListKxClusterNodes",
        {"environmentId": "env1", "clusterName": "my-cluster"},
    )
    assert wire.match("GET", "/not/finspace") is None
    arn = "arn%3Aaws%3Afinspace%3Aus-east-1%3A123456789012%3AkxEnvironment%2Fenv1%2FkxCluster%2Fgp"  # as botocore sends it
    assert wire.match("GET", f"/tags/{arn}") == (
        "ListTagsForResource",
        {"resourceArn": "arn:aws:finspace:us-east-1:123456789012:kxEnvironment/env1/kxCluster/gp"},
    )


def test_status_reason_fits_the_service_pattern():
    reason = status_reason("node 'x' failed: '{' is never closed (init.q:3) " + "z" * 400)
    assert re.fullmatch(r"[a-zA-Z0-9\_\-\.\s]+", reason) and len(reason) <= 250
    assert reason.startswith("node x failed - brace is never closed paren init.q 3 paren")


def test_fault_plan_is_checked_and_sequence_comes_first():
    with pytest.raises(FaultPlanError):
        Faults({"teapot": 1})
    with pytest.raises(FaultPlanError):
        Faults({"sequence": ["explode"]})
    faults = Faults({"sequence": ["throttle", "ok"], "error": 1.0}, seed=1)
    assert [faults.pick("GetKxCluster") for _ in range(3)] == ["throttle", None, "error"]
    assert Faults({"drop": 1.0, "operations": ["GetKxCluster"]}).pick("ListKxClusters") is None


def test_seeded_clusters_pass_the_services_rules():
    for spec in seed.CLUSTERS:
        params = {
            "environmentId": seed.ENVIRONMENT_ID,
            "clusterName": spec["clusterName"],
            "clusterType": spec["clusterType"],
            "releaseLabel": "1.0",
            "azMode": "SINGLE",
            "vpcConfiguration": seed.VPC,
            "capacityConfiguration": {"nodeType": spec["nodeType"], "nodeCount": spec["nodeCount"]},
            "code": {"s3Bucket": seed.CODE_BUCKET, "s3Key": seed.SEED_KEY},
            "initializationScript": seed.INIT_SCRIPT,
            "commandLineArguments": spec["args"],
        }
        assert validate("CreateKxCluster", params) == []


def test_seed_code_passes_the_checker(tmp_path):
    from kx_jupyter.local.runtime import extract_bundle
    from kx_jupyter.qcheck import has_errors
    from kx_jupyter.qcheck.bundle import check_dir

    (tmp_path / "code.zip").write_bytes(seed.seed_bundle())
    names = extract_bundle(tmp_path / "code.zip", tmp_path / "code")
    assert names == [seed.INIT_SCRIPT]
    assert not has_errors(check_dir(tmp_path / "code", seed.INIT_SCRIPT, files=names))


def test_status_reason_fits_the_api_pattern_and_stays_readable():
    reason = status_reason(
        "Code update failed on node n1: lib/x.q line 3 Q002 '{' is never closed: add the matching '}'."
    )
    assert re.fullmatch(r"[a-zA-Z0-9\_\-\.\s]+", reason) and len(reason) <= 250
    assert (
        reason
        == "Code update failed on node n1 - lib-x.q line 3 Q002 brace is never closed - add the matching brace."
    )
