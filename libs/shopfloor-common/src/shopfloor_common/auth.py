"""The admin key: 401 without it, 403 when it is wrong, compared in constant time.

Authentication comes before validation: FastAPI parses a JSON body before it runs a route's
dependencies, so a request with a wrong key and a malformed body used to get a 422 that described
the schema. A guard carries BEFORE_VALIDATION (a function of the request and the validation
errors), and the 422 handler (shopfloor_common.errors) runs the route's guards first: the
request gets the guard's 401/403 (or whatever answer the guard gives) instead.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.security import APIKeyHeader
from pydantic import SecretStr
from starlette.responses import Response

from shopfloor_common.errors import Problem

ADMIN_KEY_HEADER = "X-API-Key"
# The attribute of a dependency that checks a request before its validation errors are answered.
BEFORE_VALIDATION = "shopfloor_before_validation"
BeforeValidation = Callable[[Request, Sequence[Any]], Awaitable[Response | None]]
_admin_key_scheme = APIKeyHeader(
    name=ADMIN_KEY_HEADER, auto_error=False, scheme_name="AdminKey", description="The ADMIN_API_KEY of the deployment."
)


def admin_guard(expected: SecretStr) -> Callable[[str | None], None]:
    """A FastAPI dependency that admits only requests carrying the admin key."""
    expected_bytes = expected.get_secret_value().encode()

    def require_admin(x_api_key: str | None = Security(_admin_key_scheme)) -> None:
        check_admin_key(x_api_key, expected_bytes)

    async def before_validation(request: Request, _errors: Sequence[Any]) -> Response | None:
        require_admin(request.headers.get(ADMIN_KEY_HEADER))
        return None

    setattr(require_admin, BEFORE_VALIDATION, before_validation)
    return require_admin


def check_admin_key(x_api_key: str | None, expected_bytes: bytes | None) -> None:
    """401 when the key is missing; 403 when `expected_bytes` is given and the key differs."""
    if not x_api_key:
        raise Problem(
            401,
            f"this operation needs the admin key in the {ADMIN_KEY_HEADER} header",
            type_="unauthorized",
            headers={"WWW-Authenticate": ADMIN_KEY_HEADER},
        )
    if expected_bytes is not None and not hmac.compare_digest(x_api_key.encode(), expected_bytes):
        raise Problem(403, f"the {ADMIN_KEY_HEADER} header does not hold the admin key", type_="forbidden")


def _calls(dependant: Dependant) -> list[Callable[..., Any]]:
    calls: list[Callable[..., Any]] = []
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            calls.append(dependency.call)
        calls.extend(_calls(dependency))
    return calls


async def authenticate_before_validation(request: Request, errors: Sequence[Any]) -> Response | None:
    """The answer of the first guard of the request's route that does not let it through (or a
    Problem it raises); None when every guard admits the request (or the route has none)."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if not isinstance(dependant, Dependant):
        return None
    for call in _calls(dependant):
        check: BeforeValidation | None = getattr(call, BEFORE_VALIDATION, None)
        if check is not None:
            answer = await check(request, errors)
            if answer is not None:
                return answer
    return None
