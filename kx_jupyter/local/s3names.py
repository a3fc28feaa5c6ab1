"""The S3 operation a path-style request is, by its method, key and sub-resource.

The plane counts requests and aims faults by operation name, as it does for FinSpace and
CloudWatch Logs (whose names come with the request); S3 names have to be read off the URL.
"""

from __future__ import annotations

from urllib.parse import parse_qs

# (method, addresses an object) -> [(sub-resource in the query, operation)], first match wins;
# a None sub-resource is the plain request
_NAMES = {
    ("GET", True): [("uploadId", "ListParts"), (None, "GetObject")],
    ("GET", False): [
        ("versions", "ListObjectVersions"),
        ("versioning", "GetBucketVersioning"),
        ("list-type", "ListObjectsV2"),
        ("location", "GetBucketLocation"),
        ("policy", "GetBucketPolicy"),
        ("encryption", "GetBucketEncryption"),
        ("uploads", "ListMultipartUploads"),
        (None, "ListObjects"),
    ],
    ("PUT", True): [("partNumber", "UploadPart"), (None, "PutObject")],
    ("PUT", False): [
        ("versioning", "PutBucketVersioning"),
        ("policy", "PutBucketPolicy"),
        ("encryption", "PutBucketEncryption"),
        (None, "CreateBucket"),
    ],
    ("HEAD", True): [(None, "HeadObject")],
    ("HEAD", False): [(None, "HeadBucket")],
    ("DELETE", True): [("uploadId", "AbortMultipartUpload"), (None, "DeleteObject")],
    ("DELETE", False): [("policy", "DeleteBucketPolicy"), (None, "DeleteBucket")],
    ("POST", True): [("uploads", "CreateMultipartUpload"), ("uploadId", "CompleteMultipartUpload")],
    ("POST", False): [("delete", "DeleteObjects")],
}


def s3_operation(method: str, path: str, query: str) -> str:
    """``PutObject``, ``ListObjectVersions``, ... (``ListBuckets`` for ``/``; ``S3 <METHOD>`` if unknown)."""
    parts = path.lstrip("/").split("/", 1)
    if not parts[0]:
        return "ListBuckets" if method == "GET" else f"S3 {method}"
    subresources = set(parse_qs(query, keep_blank_values=True))
    for sub, name in _NAMES.get((method, len(parts) == 2 and bool(parts[1])), []):
        if sub is None or sub in subresources:
            return name
    return f"S3 {method}"
