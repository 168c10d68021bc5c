"""Checking a real response against the OpenAPI document: its status documented, its body valid against the schema."""

from __future__ import annotations

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

DOCUMENT_URI = "urn:gateway:openapi"


def pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def assert_matches_documentation(document: dict, path: str, method: str, response) -> None:
    """The response's status is documented for this operation, its body is
    valid against that status's schema and it carries X-Request-Id."""
    responses = document["paths"][path][method]["responses"]
    status = str(response.status)
    assert status in responses, f"{method.upper()} {path} answered {status}, documented: {sorted(responses)}"
    assert response.header("X-Request-Id")
    location = pointer("paths", path, method, "responses", status, "content", "application/json", "schema")
    registry = Registry().with_resource(DOCUMENT_URI, DRAFT202012.create_resource(document))
    validator = Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#/{location}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(response.body)]
    assert not problems, f"{method.upper()} {path} {status}: {problems[:5]}"
