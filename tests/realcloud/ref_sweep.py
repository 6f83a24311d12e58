"""Reference deleter: deletes a manifest's `selected` resources in a fixed known-good order.

Not stacksweep: a hard-coded order (the one in shared/realcloud.md) used to prove the
seed -> verify loop of the test bed on its own (run-stage.sh uses it when
REALCLOUD_SKIP_SWEEP=1), and as a baseline. Usage: ref_sweep.py MANIFEST [--cloud ci]
"""

import argparse
import json
import sys
import time

import openstack
from openstack import exceptions

ORDER = ["server", "floating-ip", "port", "router", "subnet", "network", "security-group",
         "server-group", "snapshot", "volume", "image", "keypair"]


def gone(fn, rid):
    try:
        fn(rid)
        return False
    except exceptions.NotFoundException:
        return True


def wait_gone(fn, rid, timeout=180):
    deadline = time.monotonic() + timeout
    while not gone(fn, rid):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{rid} still there after {timeout}s")
        time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest")
    ap.add_argument("--cloud", default="ci")
    args = ap.parse_args()
    with open(args.manifest) as f:
        manifest = json.load(f)
    conn = openstack.connect(cloud=args.cloud)
    net, cs, bs = conn.network, conn.compute, conn.block_storage
    by_kind = {k: [i["id"] for i in manifest["selected"] if i["kind"] == k] for k in ORDER}
    t0 = time.monotonic()
    for sid in by_kind["server"]:
        cs.delete_server(sid, ignore_missing=True)
    for sid in by_kind["server"]:
        wait_gone(cs.get_server, sid)
    for fid in by_kind["floating-ip"]:
        net.delete_ip(fid, ignore_missing=True)
    for pid in by_kind["port"]:
        net.delete_port(pid, ignore_missing=True)
    for rid in by_kind["router"]:
        router = net.get_router(rid)
        for port in net.ports(device_id=rid, device_owner="network:router_interface"):
            for ip in port.fixed_ips:
                net.remove_interface_from_router(router, subnet_id=ip["subnet_id"])
        if router.external_gateway_info:
            net.update_router(router, external_gateway_info={})
        net.delete_router(rid, ignore_missing=True)
    for kind, fn in (("subnet", net.delete_subnet), ("network", net.delete_network),
                     ("security-group", net.delete_security_group),
                     ("server-group", cs.delete_server_group)):
        for rid in by_kind[kind]:
            fn(rid, ignore_missing=True)
    for sid in by_kind["snapshot"]:
        bs.delete_snapshot(sid, ignore_missing=True)
    for sid in by_kind["snapshot"]:
        wait_gone(bs.get_snapshot, sid)
    for vid in by_kind["volume"]:
        vol = bs.get_volume(vid)
        bs.wait_for_status(vol, "available", failures=["error"], wait=180)
        bs.delete_volume(vid, ignore_missing=True)
    for vid in by_kind["volume"]:
        wait_gone(bs.get_volume, vid)
    for iid in by_kind["image"]:
        conn.image.delete_image(iid, ignore_missing=True)
    for name in by_kind["keypair"]:
        cs.delete_keypair(name, ignore_missing=True)
    print(f"ref_sweep: {len(manifest['selected'])} deleted in {time.monotonic() - t0:.1f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
