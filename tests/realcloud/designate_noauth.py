"""Designate's API for the trial (designate-trial.sh), served by gunicorn, no Keystone.

`designate_noauth:application` wraps Designate's own WSGI app (`designate.wsgi.api`,
`auth_strategy = noauth`):
- requests to Designate get the caller's project from the token (`trial:<project>`, as
  issued below) as `X-Auth-Project-ID`, and the roles `member,reader` unless they name
  their own (`X-Auth-Project-ID`, `X-Roles`): Designate's noauth context would otherwise
  make every caller an admin of `noauth-project`;
- `/identity/v3` is a stand-in Keystone for clients that only speak Keystone (stacksweep,
  openstacksdk): any password or application credential gets a token for the project
  asked for (by id, else by name, else `$DESIGNATE_TRIAL_PROJECT`), roles member and
  reader, and a catalog with only `dns` (this server) and `identity`.

Environment: `OS_DESIGNATE_CONFIG_DIR` (api-paste.ini and designate.conf),
`DESIGNATE_TRIAL_URL` (this server's URL, default http://127.0.0.1:9001),
`DESIGNATE_TRIAL_PROJECT` (default project id).
"""

import datetime
import json
import os
import sys

sys.argv = sys.argv[:1]  # oslo.config parses argv: gunicorn's flags are not its own

from designate.wsgi import api  # noqa: E402

URL = os.environ.get("DESIGNATE_TRIAL_URL", "http://127.0.0.1:9001").rstrip("/")
PROJECT = os.environ.get("DESIGNATE_TRIAL_PROJECT", "0123456789abcdef0123456789abcdef")
PREFIX = "trial:"


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _project_of(body):
    """The project a token request is scoped to (its id; a name is used as the id)."""
    scope = ((body.get("auth") or {}).get("scope") or {}).get("project") or {}
    return scope.get("id") or scope.get("name") or PROJECT


def _token(project):
    now = _now()
    endpoint = [{"id": "dns-public", "interface": "public", "region_id": "RegionOne",
                 "region": "RegionOne", "url": URL}]
    identity = [{"id": "identity-public", "interface": "public", "region_id": "RegionOne",
                 "region": "RegionOne", "url": URL + "/identity"}]
    return {"token": {
        "methods": ["password"],
        "issued_at": _stamp(now),
        "expires_at": _stamp(now + datetime.timedelta(hours=12)),
        "user": {"id": "trial-user", "name": "trial-user",
                 "domain": {"id": "default", "name": "Default"}},
        "project": {"id": project, "name": project,
                    "domain": {"id": "default", "name": "Default"}},
        "roles": [{"id": "member", "name": "member"}, {"id": "reader", "name": "reader"}],
        "catalog": [
            {"id": "dns", "type": "dns", "name": "designate", "endpoints": endpoint},
            {"id": "identity", "type": "identity", "name": "keystone", "endpoints": identity},
        ],
    }}


def _json(start_response, status, doc, headers=()):
    data = json.dumps(doc).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))] + list(headers))
    return [data]


def identity(environ, start_response):
    """The stand-in Keystone under /identity."""
    path = environ.get("PATH_INFO", "")[len("/identity"):].rstrip("/") or "/"
    method = environ.get("REQUEST_METHOD", "GET")
    if path in ("/", "/v3") and method == "GET":
        version = {"id": "v3.14", "status": "stable", "updated": "2024-01-01T00:00:00Z",
                   "links": [{"rel": "self", "href": URL + "/identity/v3/"}],
                   "media-types": [{"base": "application/json",
                                    "type": "application/vnd.openstack.identity-v3+json"}]}
        if path == "/v3":
            return _json(start_response, "200 OK", {"version": version})
        return _json(start_response, "300 Multiple Choices", {"versions": {"values": [version]}})
    if path == "/v3/auth/tokens" and method == "POST":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            body = json.loads(environ["wsgi.input"].read(size) or b"{}")
        except ValueError:
            body = {}
        project = _project_of(body)
        return _json(start_response, "201 Created", _token(project),
                     [("X-Subject-Token", PREFIX + project)])
    if path == "/v3/auth/tokens" and method in ("GET", "HEAD"):
        token = environ.get("HTTP_X_SUBJECT_TOKEN", "")
        if not token.startswith(PREFIX):
            return _json(start_response, "404 Not Found", {"error": {
                "code": 404, "title": "Not Found", "message": "token not found"}})
        return _json(start_response, "200 OK", _token(token[len(PREFIX):]),
                     [("X-Subject-Token", token)])
    return _json(start_response, "404 Not Found", {"error": {
        "code": 404, "title": "Not Found", "message": f"not in the stand-in: {path}"}})


def application(environ, start_response):
    """Designate with the caller's project, or the stand-in Keystone."""
    if environ.get("PATH_INFO", "").startswith("/identity"):
        return identity(environ, start_response)
    token = environ.get("HTTP_X_AUTH_TOKEN", "")
    if "HTTP_X_AUTH_PROJECT_ID" not in environ:
        environ["HTTP_X_AUTH_PROJECT_ID"] = (
            token[len(PREFIX):] if token.startswith(PREFIX) else PROJECT)
    environ.setdefault("HTTP_X_ROLES", "member,reader")
    return api.application(environ, start_response)
