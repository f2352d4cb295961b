"""GET /openapi.json: on each listener (public, admin) a valid OpenAPI 3.1
document that lists exactly that app's routes, whose request-body schemas are
the validating models' own, and whose schemas the gateway's actual answers
satisfy."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema
from openapi_spec_validator import validate
from pydantic import BaseModel
from starlette.routing import Mount, Route

from gateway.app import create_admin_app, create_app
from gateway.models import BodyModel
from gateway.openapi import admin_document, document
from gateway.openapi.document import template
from gateway.openapi.spec import operation_for
from gateway.settings import GatewaySettings
from gateway.tests import fakes
from gateway.tests.conftest import Factory

ADMIN = {"Authorization": f"Bearer {fakes.ADMIN_TOKEN}"}
RESOURCE = {"identifier": "https://api.example.com/orders", "scopes": ["orders"]}
RESOURCE_PATH = "https%3A%2F%2Fapi.example.com%2Forders"
METHODS = {"get", "post", "put", "patch", "delete"}


def app_operations(admin_listener: bool = False) -> set[tuple[str, str]]:
    app = (create_admin_app if admin_listener else create_app)(GatewaySettings(), downstream=None)
    found = set()
    for route in app.routes:
        if isinstance(route, Mount):
            continue  # /static: files, not an API
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method.lower(), template(route.path)))
    return found


def request_bodies() -> list[tuple[str, str, type[BaseModel]]]:
    """(method, path, model) of every operation the apps' routes say takes a body."""
    settings = GatewaySettings()
    routes = [*create_app(settings).routes, *create_admin_app(settings).routes]
    found = []
    for route in routes:
        if isinstance(route, Route):
            for method in sorted(route.methods or ()):
                declared = operation_for(route.endpoint, method)
                if declared is not None and declared.body is not None:
                    found.append((method, template(route.path), declared.body.model))
    return found


def both_documents() -> dict[str, Any]:
    """The paths and component schemas of both listeners' documents in one."""
    public, admin = document("https://x"), admin_document("https://x")
    schemas = {**public["components"]["schemas"], **admin["components"]["schemas"]}
    return {"paths": {**public["paths"], **admin["paths"]}, "components": {"schemas": schemas}}


def documented_operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in doc["paths"].items()
        for method in item
        if method in METHODS
    }


def test_the_documents_are_valid_openapi_3_1() -> None:
    for doc in (document("https://auth.example.com"), admin_document("http://127.0.0.1:8081")):
        validate(doc)
        assert doc["openapi"].startswith("3.1")


def test_every_route_is_documented_and_nothing_else() -> None:
    assert documented_operations(document("https://x")) == app_operations()
    assert documented_operations(admin_document("https://x")) == app_operations(True)


def test_the_admin_api_is_documented_only_on_the_admin_listener() -> None:
    public = {path for _, path in app_operations()}
    admin = {path for _, path in app_operations(True)}
    assert not any(path.startswith("/admin") for path in public)
    assert "/metrics" not in public
    assert "/metrics" in admin and "/admin/api/clients" in admin


def test_every_operation_documents_its_errors() -> None:
    doc = both_documents()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses), (method, path)
            if path.startswith("/admin/api"):
                assert operation["security"] == [{"adminBearer": []}]
                for status in ("400", "401", "403", "404", "500", "503"):
                    schema = responses[status]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/OAuthError"}, (path, status)
                if "requestBody" in operation:
                    assert {"413", "415"} <= set(responses), (method, path)


def test_request_body_schemas_are_the_models_schemas() -> None:
    doc = both_documents()
    found = request_bodies()
    assert {path for _, path, _ in found} >= {"/admin/api/clients", "/oauth/register"}
    for method, path, model in found:
        [content] = doc["paths"][path][method.lower()]["requestBody"]["content"].values()
        assert content["schema"] == {"$ref": f"#/components/schemas/{model.__name__}"}
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schema.pop("$defs", None)
        assert doc["components"]["schemas"][model.__name__] == schema, model


def test_json_bodies_are_closed_unless_rfc_7591_says_otherwise() -> None:
    """The admin API refuses unknown fields; registration ignores them (RFC 7591
    section 2), and its schemas leave additionalProperties open to say so."""
    schemas = both_documents()["components"]["schemas"]
    for _, path, model in request_bodies():
        if issubclass(model, BodyModel):
            closed = schemas[model.__name__].get("additionalProperties") is False
            assert closed == path.startswith("/admin/api"), path


async def test_an_unknown_field_is_refused_with_the_documented_error(
    client: httpx.AsyncClient, admin_client: httpx.AsyncClient
) -> None:
    checker = Checker()
    refusing = [
        (method, path, model)
        for method, path, model in request_bodies()
        if issubclass(model, BodyModel) and model.model_config.get("extra") == "forbid"
    ]
    assert len(refusing) == 9
    for method, path, model in refusing:
        url = re.sub(r"\{[^}]+\}", "x", path)
        listener = admin_client if path.startswith("/admin/") else client
        response = await listener.request(method, url, headers=ADMIN, json={"colour": "red"})
        checker.check(response)
        assert response.status_code == 400, (method, path)
        assert response.json() == {
            "error": model.error_policy.error.error,
            "error_description": "Unknown field 'colour'",
        }


async def test_served_as_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["servers"] == [{"url": "https://auth.example.com"}]
    assert response.json()["paths"].keys() == document("x")["paths"].keys()


async def test_the_admin_listener_serves_its_own(make_client: Factory) -> None:
    admin_client = await make_client("http://127.0.0.1:8081", admin_listener=True)
    response = await admin_client.get("/openapi.json")
    assert response.status_code == 200
    # Not the issuer: the admin listener has no public name, only where it was asked.
    assert response.json()["servers"] == [{"url": "http://127.0.0.1:8081"}]
    assert response.json()["paths"].keys() == admin_document("x")["paths"].keys()


class Checker:
    """Each answer's status, content type and body must be what the document says."""

    def __init__(self) -> None:
        self.doc = both_documents()
        self.templates = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
            for path in self.doc["paths"]
        ]

    def check(self, response: httpx.Response) -> None:
        request = response.request
        # Still encoded: a resource identifier is one segment with its "/" as %2F.
        raw_path = request.url.raw_path.decode("ascii").partition("?")[0]
        path = next(t for pattern, t in self.templates if pattern.match(raw_path))
        operation = self.doc["paths"][path][request.method.lower()]
        documented = operation["responses"].get(str(response.status_code))
        assert documented is not None, (request.method, path, response.status_code)
        content = documented.get("content")
        if not content:
            return
        media_type = response.headers["content-type"].partition(";")[0]
        assert media_type in content, (path, media_type)
        if media_type == "application/json":
            schema = {**content[media_type]["schema"], "components": self.doc["components"]}
            jsonschema.validate(response.json(), schema, format_checker=jsonschema.FormatChecker())


async def test_answers_match_the_document(
    admin_client: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    checker = Checker()
    public_client, client = client, admin_client
    created = await client.post(
        "/admin/api/clients", headers=ADMIN, json={"client_name": "doc", "client_id": "doc"}
    )
    user = await client.post(
        "/admin/api/users", headers=ADMIN, json={"username": "doc", "password": "long enough"}
    )
    user_id = user.json()["user_id"]
    answers = [
        created,
        user,
        await client.get("/admin/api/clients", headers=ADMIN, params={"page_size": 1}),
        await client.get("/admin/api/clients/doc", headers=ADMIN),
        await client.patch("/admin/api/clients/doc", headers=ADMIN, json={"scope": "a"}),
        await client.post("/admin/api/clients/doc/secret", headers=ADMIN),
        await client.get("/admin/api/users", headers=ADMIN),
        await client.get(f"/admin/api/users/{user_id}", headers=ADMIN),
        await client.patch(f"/admin/api/users/{user_id}", headers=ADMIN, json={"name": "D"}),
        await client.post(
            f"/admin/api/users/{user_id}/password", headers=ADMIN, json={"password": "xxxxxxxx"}
        ),
        await client.get("/admin/api/grants", headers=ADMIN, params={"client_id": "photo-book"}),
        await client.delete("/admin/api/grants/fam-1", headers=ADMIN),
        await client.delete("/admin/api/grants", headers=ADMIN, params={"user_id": "u-granted"}),
        await client.get("/admin/api/keys", headers=ADMIN),
        await client.post("/admin/api/keys/rotate", headers=ADMIN, json={"alg": "ES256"}),
        await client.post("/admin/api/keys/k-rs/retire", headers=ADMIN),
        await client.get("/admin/api/stats", headers=ADMIN),
        await client.get("/admin/api/audit", headers=ADMIN),
        await client.post("/admin/api/registration-tokens", headers=ADMIN, json={}),
        await client.post("/admin/api/resources", headers=ADMIN, json=RESOURCE),
        await client.get("/admin/api/resources", headers=ADMIN, params={"page_size": 1}),
        await client.get(f"/admin/api/resources/{RESOURCE_PATH}", headers=ADMIN),
        await client.patch(
            f"/admin/api/resources/{RESOURCE_PATH}", headers=ADMIN, json={"name": "R"}
        ),
        await client.delete(f"/admin/api/resources/{RESOURCE_PATH}", headers=ADMIN),
        await client.get(f"/admin/api/resources/{RESOURCE_PATH}", headers=ADMIN),
        await client.post("/admin/api/resources", headers=ADMIN, json={"identifier": "x"}),
        await client.delete(f"/admin/api/users/{user_id}", headers=ADMIN),
        await client.delete("/admin/api/clients/doc", headers=ADMIN),
        # Errors.
        await client.get("/admin/api/clients"),
        await client.get("/admin/api/clients", headers={"Authorization": "Bearer bad"}),
        await client.get("/admin/api/clients", headers={"Authorization": "Bearer good-token"}),
        await client.get("/admin/api/clients/nope", headers=ADMIN),
        await client.post("/admin/api/clients", headers=ADMIN, content=b"x"),
        await client.post("/admin/api/users", headers=ADMIN, json={}),
        await client.get("/metrics"),
        await client.get("/health"),
        await client.get("/openapi.json"),
    ]
    client = public_client
    answers += [
        await client.get("/health"),
        await client.get("/ready"),
        await client.get("/oauth/jwks"),
        await client.get("/.well-known/openid-configuration"),
        await client.get("/.well-known/oauth-authorization-server"),
        await client.post("/oauth/token", data={"grant_type": "client_credentials"}),
        await client.post("/oauth/token", data={}),
        await client.post("/oauth/introspect", data={"token": "x"}),
        await client.post("/oauth/revoke", data={"token": "x"}),
        await client.get("/oauth/userinfo", headers={"Authorization": "Bearer good-token"}),
        await client.get("/oauth/userinfo", headers=ADMIN),
        await client.get("/oauth/authorize", params={"client_id": "nope"}),
        await client.get("/login"),
        await client.get("/logout"),
        await client.get("/openapi.json"),
    ]
    for answer in answers:
        checker.check(answer)
