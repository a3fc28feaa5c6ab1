"""The FinSpace API model shipped with kx-jupyter, and a way to read its shapes.

botocore after 1.43.116 has no ``finspace`` model; ours lives in ``DATA_PATH`` in botocore's
loader layout, so a session that searches it there (see ``clients``) gets a working client.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

DATA_PATH = Path(__file__).parent / "data"
SERVICE_PATH = DATA_PATH / "finspace" / "2021-03-12" / "service-2.json"


@lru_cache(maxsize=1)
def service_model() -> dict:
    """The raw service description (operations and shapes), parsed once."""
    return json.loads(SERVICE_PATH.read_text())


def operation(name: str) -> dict:
    return service_model()["operations"][name]


def shape(name: str) -> dict:
    return service_model()["shapes"][name]
