"""Product images: content sniffed and verified with Pillow, stored under a content-addressed name.

The file name and the client's Content-Type are never trusted: the bytes must decode as one of
the allowed formats. Names are `<sku>-<sha256 prefix>.<ext>`, so a stored image never changes
and can be served with an immutable cache header.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any, Protocol

from PIL import Image, UnidentifiedImageError

from shopfloor_common.errors import Problem
from shopfloor_common.faults import FaultSwitch

FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
    "GIF": ("gif", "image/gif"),
}
MEDIA_TYPES = dict(FORMATS.values())
IMAGE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}-[0-9a-f]{16}\.(jpg|png|webp|gif)$")


def sniff_image(data: bytes, max_pixels: int) -> str:
    """Return the file extension for the image in `data`, or raise a 415/422 problem."""
    allowed = ", ".join(sorted(FORMATS))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind = image.format
                width, height = image.size
                image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise Problem(
            415, f"image: the file is not a {allowed} image", type_="unsupported-image", field="image"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise Problem(422, f"image: the file is damaged ({exc})", type_="damaged-image", field="image") from None
    if kind not in FORMATS:
        raise Problem(415, f"image: {kind} is not accepted, only {allowed}", type_="unsupported-image", field="image")
    if width * height > max_pixels:
        raise Problem(
            422, f"image: {width}x{height} pixels is more than {max_pixels}", type_="image-too-large", field="image"
        )
    return FORMATS[kind][0]


def image_name(sku: str, data: bytes, extension: str) -> str:
    return f"{sku}-{hashlib.sha256(data).hexdigest()[:16]}.{extension}"


class ImageStorage(Protocol):
    async def put(self, name: str, data: bytes, media_type: str) -> None: ...
    async def get(self, name: str) -> bytes | None: ...
    async def delete(self, name: str) -> None: ...
    async def check(self) -> None: ...


class LocalImageStorage:
    """A directory: local disk for `make run`, a PVC or EFS mount in a cluster."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def put(self, name: str, data: bytes, media_type: str) -> None:
        await asyncio.to_thread(self._write_atomically, name, data)

    def _write_atomically(self, name: str, data: bytes) -> None:
        # Write aside and rename: a crash leaves either no file or the whole file.
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temp, self.directory / name)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    async def get(self, name: str) -> bytes | None:
        path = self.directory / name
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, name: str) -> None:
        (self.directory / name).unlink(missing_ok=True)

    async def check(self) -> None:
        if not os.access(self.directory, os.W_OK):
            raise PermissionError(f"{self.directory} is not writable")


class S3ImageStorage:
    """An S3 bucket through boto3 (its blocking calls run in a worker thread)."""

    def __init__(self, bucket: str, prefix: str, region: str, endpoint_url: str | None = None) -> None:
        import boto3

        self.bucket = bucket
        self.prefix = prefix
        self._s3: Any = boto3.client("s3", region_name=region, endpoint_url=endpoint_url)

    async def put(self, name: str, data: bytes, media_type: str) -> None:
        await asyncio.to_thread(
            self._s3.put_object,
            Bucket=self.bucket,
            Key=self.prefix + name,
            Body=data,
            ContentType=media_type,
            CacheControl="public, max-age=31536000, immutable",
        )

    async def get(self, name: str) -> bytes | None:
        try:
            response = await asyncio.to_thread(self._s3.get_object, Bucket=self.bucket, Key=self.prefix + name)
        except self._s3.exceptions.NoSuchKey:
            return None
        body: bytes = await asyncio.to_thread(response["Body"].read)
        return body

    async def delete(self, name: str) -> None:
        await asyncio.to_thread(self._s3.delete_object, Bucket=self.bucket, Key=self.prefix + name)

    async def check(self) -> None:
        await asyncio.to_thread(self._s3.head_bucket, Bucket=self.bucket)


class IoFaultingStorage:
    """A store whose reads and writes fail with EIO while the fault switch holds `io-errors` on,
    as a failing volume's would (shopfloor_common.faults)."""

    def __init__(self, store: ImageStorage, faults: FaultSwitch) -> None:
        self.store = store
        self.faults = faults

    async def put(self, name: str, data: bytes, media_type: str) -> None:
        self.faults.raise_if_io_fault(f"writing {name}")
        await self.store.put(name, data, media_type)

    async def get(self, name: str) -> bytes | None:
        self.faults.raise_if_io_fault(f"reading {name}")
        return await self.store.get(name)

    async def delete(self, name: str) -> None:
        await self.store.delete(name)

    async def check(self) -> None:
        await self.store.check()
