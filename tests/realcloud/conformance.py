"""Conformance suite: the same deletes, in wrong and right order, sent to a cloud.

  conformance.py --cloud NAME --out results.json   run every case, record answers
  conformance.py --compare real.json sim.json      table; exit 1 on any difference

Every check records (HTTP status, error type) of one request. The error type is
NeutronError.type for Neutron, the body's single key (badRequest, itemNotFound,
...) for Nova and Cinder, and null for Glance (text bodies) and successes. Some
checks record a fact instead of a request (`fact`, e.g. "port_id=null").

Plain HTTP through keystoneauth with endpoints from the token's catalog (never
hard-coded ports, no version discovery), so it runs unchanged against the real test
bed and against `stacksweep sim`. Runs as the project member. It expects, as the
test bed provides: an external network (`public`, else the first router:external
one), a flavor (`ci.tiny`, else the smallest). Each case cleans up after itself.
"""

import argparse
import json
import sys
import time
import uuid

import openstack

ALIASES = {
    "network": ["network"],
    "compute": ["compute"],
    "block-storage": ["block-storage", "volumev3", "volume", "block-store"],
    "image": ["image"],
}
# Services a cloud may lack: their cases are recorded as skipped when the catalog has
# none of these types (the engine reports their kinds absent, never an error).
OPTIONAL = {
    "key-manager": ["key-manager"],
    "dns": ["dns"],
    "share": ["shared-file-system", "sharev2"],
}
WAIT = 180


class Skip(Exception):
    """A case whose service the cloud does not offer."""


class Http:
    """Requests to one cloud's services by catalog type, answers as (status, body)."""

    def __init__(self, cloud):
        self.conn = openstack.connect(cloud=cloud)
        self.sess = self.conn.session
        access = self.sess.auth.get_access(self.sess)
        self.project_id = access.project_id
        region = self.conn.config.region_name
        catalog = access.service_catalog.catalog
        self.base = {}
        for key, types in list(ALIASES.items()) + list(OPTIONAL.items()):
            for t in types:
                for svc in catalog:
                    if svc.get("type") != t:
                        continue
                    for ep in svc.get("endpoints", []):
                        if ep.get("interface") == "public" and (
                            not region or ep.get("region_id", ep.get("region")) in (region, None)
                        ):
                            self.base.setdefault(key, ep["url"].rstrip("/"))
        missing = [k for k in ALIASES if k not in self.base]
        if missing:
            raise SystemExit(f"catalog lacks {missing}")
        if not self.base["network"].endswith("/v2.0"):
            self.base["network"] += "/v2.0"
        if not self.base["image"].endswith("/v2"):
            self.base["image"] += "/v2"
        if "key-manager" in self.base and not self.base["key-manager"].endswith("/v1"):
            self.base["key-manager"] += "/v1"
        if "share" in self.base and "/v2" not in self.base["share"]:
            self.base["share"] += "/v2"
        if "dns" in self.base and not self.base["dns"].endswith("/v2"):
            self.base["dns"] += "/v2"

    def require(self, service):
        """Skips the case when the cloud has no `service` (an optional one)."""
        if service not in self.base:
            raise Skip(f"no {service} in the catalog")

    def call(self, service, method, path, body=None, headers=None, data=None):
        hdrs = {"Accept": "application/json"}
        if service == "share":
            hdrs["X-OpenStack-Manila-API-Version"] = "2.17"
        hdrs.update(headers or {})
        kwargs = {"headers": hdrs, "raise_exc": False}
        if body is not None:
            kwargs["json"] = body
        if data is not None:
            kwargs["data"] = data
        resp = self.sess.request(self.base[service] + path, method, **kwargs)
        try:
            parsed = resp.json() if resp.content else None
        except ValueError:
            parsed = None
        return resp.status_code, parsed

    def ok(self, service, method, path, body=None, **kw):
        """A setup request that must succeed; its body."""
        status, parsed = self.call(service, method, path, body, **kw)
        if status >= 400:
            raise RuntimeError(f"setup {method} {service}{path} -> {status} {parsed}")
        return parsed


def error_type(body):
    if not isinstance(body, dict):
        return None
    if "NeutronError" in body and isinstance(body["NeutronError"], dict):
        return body["NeutronError"].get("type")
    # Designate: {"code", "type", "message", "request_id"}.
    if isinstance(body.get("type"), str) and "code" in body and "message" in body:
        return body["type"]
    if len(body) == 1:
        key = next(iter(body))
        if isinstance(body[key], dict) and ("message" in body[key] or "code" in body[key]):
            return key
    return None


class Case:
    """One case's setup, checks and LIFO cleanup."""

    def __init__(self, http, results, name):
        self.h = http
        self.results = results
        self.name = name
        self.cleanups = []
        self.suffix = uuid.uuid4().hex[:6]

    def record(self, check, status, body=None, fact=None):
        entry = {"status": status, "type": error_type(body) if status >= 400 else None}
        if fact is not None:
            entry["fact"] = fact
        self.results[f"{self.name}/{check}"] = entry

    def request(self, check, service, method, path, body=None, **kw):
        status, parsed = self.h.call(service, method, path, body, **kw)
        self.record(check, status, parsed)
        return status, parsed

    def later(self, fn, *args):
        self.cleanups.append((fn, args))

    def cleanup(self):
        while self.cleanups:
            fn, args = self.cleanups.pop()
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001 - cleanup is best effort
                print(f"  cleanup of {self.name}: {exc}", file=sys.stderr)

    # ------------------------------------------------------------ setup helpers
    def nm(self, what):
        return f"conf-{self.name}-{what}-{self.suffix}"

    def delete_quiet(self, service, path):
        self.h.call(service, "DELETE", path)

    def network(self):
        net = self.h.ok("network", "POST", "/networks", {"network": {"name": self.nm("net")}})["network"]
        self.later(self.delete_quiet, "network", f"/networks/{net['id']}")
        return net

    def subnet(self, net, cidr="10.250.0.0/24"):
        sub = self.h.ok("network", "POST", "/subnets", {"subnet": {
            "name": self.nm("subnet"), "network_id": net["id"], "ip_version": 4, "cidr": cidr}})["subnet"]
        self.later(self.delete_quiet, "network", f"/subnets/{sub['id']}")
        return sub

    def port(self, net, sgs=None):
        body = {"name": self.nm("port"), "network_id": net["id"]}
        if sgs is not None:
            body["security_groups"] = sgs
        port = self.h.ok("network", "POST", "/ports", {"port": body})["port"]
        self.later(self.delete_quiet, "network", f"/ports/{port['id']}")
        return port

    def sg(self):
        sg = self.h.ok("network", "POST", "/security-groups",
                       {"security_group": {"name": self.nm("sg")}})["security_group"]
        self.later(self.delete_quiet, "network", f"/security-groups/{sg['id']}")
        return sg

    def router(self, gateway=None):
        body = {"name": self.nm("router")}
        if gateway:
            body["external_gateway_info"] = {"network_id": gateway}
        r = self.h.ok("network", "POST", "/routers", {"router": body})["router"]
        self.later(self.delete_quiet, "network", f"/routers/{r['id']}")
        return r

    def add_interface(self, router, subnet):
        self.h.ok("network", "PUT", f"/routers/{router['id']}/add_router_interface",
                  {"subnet_id": subnet["id"]})
        self.later(self.h.call, "network", "PUT", f"/routers/{router['id']}/remove_router_interface",
                   {"subnet_id": subnet["id"]})

    def fip(self, public, port=None):
        body = {"floating_network_id": public, "description": self.nm("fip")}
        if port:
            body["port_id"] = port["id"]
        f = self.h.ok("network", "POST", "/floatingips", {"floatingip": body})["floatingip"]
        self.later(self.delete_quiet, "network", f"/floatingips/{f['id']}")
        return f

    def wait(self, service, path, key, until, timeout=WAIT):
        """Polls GET path until body[key].status is in `until` (or 404 if until is None)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.h.call(service, "GET", path)
            if until is None and status == 404:
                return None
            if until is not None and status == 200:
                state = str(body[key].get("status", "")).lower()
                if state in until:
                    return body[key]
                if "error" in state:
                    raise RuntimeError(f"{path} went to {state}")
            time.sleep(0.5)
        raise RuntimeError(f"timeout waiting for {path} -> {until or 404}")

    def volume(self):
        v = self.h.ok("block-storage", "POST", "/volumes",
                      {"volume": {"size": 1, "name": self.nm("vol")}})["volume"]
        self.later(self.delete_volume, v["id"])
        self.wait("block-storage", f"/volumes/{v['id']}", "volume", {"available"})
        return v

    def delete_volume(self, vid):
        status, body = self.h.call("block-storage", "GET", f"/volumes/{vid}")
        if status == 404:
            return
        if body["volume"].get("status") != "deleting":
            self.wait("block-storage", f"/volumes/{vid}", "volume", {"available", "error"})
            self.h.call("block-storage", "DELETE", f"/volumes/{vid}")
        self.wait("block-storage", f"/volumes/{vid}", "volume", None)

    def snapshot(self, vol):
        s = self.h.ok("block-storage", "POST", "/snapshots",
                      {"snapshot": {"volume_id": vol["id"], "name": self.nm("snap")}})["snapshot"]
        self.later(self.delete_snapshot, s["id"])
        self.wait("block-storage", f"/snapshots/{s['id']}", "snapshot", {"available"})
        return s

    def delete_snapshot(self, sid):
        self.h.call("block-storage", "DELETE", f"/snapshots/{sid}")
        self.wait("block-storage", f"/snapshots/{sid}", "snapshot", None)

    def backup(self, vol, incremental):
        """A backup of `vol` (an incremental one on its latest), once available."""
        b = self.h.ok("block-storage", "POST", "/backups", {"backup": {
            "volume_id": vol["id"], "name": self.nm("backup"),
            "incremental": incremental}})["backup"]
        self.later(self.delete_backup, b["id"])
        return self.wait("block-storage", f"/backups/{b['id']}", "backup", {"available"})

    def delete_backup_when_made(self, bid):
        status, _ = self.h.call("block-storage", "GET", f"/backups/{bid}")
        if status != 404:
            self.wait("block-storage", f"/backups/{bid}", "backup", {"available", "error"})
            self.delete_backup(bid)

    def delete_backup(self, bid):
        self.h.call("block-storage", "DELETE", f"/backups/{bid}")
        self.wait("block-storage", f"/backups/{bid}", "backup", None)

    def image(self, protected=False):
        img = self.h.ok("image", "POST", "/images", {
            "name": self.nm("image"), "disk_format": "raw", "container_format": "bare",
            "visibility": "private", "protected": protected})
        self.later(self.delete_image, img["id"])
        status, _ = self.h.call("image", "PUT", f"/images/{img['id']}/file",
                                headers={"Content-Type": "application/octet-stream"},
                                data=b"conformance image\n")
        if status >= 400:
            raise RuntimeError(f"image upload -> {status}")
        return img

    def delete_image(self, iid):
        self.h.call("image", "PATCH", f"/images/{iid}",
                    headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
                    data=json.dumps([{"op": "replace", "path": "/protected", "value": False}]))
        self.h.call("image", "DELETE", f"/images/{iid}")

    def server(self, port, image, flavor):
        srv = self.h.ok("compute", "POST", "/servers", {"server": {
            "name": self.nm("vm"), "imageRef": image["id"], "flavorRef": flavor,
            "networks": [{"port": port["id"]}]}})["server"]
        self.later(self.delete_server, srv["id"])
        self.wait("compute", f"/servers/{srv['id']}", "server", {"active"})
        return srv

    def delete_server(self, sid):
        self.h.call("compute", "DELETE", f"/servers/{sid}")
        self.wait("compute", f"/servers/{sid}", "server", None)


# ---------------------------------------------------------------- the cases
def find_public(h):
    _, body = h.call("network", "GET", "/networks?name=public")
    nets = (body or {}).get("networks", [])
    if not nets:
        _, body = h.call("network", "GET", "/networks?router:external=true")
        nets = (body or {}).get("networks", [])
    if not nets:
        raise SystemExit("no external network visible to this user")
    return nets[0]["id"]


def find_flavor(h):
    _, body = h.call("compute", "GET", "/flavors/detail")
    flavors = (body or {}).get("flavors", [])
    for f in flavors:
        if f["name"] == "ci.tiny":
            return f["id"]
    if not flavors:
        raise SystemExit("no flavor visible to this user")
    return min(flavors, key=lambda f: (f.get("ram", 0), f.get("disk", 0)))["id"]


def case_sg_in_use(c, ctx):
    net = c.network()
    sg = c.sg()
    port = c.port(net, [sg["id"]])
    c.request("delete-sg-used-by-port", "network", "DELETE", f"/security-groups/{sg['id']}")
    c.request("delete-port", "network", "DELETE", f"/ports/{port['id']}")
    c.request("delete-sg-after-port", "network", "DELETE", f"/security-groups/{sg['id']}")
    c.request("delete-sg-again", "network", "DELETE", f"/security-groups/{sg['id']}")
    c.request("delete-port-again", "network", "DELETE", f"/ports/{port['id']}")


def case_sg_referenced_by_rule(c, ctx):
    target = c.sg()
    other = c.sg()
    c.h.ok("network", "POST", "/security-group-rules", {"security_group_rule": {
        "security_group_id": other["id"], "direction": "ingress", "ethertype": "IPv4",
        "remote_group_id": target["id"]}})
    c.request("delete-sg-referenced-by-rule", "network", "DELETE",
              f"/security-groups/{target['id']}")
    status, body = c.h.call("network", "GET", f"/security-group-rules?security_group_id={other['id']}")
    left = [r for r in (body or {}).get("security_group_rules", [])
            if r.get("remote_group_id") == target["id"]]
    c.record("referencing-rules-dropped", status, body, fact=f"referencing_rules={len(left)}")


def case_router_interface(c, ctx):
    net = c.network()
    sub = c.subnet(net)
    router = c.router()
    c.add_interface(router, sub)
    _, body = c.h.call("network", "GET",
                       f"/ports?device_id={router['id']}&device_owner=network:router_interface")
    rport = body["ports"][0]["id"]
    c.request("delete-subnet-with-interface", "network", "DELETE", f"/subnets/{sub['id']}")
    c.request("delete-network-with-interface", "network", "DELETE", f"/networks/{net['id']}")
    c.request("delete-router-with-interface", "network", "DELETE", f"/routers/{router['id']}")
    c.request("delete-interface-port-via-port-api", "network", "DELETE", f"/ports/{rport}")
    c.request("remove-interface", "network", "PUT",
              f"/routers/{router['id']}/remove_router_interface", {"subnet_id": sub["id"]})
    c.request("delete-router-after", "network", "DELETE", f"/routers/{router['id']}")
    c.request("delete-router-again", "network", "DELETE", f"/routers/{router['id']}")


def case_subnet_with_port(c, ctx):
    net = c.network()
    sub = c.subnet(net)
    port = c.port(net)
    c.request("delete-subnet-with-port", "network", "DELETE", f"/subnets/{sub['id']}")
    c.request("delete-network-with-port", "network", "DELETE", f"/networks/{net['id']}")
    c.request("delete-port", "network", "DELETE", f"/ports/{port['id']}")
    c.request("delete-subnet", "network", "DELETE", f"/subnets/{sub['id']}")
    c.request("delete-subnet-again", "network", "DELETE", f"/subnets/{sub['id']}")
    c.request("delete-network", "network", "DELETE", f"/networks/{net['id']}")
    c.request("delete-network-again", "network", "DELETE", f"/networks/{net['id']}")


def case_floating_ip(c, ctx):
    public = ctx["public"]
    net = c.network()
    sub = c.subnet(net)
    router = c.router(gateway=public)
    c.add_interface(router, sub)
    port = c.port(net)
    fip = c.fip(public, port)
    c.request("remove-interface-with-fip", "network", "PUT",
              f"/routers/{router['id']}/remove_router_interface", {"subnet_id": sub["id"]})
    c.request("clear-gateway-with-fip", "network", "PUT", f"/routers/{router['id']}",
              {"router": {"external_gateway_info": {}}})
    _, body = c.h.call("network", "GET",
                       f"/ports?device_id={router['id']}&device_owner=network:router_gateway")
    gw_ports = (body or {}).get("ports", [])
    if gw_ports:
        c.request("delete-gateway-port-via-port-api", "network", "DELETE",
                  f"/ports/{gw_ports[0]['id']}")
    else:
        c.record("delete-gateway-port-via-port-api", 0, fact="gateway port not visible")
    c.request("delete-port-with-fip", "network", "DELETE", f"/ports/{port['id']}")
    status, body = c.h.call("network", "GET", f"/floatingips/{fip['id']}")
    pid = (body or {}).get("floatingip", {}).get("port_id")
    c.record("fip-after-port-delete", status, body, fact=f"port_id={'null' if pid is None else 'set'}")
    c.request("delete-fip", "network", "DELETE", f"/floatingips/{fip['id']}")
    c.request("delete-fip-again", "network", "DELETE", f"/floatingips/{fip['id']}")


def case_router_gateway_only(c, ctx):
    router = c.router(gateway=ctx["public"])
    c.request("delete-router-with-only-gateway", "network", "DELETE", f"/routers/{router['id']}")


def case_external_network(c, ctx):
    c.request("delete-external-network-as-member", "network", "DELETE",
              f"/networks/{ctx['public']}")


def case_volume_snapshot(c, ctx):
    vol = c.volume()
    snap = c.snapshot(vol)
    c.request("delete-volume-with-snapshot", "block-storage", "DELETE", f"/volumes/{vol['id']}")
    c.request("delete-snapshot", "block-storage", "DELETE", f"/snapshots/{snap['id']}")
    c.wait("block-storage", f"/snapshots/{snap['id']}", "snapshot", None)
    c.request("delete-snapshot-again", "block-storage", "DELETE", f"/snapshots/{snap['id']}")
    c.request("delete-volume", "block-storage", "DELETE", f"/volumes/{vol['id']}")
    c.wait("block-storage", f"/volumes/{vol['id']}", "volume", None)
    c.request("delete-volume-again", "block-storage", "DELETE", f"/volumes/{vol['id']}")


def case_volume_backup(c, ctx):
    """A backup with an incremental on top is refused (400, the message recorded); its
    volume deletes although it has backups; the incremental goes, then the backup."""
    vol = c.volume()
    full = c.backup(vol, incremental=False)
    c.wait("block-storage", f"/volumes/{vol['id']}", "volume", {"available"})
    inc = c.backup(vol, incremental=True)
    c.wait("block-storage", f"/volumes/{vol['id']}", "volume", {"available"})
    status, body = c.request("delete-backup-with-incremental", "block-storage", "DELETE",
                             f"/backups/{full['id']}")
    c.results[f"{c.name}/delete-backup-with-incremental"]["fact"] = message(body)
    _, body = c.h.call("block-storage", "GET", f"/backups/{full['id']}")
    c.record("full-has-dependents", 200,
             fact=f"has_dependent_backups={body['backup'].get('has_dependent_backups')}")
    c.request("delete-volume-with-backups", "block-storage", "DELETE", f"/volumes/{vol['id']}")
    c.wait("block-storage", f"/volumes/{vol['id']}", "volume", None)
    c.request("delete-incremental", "block-storage", "DELETE", f"/backups/{inc['id']}")
    c.wait("block-storage", f"/backups/{inc['id']}", "backup", None)
    _, body = c.h.call("block-storage", "GET", f"/backups/{full['id']}")
    c.record("full-after-incremental-gone", 200,
             fact=f"has_dependent_backups={body['backup'].get('has_dependent_backups')}")
    c.request("delete-backup", "block-storage", "DELETE", f"/backups/{full['id']}")
    c.wait("block-storage", f"/backups/{full['id']}", "backup", None)
    status, body = c.request("delete-backup-again", "block-storage", "DELETE",
                             f"/backups/{full['id']}")
    c.results[f"{c.name}/delete-backup-again"]["fact"] = message(body).replace(full["id"], "<id>")


def case_volume_backup_busy(c, ctx):
    """While cinder-backup makes a backup (a second or so on the bed), the backup
    (`creating`) and its volume (`backing-up`) refuse a delete, and the volume a further
    backup: 400 each, messages recorded. Then the backup deletes."""
    vol = c.volume()
    b = c.h.ok("block-storage", "POST", "/backups", {"backup": {
        "volume_id": vol["id"], "name": c.nm("backup")}})["backup"]
    c.later(c.delete_backup_when_made, b["id"])
    for check, method, path, body in (
        ("delete-volume-while-backing-up", "DELETE", f"/volumes/{vol['id']}", None),
        ("delete-backup-while-creating", "DELETE", f"/backups/{b['id']}", None),
        ("backup-while-backing-up", "POST", "/backups",
         {"backup": {"volume_id": vol["id"], "name": c.nm("inc"), "incremental": True}}),
    ):
        _, answer = c.request(check, "block-storage", method, path, body)
        c.results[f"{c.name}/{check}"]["fact"] = message(answer)
    c.wait("block-storage", f"/backups/{b['id']}", "backup", {"available"})
    c.request("delete-backup-made", "block-storage", "DELETE", f"/backups/{b['id']}")
    c.wait("block-storage", f"/backups/{b['id']}", "backup", None)


def message(body):
    """The message of a Nova/Cinder-style error body (`{"badRequest": {"message"}}`)."""
    if isinstance(body, dict) and len(body) == 1:
        inner = next(iter(body.values()))
        if isinstance(inner, dict):
            return str(inner.get("message"))
    return str(body)


def case_image(c, ctx):
    img = c.image(protected=True)
    c.request("delete-protected-image", "image", "DELETE", f"/images/{img['id']}")
    c.h.ok("image", "PATCH", f"/images/{img['id']}",
           headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
           data=json.dumps([{"op": "replace", "path": "/protected", "value": False}]))
    c.request("delete-image", "image", "DELETE", f"/images/{img['id']}")
    c.request("delete-image-again", "image", "DELETE", f"/images/{img['id']}")


def case_server(c, ctx):
    net = c.network()
    c.subnet(net)
    sg = c.sg()
    port = c.port(net, [sg["id"]])
    img = c.image()
    vol = c.volume()
    srv = c.server(port, img, ctx["flavor"])
    c.h.ok("compute", "POST", f"/servers/{srv['id']}/os-volume_attachments",
           {"volumeAttachment": {"volumeId": vol["id"]}})
    c.wait("block-storage", f"/volumes/{vol['id']}", "volume", {"in-use"})
    c.request("delete-port-of-live-server", "network", "DELETE", f"/ports/{port['id']}")
    c.request("delete-sg-of-live-server", "network", "DELETE", f"/security-groups/{sg['id']}")
    c.request("delete-attached-volume", "block-storage", "DELETE", f"/volumes/{vol['id']}")
    c.request("delete-attached-volume-cascade", "block-storage", "DELETE",
              f"/volumes/{vol['id']}?cascade=true")
    c.request("delete-image-of-live-server", "image", "DELETE", f"/images/{img['id']}")
    c.request("delete-server", "compute", "DELETE", f"/servers/{srv['id']}")
    c.wait("compute", f"/servers/{srv['id']}", "server", None)
    status, body = c.h.call("network", "GET", f"/ports/{port['id']}")
    dev = (body or {}).get("port", {}).get("device_id")
    c.record("pre-created-port-after-server-delete", status, body,
             fact=f"device_id={'empty' if not dev else 'set'}")
    c.request("delete-server-again", "compute", "DELETE", f"/servers/{srv['id']}")
    c.wait("block-storage", f"/volumes/{vol['id']}", "volume", {"available"})
    c.request("delete-volume-after-server", "block-storage", "DELETE", f"/volumes/{vol['id']}")


def case_keypair(c, ctx):
    name = c.nm("key")
    c.h.ok("compute", "POST", "/os-keypairs", {"keypair": {"name": name}})
    c.later(c.delete_quiet, "compute", f"/os-keypairs/{name}")
    c.request("delete-keypair", "compute", "DELETE", f"/os-keypairs/{name}")
    c.request("delete-keypair-again", "compute", "DELETE", f"/os-keypairs/{name}")


def case_port_of_gone_server(c, ctx):
    """A port still bound to a server that is gone (Nova deleted the server while
    Neutron was down: the chaos stage's finding). The member may not delete a
    compute-owned port, but may clear its binding, then delete it."""
    net = c.network()
    c.subnet(net)
    port = c.port(net)
    gone = str(uuid.uuid4())
    c.request("bind-to-gone-server", "network", "PUT", f"/ports/{port['id']}",
              {"port": {"device_owner": "compute:nova", "device_id": gone}})
    c.request("delete-port-of-gone-server", "network", "DELETE", f"/ports/{port['id']}")
    c.request("show-gone-server", "compute", "GET", f"/servers/{gone}")
    c.request("clear-binding", "network", "PUT", f"/ports/{port['id']}",
              {"port": {"device_owner": "", "device_id": ""}})
    c.request("delete-port-unbound", "network", "DELETE", f"/ports/{port['id']}")


def case_trunk(c, ctx):
    """A trunk's parent and sub-port refuse their deletes; a trunk whose parent is bound
    to a live server refuses its own (ML2/OVS: the driver cannot untrunk a bound port)."""
    net = c.network()
    c.subnet(net)
    parent = c.port(net)
    sub = c.port(net)
    trunk = c.h.ok("network", "POST", "/trunks", {"trunk": {
        "name": c.nm("trunk"), "port_id": parent["id"],
        "sub_ports": [{"port_id": sub["id"], "segmentation_type": "vlan",
                       "segmentation_id": 100}]}})["trunk"]
    c.later(c.delete_quiet, "network", f"/trunks/{trunk['id']}")
    c.request("delete-parent-port", "network", "DELETE", f"/ports/{parent['id']}")
    c.request("delete-sub-port", "network", "DELETE", f"/ports/{sub['id']}")
    srv = c.server(parent, c.image(), ctx["flavor"])
    c.request("delete-trunk-of-live-server", "network", "DELETE", f"/trunks/{trunk['id']}")
    c.delete_server(srv["id"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _, body = c.h.call("network", "GET", f"/ports/{parent['id']}")
        if not (body or {}).get("port", {}).get("device_id"):
            break
        time.sleep(0.5)
    c.request("remove-subports", "network", "PUT", f"/trunks/{trunk['id']}/remove_subports",
              {"sub_ports": [{"port_id": sub["id"]}]})
    c.request("delete-sub-port-after-remove", "network", "DELETE", f"/ports/{sub['id']}")
    c.request("delete-trunk", "network", "DELETE", f"/trunks/{trunk['id']}")
    c.request("delete-trunk-again", "network", "DELETE", f"/trunks/{trunk['id']}")
    c.request("delete-parent-port-after-trunk", "network", "DELETE", f"/ports/{parent['id']}")


def case_port_forwarding(c, ctx):
    """A floating IP's port forwarding goes with its internal port; the floating IP is
    neither released nor associated while it has one (409)."""
    public = ctx["public"]
    net = c.network()
    sub = c.subnet(net)
    router = c.router(gateway=public)
    c.add_interface(router, sub)
    pfs = {}
    for what in ("port", "fip"):
        port = c.port(net)
        fip = c.fip(public)
        pf = c.h.ok("network", "POST", f"/floatingips/{fip['id']}/port_forwardings", {
            "port_forwarding": {
                "internal_port_id": port["id"],
                "internal_ip_address": port["fixed_ips"][0]["ip_address"],
                "internal_port": 22, "external_port": 2222, "protocol": "tcp"}})
        pfs[what] = (port, fip, pf["port_forwarding"])
    port, fip, pf = pfs["port"]
    c.request("associate-fip-with-forwarding", "network", "PUT", f"/floatingips/{fip['id']}",
              {"floatingip": {"port_id": port["id"]}})
    c.request("delete-internal-port", "network", "DELETE", f"/ports/{port['id']}")
    c.request("forwarding-after-port-delete", "network", "GET",
              f"/floatingips/{fip['id']}/port_forwardings/{pf['id']}")
    port, fip, pf = pfs["fip"]
    c.request("delete-fip-with-forwarding", "network", "DELETE", f"/floatingips/{fip['id']}")
    c.request("forwarding-after-refused-fip-delete", "network", "GET",
              f"/floatingips/{fip['id']}/port_forwardings/{pf['id']}")
    c.request("delete-forwarding", "network", "DELETE",
              f"/floatingips/{fip['id']}/port_forwardings/{pf['id']}")
    c.request("delete-fip-after-forwarding", "network", "DELETE", f"/floatingips/{fip['id']}")


def barbican_id(url):
    return url.rstrip("/").rsplit("/", 1)[-1]


def case_barbican_refs(c, ctx):
    """Barbican refuses nothing: a secret a container lists is deleted (204) and drops out
    of the container's `secret_refs`; 404s carry Barbican's `description`."""
    c.h.require("key-manager")
    s1 = c.h.ok("key-manager", "POST", "/secrets", {"name": c.nm("cert"), "payload": "x",
                "payload_content_type": "text/plain"})
    sid = barbican_id(s1["secret_ref"])
    c.later(c.delete_quiet, "key-manager", f"/secrets/{sid}")
    cont = c.h.ok("key-manager", "POST", "/containers", {"name": c.nm("tls"), "type": "generic",
                  "secret_refs": [{"name": "certificate", "secret_ref": s1["secret_ref"]}]})
    cid = barbican_id(cont["container_ref"])
    c.later(c.delete_quiet, "key-manager", f"/containers/{cid}")
    c.request("delete-secret-in-container", "key-manager", "DELETE", f"/secrets/{sid}")
    status, body = c.h.call("key-manager", "GET", f"/containers/{cid}")
    c.record("container-after-secret-delete", status, body,
             fact=f"secret_refs={len((body or {}).get('secret_refs') or [])}")
    status, body = c.request("delete-secret-again", "key-manager", "DELETE", f"/secrets/{sid}")
    c.record("delete-secret-again-body", status, body, fact=barbican_error(body))
    c.request("delete-container", "key-manager", "DELETE", f"/containers/{cid}")
    status, body = c.request("delete-container-again", "key-manager", "DELETE",
                             f"/containers/{cid}")
    c.record("delete-container-again-body", status, body, fact=barbican_error(body))


def barbican_error(body):
    """Barbican's error body as a fact: `code title: description`."""
    if not isinstance(body, dict):
        return f"body={body!r}"
    return f"{body.get('code')} {body.get('title')}: {body.get('description')}"


def case_designate_zone(c, ctx):
    """Designate's SOA and apex NS refuse their delete; a zone delete is asynchronous and
    takes its recordsets; while it runs, recordset changes are refused (400); after it, a
    recordset of the zone is `recordset_not_found` and the zone's list `zone_not_found`."""
    c.h.require("dns")
    name = f"{c.nm('zone')}.example.org."
    z = c.h.ok("dns", "POST", "/zones", {"name": name, "email": "ci@example.org"})
    c.later(c.delete_quiet, "dns", f"/zones/{z['id']}")
    deadline = time.monotonic() + WAIT
    while c.h.call("dns", "GET", f"/zones/{z['id']}")[1].get("status") != "ACTIVE":
        if time.monotonic() > deadline:
            raise RuntimeError("zone never became ACTIVE")
        time.sleep(1)
    _, rsets = c.h.call("dns", "GET", f"/zones/{z['id']}/recordsets")
    by_type = {r["type"]: r["id"] for r in rsets.get("recordsets", []) if r["name"] == name}
    c.request("delete-soa", "dns", "DELETE", f"/zones/{z['id']}/recordsets/{by_type['SOA']}")
    c.request("delete-apex-ns", "dns", "DELETE", f"/zones/{z['id']}/recordsets/{by_type['NS']}")
    www = c.h.ok("dns", "POST", f"/zones/{z['id']}/recordsets",
                 {"name": f"www.{name}", "type": "A", "records": ["192.0.2.1"]})
    status, body = c.request("delete-zone", "dns", "DELETE", f"/zones/{z['id']}")
    c.record("delete-zone-action", status, body,
             fact=f"status={(body or {}).get('status')} action={(body or {}).get('action')}")
    # While the delete runs, Designate refuses recordset changes in the zone.
    status, body = c.request("create-record-in-deleting-zone", "dns", "POST",
                             f"/zones/{z['id']}/recordsets",
                             {"name": f"new.{name}", "type": "A", "records": ["192.0.2.2"]})
    c.record("create-record-in-deleting-zone-message", status, body, fact=designate_message(body))
    status, body = c.request("delete-record-in-deleting-zone", "dns", "DELETE",
                             f"/zones/{z['id']}/recordsets/{www['id']}")
    c.record("delete-record-in-deleting-zone-message", status, body, fact=designate_message(body))
    while c.h.call("dns", "GET", f"/zones/{z['id']}")[0] != 404:
        if time.monotonic() > deadline + WAIT:
            raise RuntimeError("zone never went")
        time.sleep(1)
    c.request("get-zone-after-delete", "dns", "GET", f"/zones/{z['id']}")
    c.request("get-record-after-zone-delete", "dns", "GET",
              f"/zones/{z['id']}/recordsets/{www['id']}")
    c.request("delete-record-after-zone-delete", "dns", "DELETE",
              f"/zones/{z['id']}/recordsets/{www['id']}")
    c.request("list-records-after-zone-delete", "dns", "GET", f"/zones/{z['id']}/recordsets")


def designate_message(body):
    """Designate's error message as a fact."""
    return f"message={(body or {}).get('message')!r}" if isinstance(body, dict) else None


def case_manila_share(c, ctx):
    """Manila refuses a share with snapshots and a share network with shares; share and
    snapshot deletes are asynchronous. The share is of type `dhss` (a back end with share
    servers: the bed's manila.sh), on a share network."""
    c.h.require("share")
    net = c.network()
    sub = c.subnet(net, "10.251.0.0/24")
    sn = c.h.ok("share", "POST", "/share-networks", {"share_network": {
        "name": c.nm("sharenet"), "neutron_net_id": net["id"], "neutron_subnet_id": sub["id"]}})
    snid = sn["share_network"]["id"]
    c.later(c.delete_quiet, "share", f"/share-networks/{snid}")
    sh = c.h.ok("share", "POST", "/shares", {"share": {
        "name": c.nm("share"), "share_proto": "NFS", "size": 1, "share_network_id": snid,
        "share_type": "dhss"}})
    shid = sh["share"]["id"]
    c.later(c.delete_quiet, "share", f"/shares/{shid}")
    c.wait("share", f"/shares/{shid}", "share", {"available"})
    snap = c.h.ok("share", "POST", "/snapshots", {"snapshot": {
        "share_id": shid, "name": c.nm("snap")}})
    spid = snap["snapshot"]["id"]
    c.later(c.delete_quiet, "share", f"/snapshots/{spid}")
    c.wait("share", f"/snapshots/{spid}", "snapshot", {"available"})
    c.request("delete-share-with-snapshot", "share", "DELETE", f"/shares/{shid}")
    c.request("delete-share-network-with-share", "share", "DELETE", f"/share-networks/{snid}")
    c.request("delete-snapshot", "share", "DELETE", f"/snapshots/{spid}")
    c.wait("share", f"/snapshots/{spid}", "snapshot", None)
    c.request("delete-share", "share", "DELETE", f"/shares/{shid}")
    c.wait("share", f"/shares/{shid}", "share", None)
    c.request("delete-share-again", "share", "DELETE", f"/shares/{shid}")
    c.request("delete-share-network", "share", "DELETE", f"/share-networks/{snid}")


CASES = [
    ("sg-in-use", case_sg_in_use),
    ("sg-referenced-by-rule", case_sg_referenced_by_rule),
    ("router-interface", case_router_interface),
    ("subnet-with-port", case_subnet_with_port),
    ("floating-ip", case_floating_ip),
    ("router-gateway-only", case_router_gateway_only),
    ("external-network", case_external_network),
    ("volume-snapshot", case_volume_snapshot),
    ("volume-backup", case_volume_backup),
    ("volume-backup-busy", case_volume_backup_busy),
    ("image", case_image),
    ("keypair", case_keypair),
    ("server", case_server),
    ("port-of-gone-server", case_port_of_gone_server),
    ("trunk", case_trunk),
    ("port-forwarding", case_port_forwarding),
    ("barbican-refs", case_barbican_refs),
    ("designate-zone", case_designate_zone),
    ("manila-share", case_manila_share),
]


def run(cloud, out, only=None):
    h = Http(cloud)
    ctx = {"public": find_public(h), "flavor": find_flavor(h)}
    results = {}
    errors = []
    t0 = time.monotonic()
    for name, fn in CASES:
        if only and name not in only:
            continue
        c = Case(h, results, name)
        t = time.monotonic()
        try:
            fn(c, ctx)
        except Skip as why:
            results[f"{name}/(skipped)"] = {"status": 0, "type": f"skipped: {why}"}
        except Exception as exc:  # noqa: BLE001 - a broken case is reported, others go on
            errors.append(f"{name}: {exc}")
            results[f"{name}/(setup)"] = {"status": -1, "type": f"case failed: {exc}"[:200]}
        finally:
            c.cleanup()
        print(f"  case {name}: {time.monotonic() - t:.1f} s", file=sys.stderr)
    doc = {"cloud": cloud, "seconds": round(time.monotonic() - t0, 1), "results": results}
    with open(out, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
    print_table({cloud: results})
    for e in errors:
        print(f"ERROR {e}", file=sys.stderr)
    return 1 if errors else 0


def fmt(entry):
    if entry is None:
        return "(missing)"
    s = str(entry["status"])
    if entry.get("type"):
        s += " " + entry["type"]
    if entry.get("fact"):
        s += " " + entry["fact"]
    return s


def print_table(columns):
    names = list(columns)
    keys = sorted({k for res in columns.values() for k in res})
    width = max([len(k) for k in keys] + [5])
    colw = [max([len(n)] + [len(fmt(columns[n].get(k))) for k in keys]) for n in names]
    header = "check".ljust(width) + "  " + "  ".join(n.ljust(w) for n, w in zip(names, colw))
    print(header.rstrip())
    diffs = 0
    for k in keys:
        cells = [fmt(columns[n].get(k)) for n in names]
        mark = ""
        if len(names) > 1 and len(set(cells)) > 1:
            mark = "  <-- differs"
            diffs += 1
        print((k.ljust(width) + "  " + "  ".join(c.ljust(w) for c, w in zip(cells, colw))).rstrip()
              + mark)
    return diffs


def compare(a_path, b_path):
    with open(a_path) as f:
        a = json.load(f)
    with open(b_path) as f:
        b = json.load(f)
    diffs = print_table({a.get("cloud", a_path): a["results"],
                         b.get("cloud", b_path) + " ": b["results"]})
    print(f"{diffs} difference(s)")
    return 1 if diffs else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cloud")
    ap.add_argument("--out")
    ap.add_argument("--case", action="append", help="run only these cases")
    ap.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"))
    args = ap.parse_args()
    if args.compare:
        return compare(*args.compare)
    if not (args.cloud and args.out):
        ap.error("--cloud and --out are required (or --compare A B)")
    return run(args.cloud, args.out, args.case)


if __name__ == "__main__":
    sys.exit(main())
