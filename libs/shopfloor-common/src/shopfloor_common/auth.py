"""The admin key: 401 without it, 403 when it is wrong, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Security
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

from shopfloor_common.errors import Problem

ADMIN_KEY_HEADER = "X-API-Key"
_admin_key_scheme = APIKeyHeader(
    name=ADMIN_KEY_HEADER, auto_error=False, scheme_name="AdminKey", description="The ADMIN_API_KEY of the deployment."
)


def admin_guard(expected: SecretStr) -> Callable[[str | None], None]:
    """A FastAPI dependency that admits only requests carrying the admin key."""
    expected_bytes = expected.get_secret_value().encode()

    def require_admin(x_api_key: str | None = Security(_admin_key_scheme)) -> None:
        if not x_api_key:
            raise Problem(
                401,
                f"this operation needs the admin key in the {ADMIN_KEY_HEADER} header",
                type_="unauthorized",
                headers={"WWW-Authenticate": ADMIN_KEY_HEADER},
            )
        if not hmac.compare_digest(x_api_key.encode(), expected_bytes):
            raise Problem(403, f"the {ADMIN_KEY_HEADER} header does not hold the admin key", type_="forbidden")

    return require_admin
