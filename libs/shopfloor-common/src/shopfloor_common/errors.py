"""RFC 9457 problem+json for every error the services return.

Handlers cover our own `Problem`, Starlette/FastAPI HTTP errors (404, 405, ...), request
validation (the body, query and path fields that are wrong, by name) and anything unexpected,
which is logged with its traceback and answered with a bare 500: no stack trace reaches a client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from shopfloor_common.logs import request_id_var

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://shopfloor.dev/problems/"


class Problem(Exception):
    """An error a client should see, with a stable `type` slug and optional extension members."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type_
        self.title = title or HTTPStatus(status).phrase
        self.headers = dict(headers or {})
        self.extensions = extensions


def problem_body(
    status: int,
    detail: str,
    *,
    type_: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + type_ if type_ else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    request_id = request_id_var.get()
    if request_id:
        body["request_id"] = request_id
    body.update(extensions)
    return body


def problem_response(
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, detail, **kwargs), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


def _field_name(location: Sequence[Any]) -> str:
    # ("body", "price_cents") -> "price_cents"; ("query", "limit") -> "limit"; nested: "items[0].sku"
    parts = list(location[1:] if location and location[0] in {"body", "query", "path", "header"} else location)
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or str(location[0] if location else "body")


def validation_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for error in errors:
        location = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            # The location's second part is a character offset, not a field.
            position = location[1] if len(location) > 1 else "?"
            out.append({"field": "body", "in": "body", "message": f"not valid JSON (at character {position})"})
            continue
        out.append(
            {
                "field": _field_name(location),
                "in": str(location[0]) if location else "body",
                "message": str(error.get("msg", "invalid")),
            }
        )
    return out


async def _problem_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(
        exc.status, exc.detail, type_=exc.type, title=exc.title, headers=exc.headers, **exc.extensions
    )


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route for {request.method} {request.url.path}"
    return problem_response(exc.status_code, detail, headers=exc.headers)


async def _validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Authenticate before describing the schema (shopfloor_common.auth): imported here, auth
    # imports this module.
    from shopfloor_common.auth import authenticate_before_validation

    try:
        answer = await authenticate_before_validation(request, exc.errors())
    except Problem as refused:
        return await _problem_handler(request, refused)
    if answer is not None:
        return answer
    errors = validation_errors(exc.errors())
    fields = ", ".join(sorted({e["field"] for e in errors}))
    return problem_response(
        422, f"invalid request: {fields}", type_="validation", title="Invalid request", errors=errors
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _problem_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    # Unexpected exceptions are answered by ObservabilityMiddleware (see there for why).


class FieldError(BaseModel):
    field: str = Field(description="The field, e.g. `price_cents` or `items[0].quantity`.")
    in_: str = Field(alias="in", description="body, query, path or header")
    message: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, as every error is answered."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    request_id: str | None = Field(default=None, description="The X-Request-ID of the failed request.")
    errors: list[FieldError] | None = Field(default=None, description="On 422: each invalid field.")


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Make the OpenAPI document say what the handlers do: every 4xx/5xx is problem+json.

    FastAPI documents its validation errors as `application/json` HTTPValidationError; here they
    (and any error response documented without a schema) become `application/problem+json`
    ProblemDetails, so clients and schema checkers see the real shape.
    """
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    problem_schema = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["ProblemDetails"] = problem_schema
    reference = {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
    for path in openapi.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                if not (str(status).startswith(("4", "5"))):
                    continue
                content = response.setdefault("content", {})
                content.pop("application/json", None)
                content["application/problem+json"] = reference
    return openapi
