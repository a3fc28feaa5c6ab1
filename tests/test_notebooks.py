"""The tutorial notebooks as committed files.

nbval (see notebooks/conftest.py) re-runs them and compares outputs; these checks catch what
a comparison cannot: a notebook saved half-run or out of order, a traceback kept as the
expected output, widget state that churns on every save, and credentials in an output.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]-*.ipynb"))
# The local plane's access keys, and the names credentials travel under.
CREDENTIAL = re.compile(
    r"KXLOCAL[A-Z0-9]{13}|aws_secret_access_key|AWS_SECRET_ACCESS_KEY\s*=|SecretAccessKey", re.I
)


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_seven_tutorials_are_there():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01-", "02-", "03-", "04-", "05-", "06-", "07-"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_come_from_one_clean_run_top_to_bottom(path):
    code = [c for c in _load(path)["cells"] if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name}: restart the kernel and run all cells before saving"
    )
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{path.name} stores a traceback as expected output: {errors[0].get('evalue')}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_credentials_and_no_widget_state_are_stored(path):
    nb = _load(path)
    outputs = json.dumps([c.get("outputs", []) for c in nb["cells"]])
    found = CREDENTIAL.search(outputs)
    assert found is None, f"{path.name} stores something that looks like a credential: {found.group(0)[:12]}…"
    assert "widgets" not in nb["metadata"], (
        f"{path.name}: save without widget state (it changes on every run)"
    )
