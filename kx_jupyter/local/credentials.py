"""The plane's own SigV4 credentials: generated on first start, readable by the owner only."""

from __future__ import annotations

import json
import os
import secrets
import string
from pathlib import Path

FILE_NAME = "credentials.json"


def load_or_create(state_dir: Path) -> dict:
    path = Path(state_dir) / FILE_NAME
    if path.exists():
        return json.loads(path.read_text())
    upper = string.ascii_uppercase + string.digits
    creds = {
        "access_key": "KXLOCAL" + "".join(secrets.choice(upper) for _ in range(13)),
        "secret_key": secrets.token_urlsafe(30)[:40],
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never world-readable, not even briefly
    with os.fdopen(fd, "w") as f:
        json.dump(creds, f)
    return creds
