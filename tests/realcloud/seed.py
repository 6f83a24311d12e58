"""Seeds leaked CI jobs, and look-alikes that must survive, into the test bed.

One Python process, openstacksdk, as the `ci` project member. Job N's resources are
named `ci-job-N-*` and tagged `ci-job-N` where the kind has tags; volumes and
snapshots carry metadata `ci-job=N`; floating IPs carry the tag and a description;
keypairs and server groups have only their name. Each job also leaves a trunk (parent
and sub-port) and a port forwarding on its spare floating IP to its server's port; the
survivors have a trunk and a forwarding of their own. Each job leaves a Barbican secret
and a container naming it (both matched by name: Barbican has no tags).

Survivors sit next to them: untagged resources on the same external network
(router gateway, floating IP), and look-alikes by name and mark (`ci-job-10-*`,
tag `ci-job-10`, metadata `ci-job=10`, names without the trailing dash) that the
selector below must not catch. An unmarked container holding a secret named like a job's
(`ci-job-N-held-secret`) keeps that secret: the sweep skips it, naming the container
(`held` in the manifest: a sweep that meets it exits 1, so the stage checks it in a
sweep of its own, `--held-secret`). The manifest (JSON) lists what a sweep must delete
(`selected`) and what it must leave (`survivors`), each as {kind, id}, plus the
selector arguments (`sweep_args`) that select exactly the leaked jobs.

--backups adds, per job, a full backup of the job's snapshotted volume and an incremental
backup on top of it (named `ci-job-N-backup`, `ci-job-N-backup-inc`, metadata
`ci-job=N`), and among the survivors the same chain on a kept volume under look-alike
marks (`ci-job-10-backup` with metadata `ci-job=10`, incremental `ci-job-1`): the sweep
deletes the incremental before the backup under it, and keeps the look-alikes.

--manila adds, per job, Manila shares (see `Seeder.shares`): a share network with a share
on it (the `dhss` type: share servers) and a snapshot of that share, and a share without a
share network (type `default`) with an access rule; the shares carry metadata `ci-job=N`,
the network and snapshot only their names. Among the survivors: job 10's share network,
share (`ci-job=10`) and a snapshot named `ci-job-1`, and an unmarked `keep-share`. With
--held-secret it also seeds a share network job N's name selects that holds an unmarked
share: the sweep skips the network, naming the share (`held` in the manifest).

--dns adds Designate zones, selected by name alone (the sweep's regex then also takes a
name's `ci-job-N.` label after any labels before it: `^(.+[.])?ci-job-(1|2)[.-]`): per job
a zone `ci-job-N.<project>.bed.example.` with recordsets `www` and `mail` (all selected:
they go with the zone; its SOA and apex NS are Designate's own and go only with it), and a
recordset `ci-job-N-api` in a kept zone `keep-F.<project>.bed.example.` (F: the first
job), which goes alone while the kept zone and its `www` stay. Among the survivors: the
look-alike zone `ci-job-10.<project>.bed.example.` with its `www`. Zones and recordsets
are waited for until ACTIVE.

--region R seeds in that region; --network-only seeds only a job's Neutron resources
(network, subnet, router with interface and gateway, groups, ports, floating IPs, a
trunk, a port forwarding): RegionTwo of the bed runs Neutron alone.

--async-server-delete adds, per job, a server on its own security group and port,
and deletes that server (without waiting) as the very last step, so the sweep that
follows meets a server still deleting while its group is swept.
"""

import argparse
import json
import sys
import time

import openstack
from keystoneauth1 import exceptions

PUBLIC_NET = "public"
MANILA = {"X-OpenStack-Manila-API-Version": "2.65"}
IMAGE = "ci-base-image"
FLAVOR = "ci.tiny"


def wait_available(wait, attempts=5):
    """Runs a status wait (GETs only), again when an API drops the connection: on a
    loaded bed, or one just back from a chaos round, a worker of cinder-api or nova-api
    sometimes aborts one (CI runs of the stage failed there, in seeding, before any
    sweep: cinder-api while cinder-backup worked, nova-api after the MariaDB round)."""
    for attempt in range(attempts):
        try:
            return wait()
        except exceptions.ConnectFailure:
            if attempt == attempts - 1:
                raise
            time.sleep(2)


class _Ref:
    """A created object known by its ID alone (what the manifest records)."""

    def __init__(self, id):  # noqa: A002 - the manifest's field
        self.id = id


class Seeder:
    def __init__(self, conn, network_only=False):
        self.conn = conn
        self.net = conn.network
        self.selected = []
        self.survivors = []
        self.public = self.net.find_network(PUBLIC_NET)
        self.image = None if network_only else wait_available(
            lambda: conn.image.find_image(IMAGE))
        self.flavor = None if network_only else wait_available(
            lambda: conn.compute.find_flavor(FLAVOR))
        if not (self.public and (network_only or (self.image and self.flavor))):
            raise SystemExit("test bed lacks the public network, base image or flavor: run up.sh")
        self.servers_to_wait = []
        self.attach = []  # (server, volume)
        self.doomed = []
        self.snapshot_later = []  # (name, volume, job or None)
        self.backup_later = []  # (volume, [(name, metadata)] full then incremental, job or None)
        self.share_snapshot_later = []  # (share id, snapshot name, record)
        self.access_later = []  # share ids that get an access rule
        self.held_ids = {}
        self.zones_later = []  # (zone, [(label, record)]): recordsets once it is ACTIVE
        self.kept_zone = None

    @staticmethod
    def item(kind, res, parent):
        """A manifest entry; a port forwarding also names its floating IP (`parent`)."""
        entry = {"kind": kind, "id": res.id}
        if parent:
            entry["parent"] = parent
        return entry

    def keep(self, kind, res, parent=None):
        self.survivors.append(self.item(kind, res, parent))
        return res

    def mine(self, kind, res, parent=None):
        self.selected.append(self.item(kind, res, parent))
        return res

    # --------------------------------------------------------------- network parts
    def network_set(self, prefix, cidr, tags, record):
        """A network, subnet, router (gateway on public + interface), two groups
        referencing each other, and two ports, one with a floating IP."""
        net = record("network", self.net.create_network(name=f"{prefix}net"))
        subnet = record(
            "subnet",
            self.net.create_subnet(
                name=f"{prefix}subnet", network_id=net.id, ip_version=4, cidr=cidr
            ),
        )
        router = record(
            "router",
            self.net.create_router(
                name=f"{prefix}router", external_gateway_info={"network_id": self.public.id}
            ),
        )
        self.net.add_interface_to_router(router, subnet_id=subnet.id)
        sg_a = record("security-group", self.net.create_security_group(name=f"{prefix}sg-a"))
        sg_b = record("security-group", self.net.create_security_group(name=f"{prefix}sg-b"))
        for group, other in ((sg_a, sg_b), (sg_b, sg_a)):
            self.net.create_security_group_rule(
                security_group_id=group.id,
                direction="ingress",
                ethertype="IPv4",
                protocol="tcp",
                port_range_min=22,
                port_range_max=22,
                remote_group_id=other.id,
            )
        port_a = record(
            "port",
            self.net.create_port(
                name=f"{prefix}port-a", network_id=net.id, security_group_ids=[sg_a.id]
            ),
        )
        port_b = record(
            "port",
            self.net.create_port(
                name=f"{prefix}port-b", network_id=net.id, security_group_ids=[sg_b.id]
            ),
        )
        fip = record(
            "floating-ip",
            self.net.create_ip(
                floating_network_id=self.public.id,
                port_id=port_a.id,
                description=f"{prefix}fip",
            ),
        )
        for res in (net, subnet, router, sg_a, sg_b, port_a, port_b, fip):
            if tags:
                self.net.set_tags(res, tags)
        return {"net": net, "subnet": subnet, "router": router, "sg_a": sg_a,
                "sg_b": sg_b, "port_a": port_a, "port_b": port_b, "fip": fip}

    def server(self, name, port, tags, record, key=None, group=None):
        kwargs = {
            "name": name,
            "image_id": self.image.id,
            "flavor_id": self.flavor.id,
            "networks": [{"port": port.id}],
        }
        if key:
            kwargs["key_name"] = key.name
        if group:
            kwargs["scheduler_hints"] = {"group": group.id}
        if tags:
            kwargs["tags"] = tags
        srv = record("server", self.conn.compute.create_server(**kwargs))
        self.servers_to_wait.append(srv)
        return srv

    def trunk(self, prefix, net, tags, record):
        """A trunk (Kuryr, Kubernetes on OpenStack): a parent port and one VLAN sub-port."""
        parent = record("port", self.net.create_port(name=f"{prefix}trunk-parent",
                                                     network_id=net.id))
        sub = record("port", self.net.create_port(name=f"{prefix}trunk-sub", network_id=net.id))
        trunk = record("trunk", self.net.create_trunk(
            name=f"{prefix}trunk", port_id=parent.id,
            sub_ports=[{"port_id": sub.id, "segmentation_type": "vlan",
                        "segmentation_id": 100}]))
        if tags:
            for res in (parent, sub, trunk):
                self.net.set_tags(res, tags)
        return trunk

    def port_forwarding(self, fip, port, record):
        """Forwards TCP 2222 of a floating IP (no port of its own) to port's SSH."""
        pf = self.net.create_port_forwarding(
            floatingip_id=fip.id, internal_port_id=port.id,
            internal_ip_address=port.fixed_ips[0]["ip_address"],
            internal_port=22, external_port=2222, protocol="tcp")
        record("port-forwarding", pf, parent=fip.id)
        return pf

    def barbican(self, collection, body):
        """Creates a Barbican secret or container (plain HTTP); an object with `.id`."""
        sess = self.conn.session
        url = sess.get_endpoint(service_type="key-manager", interface="public").rstrip("/")
        if not url.endswith("/v1"):
            url += "/v1"
        resp = sess.post(f"{url}/{collection}", json=body)
        ref = resp.json()["secret_ref" if collection == "secrets" else "container_ref"]
        return type("BarbicanRef", (), {"id": ref.rsplit("/", 1)[-1], "ref": ref})()

    def secret(self, name, record):
        return record("secret", self.barbican("secrets", {
            "name": name, "payload": "stacksweep", "payload_content_type": "text/plain"}))

    def secret_container(self, name, secrets, record):
        return record("secret-container", self.barbican("containers", {
            "name": name, "type": "generic",
            "secret_refs": [{"name": f"s{i}", "secret_ref": s.ref} for i, s in enumerate(secrets)]}))

    def held_secret(self, n):
        """A secret job N's name pattern selects, in an unmarked container: kept, the
        container named as its blocker."""
        held = self.secret(f"ci-job-{n}-held-secret", self.keep)
        holder = self.secret_container("keep-holder", [held], self.keep)
        self.held_ids.update({"secret": held.id, "container": holder.id})

    # --------------------------------------------------------------- Manila
    def manila(self, path, body):
        """POSTs to Manila (microversion 2.65); the created object (a dict)."""
        resp = self.conn.shared_file_system.post(path, json=body, headers=MANILA)
        if resp.status_code >= 300:
            raise SystemExit(f"manila POST {path}: {resp.status_code} {resp.text}")
        return next(iter(resp.json().values()))

    def manila_wait(self, path, key, status="available", timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            got = wait_available(lambda: self.conn.shared_file_system.get(
                path, headers=MANILA).json()[key]["status"])
            if got == status:
                return
            if got.startswith("error") or time.monotonic() > deadline:
                raise SystemExit(f"manila {path} is {got}, not {status}")
            time.sleep(0.5)

    def share_network(self, name, parts, record):
        body = {"name": name}
        if parts:
            body.update(neutron_net_id=parts["net"].id, neutron_subnet_id=parts["subnet"].id)
        return record("share-network", _Ref(self.manila("/share-networks",
                                                        {"share_network": body})["id"]))

    def share(self, name, record, metadata=None, network=None):
        """An NFS share of 1 GiB: on `network` (type `dhss`: a share server), or without
        one (type `default`)."""
        body = {"name": name, "share_proto": "NFS", "size": 1, "metadata": metadata or {},
                "share_type": "dhss" if network else "default"}
        if network:
            body["share_network_id"] = network.id
        return record("share", _Ref(self.manila("/shares", {"share": body})["id"]))

    def shares(self, n, parts):
        """Job N's shares: a share network (on the job's network and subnet) with a share
        and its snapshot, and a share without a network, readable by the job's subnet."""
        p, meta = f"ci-job-{n}-", {"ci-job": str(n)}
        net = self.share_network(f"{p}sharenet", parts, self.mine)
        on_net = self.share(f"{p}share", self.mine, meta, network=net)
        self.share_snapshot_later.append((on_net.id, f"{p}share-snap", self.mine))
        plain = self.share(f"{p}nfs", self.mine, meta)
        self.access_later.append(plain.id)

    def kept_shares(self):
        net = self.share_network("ci-job-10-sharenet", None, self.keep)
        share = self.share("ci-job-10-share", self.keep, {"ci-job": "10"}, network=net)
        self.share_snapshot_later.append((share.id, "ci-job-1", self.keep))
        self.share("keep-share", self.keep, {"ci-job-x": "1"})

    def held_share_network(self, n):
        """A share network job N's name selects, holding an unmarked share: kept, the
        share named as its blocker."""
        net = self.share_network(f"ci-job-{n}-held-sharenet", None, self.keep)
        share = self.share("keep-held-share", self.keep, network=net)
        self.held_ids.update({"share_network": net.id, "share": share.id})

    def finish_shares(self):
        """Waits for the shares, then snapshots and access rules need them available."""
        for entry in self.selected + self.survivors:
            if entry["kind"] == "share":
                self.manila_wait(f"/shares/{entry['id']}", "share")
        for share_id in self.access_later:
            self.conn.shared_file_system.post(
                f"/shares/{share_id}/action", headers=MANILA,
                json={"allow_access": {"access_type": "ip", "access_to": "10.0.0.0/24",
                                       "access_level": "rw"}}).raise_for_status()
        for share_id, name, record in self.share_snapshot_later:
            snap = record("share-snapshot", _Ref(self.manila(
                "/snapshots", {"snapshot": {"share_id": share_id, "name": name}})["id"]))
            self.manila_wait(f"/snapshots/{snap.id}", "snapshot")

    # --------------------------------------------------------------- Designate
    def zone(self, label, record):
        """A zone `<label>.<project>.bed.example.` (the project in the name: zones of one
        name cannot live in two projects); its recordsets come once it is ACTIVE."""
        name = f"{label}.{self.conn.config.auth['project_name']}.bed.example."
        zone = record("zone", self.conn.dns.create_zone(name=name, email="ci@bed.example"))
        self.zones_later.append((zone, []))
        return zone

    def recordsets_later(self, zone, labels, record):
        next(recs for z, recs in self.zones_later if z.id == zone.id).extend(
            (label, record) for label in labels)

    def dns(self, n, first):
        """Job N's zone with `www` and `mail`, and its `ci-job-N-api` in the kept zone."""
        zone = self.zone(f"ci-job-{n}", self.mine)
        self.recordsets_later(zone, ["www", "mail"], self.mine)
        if self.kept_zone is None:
            self.kept_zone = self.zone(f"keep-{first}", self.keep)
            self.recordsets_later(self.kept_zone, ["www"], self.keep)
        self.recordsets_later(self.kept_zone, [f"ci-job-{n}-api"], self.mine)

    def dns_active(self, dns, items, timeout=120):
        """Waits until every (zone, recordset or None) is ACTIVE."""
        deadline = time.monotonic() + timeout
        for zone, rs in items:
            while True:
                got = wait_available(lambda: (dns.get_recordset(rs, zone) if rs
                                              else dns.get_zone(zone)).status)
                if got == "ACTIVE":
                    break
                if got == "ERROR" or time.monotonic() > deadline:
                    raise SystemExit(f"designate {'recordset' if rs else 'zone'} "
                                     f"{(rs or zone).id} is {got}, not ACTIVE")
                time.sleep(0.3)

    def finish_dns(self):
        """Waits for the zones, adds their recordsets, waits for those; the kept zones'
        SOA and NS are survivors too."""
        dns = self.conn.dns
        self.dns_active(dns, [(z, None) for z, _ in self.zones_later])
        made = []
        for zone, recs in self.zones_later:
            for label, record in recs:
                rs = dns.create_recordset(zone, name=f"{label}.{zone.name}", type="A",
                                          records=["192.0.2.10"])
                record("recordset", rs, parent=zone.id)
                made.append((zone, rs))
        self.dns_active(dns, made)
        kept = {e["id"] for e in self.survivors if e["kind"] == "zone"}
        for zone, _ in self.zones_later:
            if zone.id in kept:
                for rs in dns.recordsets(zone):
                    if rs.type in ("SOA", "NS") and rs.name == zone.name:
                        self.keep("recordset", rs, parent=zone.id)

    def backup(self, volume, name, metadata, incremental):
        """Starts a backup (microversion 3.43: metadata); its ID."""
        sess = self.conn.session
        url = sess.get_endpoint(service_type="block-storage", interface="public").rstrip("/")
        resp = sess.post(f"{url}/backups", headers={"OpenStack-API-Version": "volume 3.43"},
                         json={"backup": {"volume_id": volume.id, "name": name,
                                          "metadata": metadata, "incremental": incremental}})
        return resp.json()["backup"]["id"]

    def backups(self):
        """Each volume's full backup, then (once it is available) an incremental on top."""
        bs = self.conn.block_storage
        for step in (0, 1):
            started = []
            for vol, chain, n in self.backup_later:
                self.wait_status(vol, "available")
                name, metadata = chain[step]
                bid = self.backup(vol, name, metadata, incremental=step == 1)
                started.append(bid)
                (self.mine if n else self.keep)("volume-backup", type("B", (), {"id": bid})())
            for bid in started:
                # The backup is read inside the retry too.
                wait_available(lambda: bs.wait_for_status(
                    bs.get_backup(bid), "available", failures=["error"], wait=120))

    def volume(self, name, metadata, record):
        vol = record("volume", self.conn.block_storage.create_volume(
            name=name, size=1, metadata=metadata))
        return vol

    # --------------------------------------------------------------- one leaked job
    def job(self, n, async_delete, keypair=True, backups=False, network_only=False,
            manila=False, dns=False, first=1):
        tag = f"ci-job-{n}"
        p = f"{tag}-"
        tags = [tag]
        mine = self.mine
        if dns:  # first: Designate works on it while the rest is seeded
            self.dns(n, first)
        parts = self.network_set(p, f"10.{n % 250}.0.0/24", tags, mine)
        spare_fip = mine("floating-ip", self.net.create_ip(
            floating_network_id=self.public.id, description=f"{p}spare-fip"))
        self.net.set_tags(spare_fip, tags)
        if network_only:
            self.trunk(p, parts["net"], tags, mine)
            self.port_forwarding(spare_fip, parts["port_b"], mine)
            return
        # Keypairs belong to the user, not the project: a look-alike job of the same user
        # in another project cannot have one of the same name.
        key = mine("keypair", self.conn.compute.create_keypair(name=f"{p}key")) if keypair else None
        group = mine("server-group", self.conn.compute.create_server_group(
            name=f"{p}group", policy="soft-anti-affinity"))
        srv = self.server(f"{p}vm", parts["port_b"], tags, mine, key=key, group=group)
        self.trunk(p, parts["net"], tags, mine)
        # Follows its floating IP (no marks of its own): goes before it and port-b.
        self.port_forwarding(spare_fip, parts["port_b"], mine)
        data = self.volume(f"{p}data", {"ci-job": str(n)}, mine)
        self.attach.append((srv, data))
        vol2 = self.volume(f"{p}vol2", {"ci-job": str(n)}, mine)
        self.snapshot_later.append((f"{p}snap", vol2, n))
        if backups:
            self.backup_later.append((vol2, [(f"{p}backup", {"ci-job": str(n)}),
                                             (f"{p}backup-inc", {"ci-job": str(n)})], n))
        mine("image", self.conn.image.create_image(
            name=f"{p}image", disk_format="raw", container_format="bare",
            visibility="private", tags=tags, data=b"leaked image\n", wait=True))
        secret = self.secret(f"{p}secret", mine)
        self.secret_container(f"{p}container", [secret], mine)
        if manila:
            self.shares(n, parts)
        if async_delete:
            sg_c = mine("security-group", self.net.create_security_group(name=f"{p}sg-c"))
            self.net.set_tags(sg_c, tags)
            port_c = mine("port", self.net.create_port(
                name=f"{p}port-c", network_id=parts["net"].id, security_group_ids=[sg_c.id]))
            self.net.set_tags(port_c, tags)
            doomed = self.server(f"{p}doomed", port_c, tags, mine)
            self.doomed.append(doomed)

    # --------------------------------------------------------------- survivors
    def survivors_set(self, backups=False, manila=False, dns=False):
        keep = self.keep
        if dns:
            self.recordsets_later(self.zone("ci-job-10", keep), ["www"], keep)
        # Look-alikes: job 10's marks, names without the trailing dash, other tags.
        parts = self.network_set("ci-job-10-", "10.210.0.0/24", ["ci-job-10"], keep)
        plain = self.network_set("keep-", "10.211.0.0/24", [], keep)
        self.net.set_tags(plain["net"], ["ci-job-1x", "keep"])
        keep("network", self.net.create_network(name="ci-job-1"))
        keep("security-group", self.net.create_security_group(name="CI-JOB-1-sg"))
        keep("floating-ip", self.net.create_ip(
            floating_network_id=self.public.id, description="ci-job-1"))
        keep("keypair", self.conn.compute.create_keypair(name="ci-job-10-key"))
        keep("keypair", self.conn.compute.create_keypair(name="keep-key"))
        keep("server-group", self.conn.compute.create_server_group(
            name="ci-job-10-group", policy="soft-anti-affinity"))
        srv = self.server("keep-vm", plain["port_b"], [], keep)
        self.trunk("keep-", plain["net"], [], keep)
        self.trunk("ci-job-10-", parts["net"], ["ci-job-10"], keep)
        kept_fip = keep("floating-ip", self.net.create_ip(
            floating_network_id=self.public.id, description="keep-forwarded"))
        self.port_forwarding(kept_fip, plain["port_b"], keep)
        data = self.volume("keep-data", {"ci-job": "10"}, keep)
        self.attach.append((srv, data))
        v = self.volume("ci-job-1", {"ci-job-x": "1"}, keep)
        self.snapshot_later.append(("keep-snap", v, None))
        if backups:
            self.backup_later.append((v, [("ci-job-10-backup", {"ci-job": "10"}),
                                          ("ci-job-1", {"ci-job-x": "1"})], None))
        keep("image", self.conn.image.create_image(
            name="ci-job-10-image", disk_format="raw", container_format="bare",
            visibility="private", tags=["ci-job-10"], data=b"kept image\n", wait=True))
        # Admin-owned things the project uses.
        keep("network", self.public)
        keep("image", self.image)
        # Barbican look-alikes: job 10's name, a name without the dash, and an unmarked
        # container of an unmarked secret.
        self.secret("ci-job-10-secret", keep)
        self.secret("ci-job-1", keep)
        kept = self.secret("keep-secret", keep)
        self.secret_container("keep-container", [kept], keep)
        if manila:
            self.kept_shares()
        del parts

    def wait_status(self, res, status):
        """Waits (up to 2 min) until the Cinder resource `res` shows `status`; an API
        that drops the connection meanwhile is asked again (`wait_available`)."""
        bs = self.conn.block_storage
        return wait_available(
            lambda: bs.wait_for_status(res, status, failures=["error"], wait=120))

    # --------------------------------------------------------------- finishing
    def finish(self):
        cs = self.conn.compute
        bs = self.conn.block_storage
        for srv in self.servers_to_wait:
            wait_available(lambda: cs.wait_for_server(srv, status="ACTIVE", wait=180))
        for name, vol, n in self.snapshot_later:
            self.wait_status(vol, "available")
            snap = bs.create_snapshot(volume_id=vol.id, name=name,
                                      metadata={"ci-job": str(n)} if n else {})
            (self.mine if n else self.keep)("snapshot", snap)
        for srv, vol in self.attach:
            self.wait_status(vol, "available")
            cs.create_volume_attachment(srv, volume_id=vol.id)
        for srv, vol in self.attach:
            self.wait_status(vol, "in-use")
        pending = wait_available(
            lambda: [s for s in bs.snapshots() if s.status != "available"])
        for snap in pending:
            self.wait_status(snap, "available")
        self.backups()
        self.finish_shares()
        self.finish_dns()

    def delete_doomed(self):
        for srv in self.doomed:
            self.conn.compute.delete_server(srv)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cloud", default="ci")
    ap.add_argument("--jobs", type=int, default=2, help="leaked jobs 1..N (N <= 9)")
    ap.add_argument("--async-server-delete", action="store_true")
    ap.add_argument("--no-survivors", action="store_true",
                    help="seed only the jobs (the chaos stage: survivors exist already)")
    ap.add_argument("--first-job", type=int, default=1, help="number of the first job")
    ap.add_argument("--no-keypair", action="store_true",
                    help="jobs without a keypair (a look-alike project of the same user)")
    ap.add_argument("--held-secret", action="store_true",
                    help="only a secret of the first job held by an unmarked container "
                         "(both survivors; the manifest names them under `held`)")
    ap.add_argument("--region", help="the region to seed (default: the cloud's)")
    ap.add_argument("--network-only", action="store_true",
                    help="only the jobs' Neutron resources (a region with Neutron alone)")
    ap.add_argument("--backups", action="store_true",
                    help="a backup and an incremental on it per job's volume, and look-alikes")
    ap.add_argument("--manila", action="store_true",
                    help="Manila shares, share networks and snapshots per job, and look-alikes")
    ap.add_argument("--dns", action="store_true",
                    help="Designate zones and recordsets per job (selected by name), and "
                         "look-alikes")
    ap.add_argument("--out", required=True, help="manifest JSON path")
    args = ap.parse_args()
    jobs = list(range(args.first_job, args.first_job + args.jobs))
    if not (1 <= jobs[0] and jobs[-1] <= 9):
        ap.error("jobs must be numbered 1..9 (job 10 is the look-alike)")
    t0 = time.monotonic()
    if args.network_only and not args.no_survivors:
        ap.error("--network-only seeds jobs only: add --no-survivors")
    if args.network_only and args.manila:
        ap.error("--network-only seeds Neutron resources only: drop --manila")
    if args.dns and (args.network_only or args.held_secret):
        ap.error("--dns seeds a job's zones: not with --network-only or --held-secret")
    conn = openstack.connect(cloud=args.cloud, **({"region_name": args.region} if args.region else {}))
    seeder = Seeder(conn, network_only=args.network_only)
    if args.held_secret:
        seeder.held_secret(jobs[0])
        if args.manila:
            seeder.held_share_network(jobs[0])
        jobs = jobs[:1]
    for n in ([] if args.held_secret else jobs):
        seeder.job(n, args.async_server_delete, keypair=not args.no_keypair,
                   backups=args.backups, network_only=args.network_only, manila=args.manila,
                   dns=args.dns, first=jobs[0])
    if not args.no_survivors and not args.held_secret:
        seeder.survivors_set(backups=args.backups, manila=args.manila, dns=args.dns)
    if not args.network_only:
        seeder.finish()
    for sg in conn.network.security_groups(name="default"):
        seeder.keep("security-group", sg)
    sweep_args = ["--tag", f"ci-job-{jobs[0]}"]
    for n in jobs[1:]:
        sweep_args += ["--any-tag", f"ci-job-{n}"]
    for n in jobs:
        sweep_args += ["--metadata", f"ci-job={n}"]
    alternatives = "(" + "|".join(map(str, jobs)) + ")"
    if args.dns:
        # A zone's or recordset's name: the job's label after any labels before it
        # (`www.ci-job-1.ci.bed.example.`, `ci-job-1-api.keep-1...`).
        sweep_args += ["--name-regex", f"^(.+[.])?ci-job-{alternatives}[.-]"]
    else:
        sweep_args += ["--name-regex", f"^ci-job-{alternatives}-"]
    manifest = {
        "tag": f"ci-job-{jobs[0]}",
        "jobs": jobs,
        "sweep_args": sweep_args,
        "selected": seeder.selected,
        "survivors": seeder.survivors,
    }
    if args.held_secret:
        manifest["held"] = seeder.held_ids
    with open(args.out, "w") as f:
        json.dump(manifest, f, indent=1)
    seeder.delete_doomed()
    print(
        f"seeded {len(jobs)} job(s): {len(seeder.selected)} selected, "
        f"{len(seeder.survivors)} survivors in {time.monotonic() - t0:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
