"""Put a bundle in S3 under a key derived from its SHA-256, once.

A content-addressed key means an unchanged bundle is found by HEAD and not sent again, and
a changed bundle gets a new key, so an object a cluster runs is never overwritten. The
object version is recorded so rollback and diff fetch exactly what was deployed.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

from ..errors import KxError
from .aws_errors import calling, error_code

SHA_METADATA = "kx-sha256"


@dataclass(frozen=True)
class StagedObject:
    bucket: str
    key: str
    version_id: str | None  # None when the bucket is not versioned
    uploaded_bytes: int  # 0 when the object was already there

    def code(self) -> dict:
        """The ``code`` member of an update request for this object."""
        code = {"s3Bucket": self.bucket, "s3Key": self.key}
        if self.version_id:
            code["s3ObjectVersion"] = self.version_id
        return code


def object_key(prefix: str, sha256: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{sha256}.zip" if prefix else f"{sha256}.zip"


def _owner(settings) -> dict:
    return {"ExpectedBucketOwner": settings.expected_bucket_owner} if settings.expected_bucket_owner else {}


def _version(value) -> str | None:
    return value if value and value != "null" else None


def find(s3, bucket: str, key: str, sha256: str, settings) -> StagedObject | None:
    """The staged object when it is already in the bucket with this content, else None."""
    import botocore.exceptions as be

    try:
        head = s3.head_object(Bucket=bucket, Key=key, **_owner(settings))
    except be.ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        with calling(f"looking for s3://{bucket}/{key}", settings):
            raise
    except be.BotoCoreError:
        with calling(f"looking for s3://{bucket}/{key}", settings):
            raise
    stored = head.get("Metadata", {}).get(SHA_METADATA)
    if stored and stored != sha256:
        raise KxError(
            f"s3://{bucket}/{key} exists with different content (sha256 {stored})",
            hint="Someone wrote to kx-jupyter's prefix by hand; use another --prefix or remove that object.",
        )
    return StagedObject(bucket, key, _version(head.get("VersionId")), 0)


def upload(
    s3, data, sha256: str, bucket: str, key: str, settings, size: int | None = None, progress=None
) -> StagedObject:
    """Upload with a SHA-256 checksum the service verifies, the bucket owner and encryption when set.

    ``data`` is bytes or a binary stream at its start (a large bundle is streamed from disk);
    ``size`` is its length when it is a stream. ``progress(sent, total)`` hears how many bytes have
    gone out as botocore sends them (see ``Sending``).
    """
    extra = dict(_owner(settings))
    if settings.sse:
        extra["ServerSideEncryption"] = settings.sse
        if settings.sse == "aws:kms" and settings.kms_key_id:
            extra["SSEKMSKeyId"] = settings.kms_key_id
    checksum = base64.b64encode(bytes.fromhex(sha256)).decode()
    size = len(data) if size is None else size
    body = data
    if progress is not None:
        body = Sending(io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data, size, progress)
        _signing_is_not_sending(s3)
    with calling(f"uploading the bundle to s3://{bucket}/{key}", settings):
        put = s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=checksum,
            Metadata={SHA_METADATA: sha256},
            ContentType="application/zip",
            **extra,
        )
    return StagedObject(bucket, key, _version(put.get("VersionId")), size)


class Sending:
    """The bundle stream as botocore reads it, telling ``progress(sent, total)`` after each read.

    The position is what has been sent, so a retry (botocore seeks back to the start) starts
    again from 0. botocore also reads the whole body to sign it (over plain HTTP) before sending
    anything: those reads happen while ``sending`` is off (``_signing_is_not_sending``)."""

    def __init__(self, raw, total: int, progress):
        self._raw, self.total, self.progress = raw, total, progress
        self.sending = True

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data and self.sending:
            self.progress(self._raw.tell(), self.total)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


def _not_sending(request, **_):
    if isinstance(request.body, Sending):
        request.body.sending = False


def _sending(request, **_):
    if isinstance(request.body, Sending):
        request.body.sending = True


def _signing_is_not_sending(s3) -> None:
    """botocore signs a request (reading its body) while it emits ``request-created``: the first and the
    last handler of that event switch a ``Sending`` body's progress off and on around the signer.
    Registered once per client (``unique_id``); they leave any other body alone."""
    events, name = s3.meta.events, "request-created.s3"  # the signer's own event: first and last around it
    events.register_first(name, _not_sending, unique_id="kx-upload-not-sending")
    events.register_last(name, _sending, unique_id="kx-upload-sending")


def fetch(s3, bucket: str, key: str, version: str | None, settings, max_bytes: int) -> bytes:
    """The bytes of one object version (diff reads what a cluster runs)."""
    extra = dict(_owner(settings))
    if version:
        extra["VersionId"] = version
    where = f"s3://{bucket}/{key}" + (f" (version {version})" if version else "")
    with calling(f"downloading {where}", settings):
        got = s3.get_object(Bucket=bucket, Key=key, **extra)
        if got.get("ContentLength", 0) > max_bytes:
            raise KxError(
                f"{where} is larger than the bundle limit", hint="Raise KxJupyter.max_bundle_mb to diff it."
            )
        return got["Body"].read()


def exists(s3, bucket: str, key: str, version: str | None, settings) -> None:
    """Raise a KxError when an object version is gone (rollback needs it)."""
    extra = dict(_owner(settings))
    if version:
        extra["VersionId"] = version
    with calling(f"looking for s3://{bucket}/{key}" + (f" version {version}" if version else ""), settings):
        s3.head_object(Bucket=bucket, Key=key, **extra)
