"""Produce the FinSpace API model that kx-jupyter ships.

botocore stopped shipping the ``finspace`` model after 1.43.116. This script takes that
release's wheel (downloaded with pip unless ``--wheel`` names a local copy), keeps the
Kx operations, the tagging ones and the shapes they reach, strips documentation text, and
writes the model under ``kx_jupyter/finspace/data/finspace/2021-03-12/`` in botocore's
loader layout.

    python scripts/build_model.py [--wheel botocore-1.43.116-py3-none-any.whl]
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

BOTOCORE_VERSION = "1.43.116"
# The service's tagging operations apply to kx resources (environments, clusters, users) too.
TAG_OPERATIONS = ("TagResource", "UntagResource", "ListTagsForResource")
API_VERSION = "2021-03-12"
SOURCE = f"botocore/data/finspace/{API_VERSION}/"
TARGET = Path(__file__).resolve().parents[1] / "kx_jupyter" / "finspace" / "data" / "finspace" / API_VERSION


def download_wheel(dest: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"botocore=={BOTOCORE_VERSION}",
            "--no-deps",
            "-q",
            "-d",
            str(dest),
        ],
        check=True,
    )
    return next(dest.glob("botocore-*.whl"))


def read_member(wheel: zipfile.ZipFile, name: str) -> dict:
    names = set(wheel.namelist())
    if SOURCE + name in names:
        return json.loads(wheel.read(SOURCE + name))
    return json.loads(gzip.decompress(wheel.read(SOURCE + name + ".gz")))


def strip_docs(node):
    """Drop documentation text everywhere; it is most of the model's size and none of its meaning."""
    if isinstance(node, dict):
        return {k: strip_docs(v) for k, v in node.items() if k != "documentation"}
    if isinstance(node, list):
        return [strip_docs(v) for v in node]
    return node


def reachable_shapes(model: dict, operations: dict) -> set[str]:
    shapes = model["shapes"]
    todo = []
    for op in operations.values():
        todo += [op[k]["shape"] for k in ("input", "output") if k in op]
        todo += [e["shape"] for e in op.get("errors", [])]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = shapes[name]
        for member in shape.get("members", {}).values():
            todo.append(member["shape"])
        for key in ("member", "key", "value"):
            if key in shape:
                todo.append(shape[key]["shape"])
    return seen


def trim(model: dict) -> dict:
    operations = {
        name: op for name, op in model["operations"].items() if "Kx" in name or name in TAG_OPERATIONS
    }
    keep = reachable_shapes(model, operations)
    trimmed = {
        "version": model.get("version", "2.0"),
        "metadata": model["metadata"],
        "operations": operations,
        "shapes": {name: shape for name, shape in model["shapes"].items() if name in keep},
    }
    return strip_docs(trimmed)


def paginators(service: dict, shipped: dict) -> dict:
    """botocore's paginators of the kept operations, plus one for every Kx listing that pages with
    ``nextToken`` (botocore ships only ListKxEnvironments's): callers use ``client.get_paginator``."""
    pagination = {name: p for name, p in shipped["pagination"].items() if name in service["operations"]}
    shapes = service["shapes"]
    for name, op in service["operations"].items():
        if not name.startswith("List") or "input" not in op or "output" not in op:
            continue
        given, answered = (shapes[op[k]["shape"]].get("members", {}) for k in ("input", "output"))
        items = [m for m, spec in answered.items() if shapes[spec["shape"]]["type"] == "list"]
        if "nextToken" in given and "nextToken" in answered and len(items) == 1:
            pagination.setdefault(
                name,
                {"input_token": "nextToken", "output_token": "nextToken", "result_key": items[0]}
                | ({"limit_key": "maxResults"} if "maxResults" in given else {}),
            )
    return {"pagination": pagination}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help=f"a local botocore {BOTOCORE_VERSION} wheel")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel_path = args.wheel or download_wheel(Path(tmp))
        with zipfile.ZipFile(wheel_path) as wheel:
            service = trim(read_member(wheel, "service-2.json"))
            rules = read_member(wheel, "endpoint-rule-set-1.json")
            pages = paginators(service, read_member(wheel, "paginators-1.json"))
    TARGET.mkdir(parents=True, exist_ok=True)
    for name, data in (
        ("service-2.json", service),
        ("endpoint-rule-set-1.json", rules),
        ("paginators-1.json", pages),
    ):
        (TARGET / name).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(service['operations'])} operations, {len(service['shapes'])} shapes to {TARGET}")


if __name__ == "__main__":
    main()
