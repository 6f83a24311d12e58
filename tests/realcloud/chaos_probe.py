"""Records how the real services answer while a fault is on (the chaos stage).

  chaos_probe.py --cloud ci --fault NAME --stop-file PATH --out answers.json

Takes a token and the catalog's endpoints before the fault, then, until the stop file
appears, sends every 0.3 s one list request to each of Keystone (token validation),
Neutron, Nova and Cinder with that token, plain HTTP without retries. Each distinct
answer (service, HTTP status or the connection error's class, the error body's type
and message) is recorded once with how often it was seen and when first and last. The
simulator's chaos faults are held to these answers (sim/src/faults.rs, conformance).
"""

import argparse
import json
import os
import re
import time

import openstack
import requests

PATHS = {
    "identity": "/v3/auth/tokens",
    "network": "/v2.0/ports?limit=1",
    "compute": "/servers?limit=1",
    "block-storage": "/volumes?limit=1",
}
ALIASES = {"block-storage": ("block-storage", "volumev3", "volume")}


def endpoints(conn):
    access = conn.session.auth.get_access(conn.session)
    base = {}
    for key in PATHS:
        for svc in access.service_catalog.catalog:
            if svc.get("type") not in ALIASES.get(key, (key,)):
                continue
            for ep in svc.get("endpoints", []):
                if ep.get("interface") == "public":
                    base.setdefault(key, ep["url"].rstrip("/"))
    if "identity" in base:
        base["identity"] = re.sub(r"/v3$", "", base["identity"])
    if "network" in base and base["network"].endswith("/v2.0"):
        base["network"] = base["network"][: -len("/v2.0")]
    return access.auth_token, base


def shape(resp):
    """(status, error type, message) of an answer; bodies vary by service."""
    kind, message = None, None
    try:
        doc = resp.json()
    except ValueError:
        text = resp.text.strip()
        return resp.status_code, None, text[:200] or None
    if isinstance(doc, dict):
        if "NeutronError" in doc:
            kind = doc["NeutronError"].get("type")
            message = doc["NeutronError"].get("message")
        elif "error" in doc and isinstance(doc["error"], dict):
            kind = doc["error"].get("title")
            message = doc["error"].get("message")
        elif len(doc) == 1:
            (kind, inner), = doc.items()
            if isinstance(inner, dict):
                message = inner.get("message")
            else:
                kind = None
    if resp.status_code < 400:
        kind, message = None, None
    return resp.status_code, kind, (message or "")[:200] or None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cloud", default="ci")
    ap.add_argument("--fault", required=True)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    conn = openstack.connect(cloud=args.cloud)
    token, base = endpoints(conn)
    headers = {"X-Auth-Token": token, "X-Subject-Token": token,
               "Accept": "application/json",
               "OpenStack-API-Version": "volume 3.0"}
    seen = {}
    t0 = time.monotonic()
    while not os.path.exists(args.stop_file):
        for service, path in PATHS.items():
            if service not in base:
                continue
            try:
                resp = requests.get(base[service] + path, headers=headers, timeout=10)
                key = shape(resp)
            except requests.RequestException as e:
                reason = type(e).__name__
                if isinstance(e, requests.ConnectionError) and "refused" in str(e).lower():
                    reason = "ConnectionRefused"
                key = (None, reason, None)
            at = round(time.monotonic() - t0, 1)
            entry = seen.setdefault((service,) + key, {"count": 0, "first": at})
            entry["count"] += 1
            entry["last"] = at
        time.sleep(0.3)
    answers = [
        {"service": k[0], "status": k[1], "type": k[2], "message": k[3], **v}
        for k, v in sorted(seen.items(), key=lambda kv: kv[1]["first"])
    ]
    with open(args.out, "w") as f:
        json.dump({"fault": args.fault, "answers": answers}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
