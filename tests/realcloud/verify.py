"""Checks a seed manifest against the real APIs after a sweep.

Every `selected` resource must answer 404; every `survivor` must still exist and not
be in an error or deleting state. Exits 1 with one line per failure, else 0.
Usage: verify.py MANIFEST [--cloud ci] [--region R] [--facts-out FACTS | --facts FACTS]

--facts-out records each survivor's attachments (a router's interfaces, a port's
device, a floating IP's port, a volume's servers, a group's rules, a secret container's
secrets); --facts then
checks them unchanged, so that nothing kept was left half-detached by a sweep that a
failure interrupted (the chaos stage).
"""

import argparse
import json
import sys
import time

import openstack
from openstack import exceptions

BAD_STATES = {"error", "error_deleting", "deleting", "deleted", "soft_deleted", "killed"}


def getter(conn, kind):
    """The show call of a kind, looked up only for that kind (a region may offer Neutron
    alone)."""
    if kind == "secret":
        return lambda rid: barbican_get(conn, "secrets", rid)
    if kind == "secret-container":
        return lambda rid: barbican_get(conn, "containers", rid)
    if kind in MANILA_PATHS:
        return lambda rid: manila_get(conn, kind, rid)
    if kind == "zone":
        return lambda rid: designate_get(conn, f"/zones/{rid}")
    if kind == "recordset":
        return lambda rid, zone: designate_get(conn, f"/zones/{zone}/recordsets/{rid}")
    service, method = {
        "server": ("compute", "get_server"),
        "server-group": ("compute", "get_server_group"),
        "keypair": ("compute", "get_keypair"),
        "port": ("network", "get_port"),
        "floating-ip": ("network", "get_ip"),
        "router": ("network", "get_router"),
        "subnet": ("network", "get_subnet"),
        "network": ("network", "get_network"),
        "security-group": ("network", "get_security_group"),
        "volume": ("block_storage", "get_volume"),
        "snapshot": ("block_storage", "get_snapshot"),
        "volume-backup": ("block_storage", "get_backup"),
        "image": ("image", "get_image"),
        "trunk": ("network", "get_trunk"),
        "port-forwarding": ("network", "get_port_forwarding"),
    }[kind]
    return getattr(getattr(conn, service), method)


class Shown:
    """A Barbican secret or container, a Manila object or a Designate zone or recordset,
    as shown (plain HTTP; a Barbican ID is its ref's tail)."""

    def __init__(self, body):
        self.body = body
        self.status = body.get("status")
        self.name = body.get("name")
        # Designate: a zone or recordset being deleted is `PENDING` with action `DELETE`.
        if body.get("action") == "DELETE":
            self.status = "deleting"


def designate_get(conn, path):
    """A zone or recordset; asked again for up to 60 s while Designate answers 5xx (its
    API, just back from a chaos round, drops a request or two while it reconnects)."""
    deadline = time.monotonic() + 60
    while True:
        resp = conn.dns.get(path, raise_exc=False)
        if resp.status_code < 500 or time.monotonic() > deadline:
            break
        time.sleep(1)
    if resp.status_code == 404:
        raise exceptions.NotFoundException(path)
    resp.raise_for_status()
    return Shown(resp.json())


# Manila kinds: (collection path, response key); shown at microversion 2.65.
MANILA_PATHS = {
    "share": ("shares", "share"),
    "share-snapshot": ("snapshots", "snapshot"),
    "share-network": ("share-networks", "share_network"),
}


def manila_get(conn, kind, rid):
    path, key = MANILA_PATHS[kind]
    resp = conn.shared_file_system.get(
        f"/{path}/{rid}", headers={"X-OpenStack-Manila-API-Version": "2.65"}, raise_exc=False)
    if resp.status_code == 404:
        raise exceptions.NotFoundException(f"{path}/{rid}")
    resp.raise_for_status()
    return Shown(resp.json()[key])


def barbican_get(conn, collection, rid):
    url = conn.session.get_endpoint(service_type="key-manager", interface="public")
    base = url.rstrip("/") + ("" if url.rstrip("/").endswith("/v1") else "/v1")
    resp = conn.session.get(f"{base}/{collection}/{rid}", raise_exc=False)
    if resp.status_code == 404:
        raise exceptions.NotFoundException(f"{collection}/{rid}")
    resp.raise_for_status()
    return Shown(resp.json())


def fetch(conn, kind, rid, parent=None):
    """The resource, or None when the API answers 404. `parent`: a port forwarding's
    floating IP, a recordset's zone."""
    try:
        if parent:
            return getter(conn, kind)(rid, parent)
        return getter(conn, kind)(rid)
    except exceptions.NotFoundException:
        return None


def check(conn, manifest):
    failures = []
    for item in manifest["selected"]:
        res = fetch(conn, item["kind"], item["id"], item.get("parent"))
        if res is not None:
            state = getattr(res, "status", None)
            if item["kind"] == "image" and str(state).lower() == "deleted":
                # Glance's own word that the delete happened: a MariaDB stop between
                # its two writes leaves the row listed, and no API call removes it.
                continue
            failures.append(f"left behind: {item['kind']} {item['id']} "
                            f"{getattr(res, 'name', '') or ''} (status {state})")
    for item in manifest["survivors"]:
        res = fetch(conn, item["kind"], item["id"], item.get("parent"))
        if res is None:
            failures.append(f"deleted but not selected: {item['kind']} {item['id']}")
            continue
        state = str(getattr(res, "status", "") or "").lower()
        if state in BAD_STATES:
            failures.append(f"survivor damaged: {item['kind']} {item['id']} "
                            f"{getattr(res, 'name', '') or ''} (status {state})")
    return failures


def facts(conn, kind, res):
    """What a survivor is attached to, as comparable JSON values."""
    net = conn.network
    if kind == "router":
        ports = net.ports(device_id=res.id)
        return {"interfaces": sorted(p.id for p in ports),
                "gateway": bool(res.external_gateway_info),
                "routes": sorted(str(r) for r in (res.routes or []))}
    if kind == "port":
        return {"device_id": res.device_id or "",
                "fixed_ips": sorted(ip["ip_address"] for ip in res.fixed_ips or []),
                "security_groups": sorted(res.security_group_ids or [])}
    if kind == "floating-ip":
        return {"port_id": res.port_id or ""}
    if kind == "volume":
        return {"servers": sorted(a["server_id"] for a in res.attachments or [])}
    if kind == "security-group":
        return {"rules": sorted(r["id"] for r in res.security_group_rules or [])}
    if kind == "subnet":
        return {"network_id": res.network_id}
    if kind == "trunk":
        return {"port_id": res.port_id,
                "sub_ports": sorted(s["port_id"] for s in res.sub_ports or [])}
    if kind == "port-forwarding":
        return {"internal_port_id": res.internal_port_id,
                "external_port": res.external_port}
    if kind == "server":
        return {"status": res.status}
    if kind == "secret-container":
        return {"secrets": sorted(r["secret_ref"].rsplit("/", 1)[-1]
                                  for r in res.body.get("secret_refs") or [])}
    return {}


def record_facts(conn, manifest):
    out = {}
    for item in manifest["survivors"]:
        res = fetch(conn, item["kind"], item["id"], item.get("parent"))
        if res is not None:
            out[f"{item['kind']} {item['id']}"] = facts(conn, item["kind"], res)
    return out


def check_facts(conn, manifest, before):
    failures = []
    now = record_facts(conn, manifest)
    for key, was in before.items():
        if key in now and now[key] != was:
            failures.append(f"survivor changed: {key}: was {was}, now {now[key]}")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest")
    ap.add_argument("--cloud", default="ci")
    ap.add_argument("--region", help="the region to check (default: the cloud's)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--facts-out", help="record the survivors' attachments here")
    group.add_argument("--facts", help="check the survivors' attachments against these")
    args = ap.parse_args()
    with open(args.manifest) as f:
        manifest = json.load(f)
    conn = openstack.connect(cloud=args.cloud,
                             **({"region_name": args.region} if args.region else {}))
    if args.facts_out:
        recorded = record_facts(conn, manifest)
        with open(args.facts_out, "w") as f:
            json.dump(recorded, f, indent=1, sort_keys=True)
        print(f"verify: recorded the attachments of {len(recorded)} survivors", file=sys.stderr)
        return 0
    failures = check(conn, manifest)
    if args.facts:
        with open(args.facts) as f:
            failures += check_facts(conn, manifest, json.load(f))
    for line in failures:
        print(line)
    n_sel, n_surv = len(manifest["selected"]), len(manifest["survivors"])
    if failures:
        print(f"verify: FAILED: {len(failures)} problem(s) "
              f"({n_sel} selected, {n_surv} survivors)", file=sys.stderr)
        return 1
    print(f"verify: ok: {n_sel} selected gone, {n_surv} survivors intact", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
