"""Checks stacksweep's preflight and quota accounting against the real test bed.

  quota_check.py preflight PREFLIGHT.json   the kinds of services the bed lacks absent, every other
                                            kind usable, preflight ok (--network-only: RegionTwo,
                                            Neutron's kinds usable, every other one absent)
  quota_check.py freed SWEEP.json           the quota a sweep reports freed matches what
                                            its report says it deleted
  quota_check.py usage --cloud NAME SWEEP.json
                                            the usage stacksweep read before the sweep
                                            (run it with --dry-run on an idle bed) equals
                                            what Nova, Neutron and Cinder answer now

Exits 1 with a list of differences. Runs as the project member, like the janitor.
"""
import argparse
import json
import sys

# Kinds whose service (or Neutron plugin) the bed does not run: preflight must call them
# absent, not failed. Octavia, Heat and Swift are not installed (the bed runs Barbican,
# Manila and Designate in RegionOne, and its Neutron loads the trunk and port forwarding
# plugins).
ABSENT = {"load-balancer", "stack", "container"}

# Our quota resource -> the kind whose deletions free it, one for one.
FREED_BY = {
    "networks": "network",
    "subnets": "subnet",
    "routers": "router",
    "floating_ips": "floating-ip",
    "security_groups": "security-group",
    "volumes": "volume",
    "snapshots": "snapshot",
    "server_groups": "server-group",
}


def target(doc):
    t = doc["targets"][0]
    if t.get("error"):
        sys.exit(f"stacksweep failed: {t['error']}")
    return t


# Neutron's kinds (with the trunk and port forwarding plugins): all RegionTwo offers.
NETWORK = {"port", "floating-ip", "router", "subnet", "network", "security-group", "trunk",
           "port-forwarding"}


def check_preflight(path, network_only=False):
    t = target(json.load(open(path)))
    bad = []
    for k in t["preflight"]["kinds"]:
        if network_only:
            want = "usable" if k["kind"] in NETWORK else "absent"
        else:
            want = "absent" if k["kind"] in ABSENT else "usable"
        if k["status"] != want:
            bad.append(f"{k['kind']}: {k['status']} (want {want}) {k.get('detail') or ''}")
    if not t["ok"]:
        bad.append("preflight not ok")
    return bad


def check_freed(path):
    t = target(json.load(open(path)))
    quota, kinds = t["quota"], t["report"]["kinds"]
    bad = [f"quota unavailable: {s}: {why}" for s, why in quota["before"]["unavailable"].items()]
    freed = quota["freed"]
    for res, kind in FREED_BY.items():
        deleted = kinds.get(kind, {}).get("deleted", 0)
        if freed.get(res, 0) != deleted:
            bad.append(f"{res}: freed {freed.get(res, 0)}, deleted {deleted} {kind}(s)")
    # Servers the seed deleted itself may finish during the sweep: freed >= deleted.
    servers = kinds.get("server", {}).get("deleted", 0)
    if freed.get("instances", 0) < servers:
        bad.append(f"instances: freed {freed.get('instances', 0)} < deleted {servers} server(s)")
    print(f"freed: {freed}", file=sys.stderr)
    return bad


def check_usage(cloud, path):
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from conformance import Http  # the same plain-HTTP client, endpoints from the catalog

    t = target(json.load(open(path)))
    ours = t["quota"]["before"]["usage"]
    http = Http(cloud)
    pid = http.project_id
    theirs = {}
    _, lim = http.call("compute", "GET", "/limits")
    a = lim["limits"]["absolute"]
    for res, mx, used in [
        ("instances", "maxTotalInstances", "totalInstancesUsed"),
        ("cores", "maxTotalCores", "totalCoresUsed"),
        ("ram_mib", "maxTotalRAMSize", "totalRAMUsed"),
        ("server_groups", "maxServerGroups", "totalServerGroupsUsed"),
    ]:
        theirs[res] = (a[mx], a[used])
    _, net = http.call("network", "GET", f"/quotas/{pid}/details")
    for res, name in [
        ("networks", "network"), ("subnets", "subnet"), ("ports", "port"),
        ("routers", "router"), ("floating_ips", "floatingip"),
        ("security_groups", "security_group"), ("security_group_rules", "security_group_rule"),
    ]:
        q = net["quota"][name]
        theirs[res] = (q["limit"], q["used"])
    _, vol = http.call("block-storage", "GET", f"/os-quota-sets/{pid}?usage=true")
    for res, name in [("volumes", "volumes"), ("volume_gigabytes", "gigabytes"), ("snapshots", "snapshots")]:
        q = vol["quota_set"][name]
        theirs[res] = (q["limit"], q["in_use"])
    bad = []
    for res, (limit, used) in theirs.items():
        mine = ours.get(res)
        want = {"limit": None if limit < 0 else limit, "used": used}
        if mine != want:
            bad.append(f"{res}: stacksweep read {mine}, the service says {want}")
    return bad


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["preflight", "freed", "usage"])
    p.add_argument("file")
    p.add_argument("--cloud", default="ci")
    p.add_argument("--network-only", action="store_true")
    a = p.parse_args()
    if a.what == "preflight":
        bad = check_preflight(a.file, a.network_only)
    elif a.what == "freed":
        bad = check_freed(a.file)
    else:
        bad = check_usage(a.cloud, a.file)
    if bad:
        sys.exit(f"{a.what}: " + "; ".join(bad))
    print(f"{a.what}: ok", file=sys.stderr)


if __name__ == "__main__":
    main()
