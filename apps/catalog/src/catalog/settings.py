from __future__ import annotations

from pathlib import Path

from pydantic import Field

from shopfloor_common.settings import AdminSettings, CacheSettings, DatabaseSettings, ServiceSettings


class CatalogSettings(ServiceSettings, DatabaseSettings, CacheSettings, AdminSettings):
    service_name: str = "catalog"
    port: int = Field(default=8081, ge=1, le=65535, description="TCP port to listen on.")
    database_url: str = Field(
        default="sqlite+aiosqlite:///var/local/catalog.db",
        description="SQLAlchemy URL of the catalog database (SQLite file locally, PostgreSQL in clusters).",
    )
    image_dir: Path = Field(
        default=Path("var/local/images"),
        description="Where uploaded images are kept when S3_BUCKET is unset (a PVC or EFS mount in a cluster).",
    )
    s3_bucket: str | None = Field(default=None, description="Store images in this S3 bucket instead of IMAGE_DIR.")
    s3_prefix: str = Field(default="images/", description="Key prefix for images in S3_BUCKET.")
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (tests, MinIO); unset = AWS.")
    aws_region: str = Field(default="us-east-1", description="AWS region of S3_BUCKET.")
    image_max_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024, description="Largest image upload accepted."
    )
    image_max_pixels: int = Field(
        default=25_000_000, ge=1, description="Largest image (width x height) accepted: refuses decompression bombs."
    )
    cache_stock_ttl_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="The bound on how old a cached product's stock may be: each product's stock is cached "
        "apart from the product, for at most this long, and rewritten by every reservation and release.",
    )
    public_image_base_url: str = Field(
        default="/api/images", description="Public URL prefix under which product images are served."
    )
