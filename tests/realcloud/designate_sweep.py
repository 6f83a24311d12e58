"""The sweep check of the Designate trial (designate-trial.sh sweep BIN).

  designate_sweep.py seed MANIFEST     leaked zones and recordsets (earlier ones deleted)
  designate_sweep.py verify MANIFEST   exit 1 unless the sweep took exactly the selection

Seeds, through the noauth API (`X-Auth-Project-ID`), for the selector
`--name-regex 'ci-job-1[.-]'` (unanchored: the zone's own records end in
`.ci-job-1.trial.example.`):
- `ci-job-1.trial.example.` with `www` and `mail` records: all selected, goes whole (its SOA
  and apex NS match the regex too: they must go only with the zone, never alone);
- `keep-1.trial.example.` (kept) holding `ci-job-1-api.keep-1...` (selected: goes alone)
  and `www.keep-1...` (kept);
- `other-1.trial.example.` (kept) with `www`: stays whole.
"""

import json
import os
import sys
import time

import requests

API = "http://127.0.0.1:9001/v2"
PROJECT = os.environ.get("DESIGNATE_TRIAL_PROJECT", "0123456789abcdef0123456789abcdef")


def session():
    s = requests.Session()
    s.headers.update({"X-Auth-Project-ID": PROJECT, "X-Roles": "member,reader"})
    return s


def ok(resp):
    if resp.status_code >= 400:
        raise SystemExit(f"{resp.request.method} {resp.url} -> {resp.status_code} {resp.text}")
    return resp.json()


def wait_active(s, path):
    deadline = time.monotonic() + 60
    while ok(s.get(API + path))["status"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise SystemExit(f"{path} not ACTIVE in 60 s")
        time.sleep(0.3)


def records(s, zid):
    return {(r["name"], r["type"]): r["id"]
            for r in ok(s.get(f"{API}/zones/{zid}/recordsets?limit=100"))["recordsets"]}


def reset(s):
    """Deletes what an earlier run left in the project."""
    left = [z["id"] for z in ok(s.get(f"{API}/zones?limit=100"))["zones"]]
    for zid in left:
        s.delete(f"{API}/zones/{zid}")
    deadline = time.monotonic() + 60
    while any(s.get(f"{API}/zones/{zid}").status_code != 404 for zid in left):
        if time.monotonic() > deadline:
            raise SystemExit("earlier zones not gone in 60 s")
        time.sleep(0.3)


def seed(path):
    s = session()
    reset(s)
    zones = {}
    for label, recs in [("ci-job-1", ["www", "mail"]), ("keep-1", ["ci-job-1-api", "www"]),
                        ("other-1", ["www"])]:
        name = f"{label}.trial.example."
        z = ok(s.post(f"{API}/zones", json={"name": name, "email": "ci@trial.example"}))
        wait_active(s, f"/zones/{z['id']}")
        for r in recs:
            rs = ok(s.post(f"{API}/zones/{z['id']}/recordsets", json={
                "name": f"{r}.{name}", "type": "A", "records": ["192.0.2.10"]}))
            wait_active(s, f"/zones/{z['id']}/recordsets/{rs['id']}")
        zones[label] = {"id": z["id"], "name": name, "records": records(s, z["id"])}
    sel_zone = zones["ci-job-1"]
    keep = zones["keep-1"]
    doc = {
        "selected_zones": [sel_zone["id"]],
        "selected_recordsets": [[keep["id"], keep["records"][(f"ci-job-1-api.{keep['name']}", "A")]]],
        "kept": {z["id"]: sorted(v for k, v in z["records"].items()
                                 if not k[0].startswith("ci-job-1-api."))
                 for z in (keep, zones["other-1"])},
    }
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"seeded {len(zones)} zones in project {PROJECT}")


def verify(path):
    with open(path) as f:
        doc = json.load(f)
    s = session()
    bad = []
    for zid in doc["selected_zones"]:
        if s.get(f"{API}/zones/{zid}").status_code != 404:
            bad.append(f"selected zone {zid} still there")
    for zid, rid in doc["selected_recordsets"]:
        if s.get(f"{API}/zones/{zid}/recordsets/{rid}").status_code != 404:
            bad.append(f"selected recordset {rid} still there")
    for zid, rids in doc["kept"].items():
        z = s.get(f"{API}/zones/{zid}")
        if z.status_code != 200 or z.json()["action"] == "DELETE":
            bad.append(f"kept zone {zid}: {z.status_code} {z.text[:200]}")
            continue
        have = set(records(s, zid).values())
        for rid in rids:
            if rid not in have:
                bad.append(f"kept zone {zid} lost recordset {rid}")
    for b in bad:
        print("FAIL", b)
    print("designate sweep check:", "FAILED" if bad else "ok (selection gone, SOA/NS and kept zones whole)")
    return 1 if bad else 0


if __name__ == "__main__":
    cmd, manifest = sys.argv[1], sys.argv[2]
    sys.exit(seed(manifest) if cmd == "seed" else verify(manifest))
