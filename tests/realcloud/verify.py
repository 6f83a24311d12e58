"""Checks a seed manifest against the real APIs after a sweep.

Every `selected` resource must answer 404; every `survivor` must still exist and not
be in an error or deleting state. Exits 1 with one line per failure, else 0.
Usage: verify.py MANIFEST [--cloud ci]
"""

import argparse
import json
import sys

import openstack
from openstack import exceptions

BAD_STATES = {"error", "error_deleting", "deleting", "deleted", "soft_deleted", "killed"}


def getter(conn, kind):
    net, cs, bs = conn.network, conn.compute, conn.block_storage
    return {
        "server": cs.get_server,
        "server-group": cs.get_server_group,
        "keypair": cs.get_keypair,
        "port": net.get_port,
        "floating-ip": net.get_ip,
        "router": net.get_router,
        "subnet": net.get_subnet,
        "network": net.get_network,
        "security-group": net.get_security_group,
        "volume": bs.get_volume,
        "snapshot": bs.get_snapshot,
        "image": conn.image.get_image,
    }[kind]


def fetch(conn, kind, rid):
    """The resource, or None when the API answers 404."""
    try:
        return getter(conn, kind)(rid)
    except exceptions.NotFoundException:
        return None


def check(conn, manifest):
    failures = []
    for item in manifest["selected"]:
        res = fetch(conn, item["kind"], item["id"])
        if res is not None:
            state = getattr(res, "status", None)
            failures.append(f"left behind: {item['kind']} {item['id']} "
                            f"{getattr(res, 'name', '') or ''} (status {state})")
    for item in manifest["survivors"]:
        res = fetch(conn, item["kind"], item["id"])
        if res is None:
            failures.append(f"deleted but not selected: {item['kind']} {item['id']}")
            continue
        state = str(getattr(res, "status", "") or "").lower()
        if state in BAD_STATES:
            failures.append(f"survivor damaged: {item['kind']} {item['id']} "
                            f"{getattr(res, 'name', '') or ''} (status {state})")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest")
    ap.add_argument("--cloud", default="ci")
    args = ap.parse_args()
    with open(args.manifest) as f:
        manifest = json.load(f)
    conn = openstack.connect(cloud=args.cloud)
    failures = check(conn, manifest)
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
