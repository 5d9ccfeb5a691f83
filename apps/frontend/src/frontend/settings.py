"""The frontend's configuration: where the browser finds the API. Nothing else, so one image serves every
environment and the frontend itself never calls another service."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from shopfloor_common.settings import ServiceSettings

# Either a path on the page's own origin (/api) or an absolute http(s) URL (https://api.example.com/api);
# not "//host/api", which a browser reads as another host.
_API_URL = re.compile(r"^(/(?!/)[^\s?#]*|https?://[^/\s?#]+(/[^\s?#]*)?)$")


class FrontendSettings(ServiceSettings):
    service_name: str = Field(default="frontend", description="Name used in logs and metrics.")
    port: int = Field(default=3000, ge=1, le=65535, description="TCP port to listen on.")
    public_api_url: str = Field(
        default="/api",
        description="Where the browser calls the public API (the PRD's NEXT_PUBLIC_API_URL), read at start: "
        "a path on the page's own origin (/api) or an absolute URL (https://api.example.com/api), whose origin "
        "the Content-Security-Policy then allows and whose gateway must list this site in CORS_ALLOW_ORIGINS.",
    )

    @field_validator("public_api_url")
    @classmethod
    def _check_public_api_url(cls, value: str) -> str:
        value = value.strip()
        if not _API_URL.match(value):
            raise ValueError(
                f"expected a path like /api or an http(s) URL like https://shop.example.com/api, got {value!r}"
            )
        # "/api/" and "/api" name the same root; without the slash, root + "/orders" is one path.
        return value.rstrip("/") or "/"

    @property
    def api_origin(self) -> str | None:
        """The API's origin when it is not the page's own (None for a same-origin path)."""
        if self.public_api_url.startswith("/"):
            return None
        parts = urlsplit(self.public_api_url)
        return f"{parts.scheme}://{parts.netloc}"
