"""What a new user finds on first start: one environment, a GP and a 3-node HDB cluster, code.

The seeded clusters start RUNNING (a fresh plane should be usable at once) with a tiny code
bundle staged in the versioned bucket, so the first update a user makes is a real change.
"""

from __future__ import annotations

import io

from ..zipwrite import ZipWriter

ENVIRONMENT_ID = "kxlocaldev"
ENVIRONMENT_NAME = "local-dev"
CODE_BUCKET = "kx-local-code"
SEED_KEY = "seed/code.zip"
INIT_SCRIPT = "init.q"
INIT_Q = b"""/ seed code of the kx-jupyter local plane: replace it with your own
.kx.started:.z.p
.kx.ping:{[x] x}
"""
VPC = {  # ids shaped like real ones (17 characters after the prefix), so they pass the model's rules
    "vpcId": "vpc-" + "0local".ljust(17, "0"),
    "securityGroupIds": ["sg-" + "0local".ljust(17, "0")],
    "subnetIds": ["subnet-" + "0local".ljust(17, "0")],
    "ipAddressType": "IP_V4",
}
CLUSTERS = (
    {"clusterName": "dev-gp", "clusterType": "GP", "nodeType": "kx.s.large", "nodeCount": 1, "args": []},
    {
        "clusterName": "hdb-3",
        "clusterType": "HDB",
        "nodeType": "kx.s.xlarge",
        "nodeCount": 3,
        "args": [{"key": "role", "value": "hdb"}],
    },
)


def seed_bundle() -> bytes:
    """The seed code, zipped as a push zips a workspace holding only ``init.q``."""
    buf = io.BytesIO()
    writer = ZipWriter(buf)
    writer.add(INIT_SCRIPT, INIT_Q)
    writer.finish()
    return buf.getvalue()


def seed(store, backends, plane) -> None:
    """Seed once; the ``seeded`` flag keeps a user's deletions deleted across restarts."""
    if store.get_meta("seeded"):
        return
    backends.ensure_bucket(CODE_BUCKET, versioned=True)
    version = backends.put_object(CODE_BUCKET, SEED_KEY, seed_bundle())
    code = {"s3Bucket": CODE_BUCKET, "s3Key": SEED_KEY, "s3ObjectVersion": version}
    configs = []
    for spec in CLUSTERS:
        params = {
            "clusterName": spec["clusterName"],
            "clusterType": spec["clusterType"],
            "clusterDescription": f"seeded {spec['clusterType']} cluster of the local plane",
            "releaseLabel": "1.0",
            "azMode": "SINGLE",
            "availabilityZoneId": "use1-az1",
            "vpcConfiguration": VPC,
            "capacityConfiguration": {"nodeType": spec["nodeType"], "nodeCount": spec["nodeCount"]},
            "code": code,
            "initializationScript": INIT_SCRIPT,
            "commandLineArguments": spec["args"],
        }
        configs.append((params, plane.config_from(params)))
    with store.tx() as db:
        plane.create_environment(
            db, ENVIRONMENT_NAME, env_id=ENVIRONMENT_ID, description="Seeded by the kx jupyter local plane."
        )
        for params, config in configs:
            plane.insert_cluster(db, ENVIRONMENT_ID, params, "RUNNING", config)
        store.set_meta(db, "seeded", True)
