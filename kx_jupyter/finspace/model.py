"""The FinSpace API model shipped with kx-jupyter, loaded the way botocore loads any model.

botocore after 1.43.116 has no ``finspace`` model; ours lives in ``DATA_PATH`` in botocore's
loader layout, so a session that searches it there (see ``clients``) gets a working client.
The request rules and the local plane read the same loaded ``botocore.model.ServiceModel``
through the process's shared loader: one parse of the JSON, one meaning of every shape.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

DATA_PATH = Path(__file__).parent / "data"
SERVICE_PATH = DATA_PATH / "finspace" / "2021-03-12" / "service-2.json"


@lru_cache(maxsize=1)
def service_model():
    """botocore's ``ServiceModel`` of the shipped model (botocore is imported on first use only)."""
    from botocore.model import ServiceModel

    from .clients import botocore_session

    loader = botocore_session().get_component("data_loader")
    return ServiceModel(loader.load_service_model("finspace", "service-2"), service_name="finspace")


def operation(name: str):
    """The ``OperationModel`` of one operation, e.g. ``operation("GetKxCluster").input_shape``."""
    return service_model().operation_model(name)


def shape(name: str):
    """One named ``Shape`` of the model, e.g. ``shape("KxClusterName").metadata["pattern"]``."""
    return service_model().shape_for(name)
