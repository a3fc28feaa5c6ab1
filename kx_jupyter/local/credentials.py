"""The plane's own SigV4 credentials: generated on first start, readable by the owner only,
and written whole or not at all (a crash mid-write must not leave an empty file that stops every start)."""

from __future__ import annotations

import json
import secrets
import string
from pathlib import Path

from ..files import NewFile

FILE_NAME = "credentials.json"


def load_or_create(state_dir: Path) -> dict:
    path = Path(state_dir) / FILE_NAME
    if path.exists():
        try:
            creds = json.loads(path.read_text())
            if isinstance(creds, dict) and creds.get("access_key") and creds.get("secret_key"):
                return creds
            problem = "holds no access_key and secret_key"
        except ValueError:
            problem = "is empty" if not path.read_bytes().strip() else "is not JSON"
        except OSError as exc:
            problem = f"cannot be read ({exc.strerror})"
        from ..errors import KxError

        raise KxError(
            f"the local plane's credentials file {path} {problem}",
            hint="delete it: the plane makes new credentials on its next start "
            '(then run `eval "$(kx-jupyter local env)"` again in shells that use the plane)',
        )
    upper = string.ascii_uppercase + string.digits
    creds = {
        "access_key": "KXLOCAL" + "".join(secrets.choice(upper) for _ in range(13)),
        "secret_key": secrets.token_urlsafe(30)[:40],
    }
    with NewFile(state_dir, mode=0o600, prefix=".credentials-") as new:  # 0600 from the start
        new.write(json.dumps(creds).encode())
        if not new.publish(path, durable=True, overwrite=False):  # another start made them meanwhile
            return load_or_create(state_dir)
    return creds
