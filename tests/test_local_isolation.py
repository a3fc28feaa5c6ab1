"""One cluster's internal fault in the reconciler never holds up another cluster or the plane."""

from plane_fixtures import ENV_ID


def code_ref(version):
    return {"s3Bucket": "kx-local-code", "s3Key": "tests/code.zip", "s3ObjectVersion": version}


def update(fs, cluster, version, strategy="FORCE"):
    fs.update_kx_cluster_code_configuration(
        environmentId=ENV_ID,
        clusterName=cluster,
        code=code_ref(version),
        initializationScript="init.q",
        deploymentConfiguration={"deploymentStrategy": strategy},
    )


def plane_log(plane) -> str:
    return (plane.state_dir / "plane.log").read_text(errors="replace")


def test_an_internal_error_in_one_cluster_fails_its_update_and_the_other_finishes(plane):
    fs = plane.clients().finspace
    before = fs.get_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp")
    version = plane.upload({"init.q": "x:1\n"})
    plane.set_faults({"step_error": ["dev-gp"]})
    update(fs, "dev-gp", version)
    update(fs, "hdb-3", version)

    hdb = plane.wait_status("hdb-3", "RUNNING", timeout=120)
    assert hdb["status"] == "RUNNING" and hdb["code"]["s3ObjectVersion"] == version
    gp = plane.wait_status("dev-gp", "RUNNING", timeout=120)
    assert gp["status"] == "RUNNING"
    assert gp["code"] == before["code"]  # still the previous code
    assert "internal error" in gp["statusReason"]

    plane.set_faults({})  # the plane still carries out the next update of the cluster that failed
    update(fs, "dev-gp", version, strategy="ROLLING")
    again = plane.wait_status("dev-gp", "RUNNING", timeout=120)
    assert again["code"]["s3ObjectVersion"] == version and not again.get("statusReason")
    log = plane_log(
        plane
    )  # logged once per failed operation (the update, then its node's restart), not every tick
    assert log.count(f"(update of {ENV_ID}/dev-gp) failed with an internal error") == 1
    assert log.count(f"(replace of {ENV_ID}/dev-gp) failed with an internal error") == 1
    assert "hdb-3) failed" not in log


def test_a_held_cluster_stays_updating_while_the_others_finish_and_goes_on_when_released(plane):
    fs = plane.clients().finspace
    version = plane.upload({"init.q": "x:2\n"})
    plane.set_faults({"hold": ["dev-gp"]})
    update(fs, "dev-gp", version)
    update(fs, "hdb-3", version)
    assert plane.wait_status("hdb-3", "RUNNING", timeout=120)["code"]["s3ObjectVersion"] == version
    assert fs.get_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp")["status"] == "UPDATING"

    plane.set_faults({})
    gp = plane.wait_status("dev-gp", "RUNNING", timeout=120)
    assert gp["code"]["s3ObjectVersion"] == version and not gp.get("statusReason")
