"""Bootstraps the real-cloud test bed through the APIs (called by up.sh).

  identity   service project, service users and catalog (RegionTwo: a second Neutron
             only), projects `ci`, `ci-2`, `ci-other` with `ci-user` as member (Keystone
             must be up)
  resources  waits for nova-compute, cinder-volume and cinder-backup, Manila's back ends
             and a Designate probe zone going ACTIVE, then creates the external network
             `public` (in both regions), a flavor, an image, raised quotas, and writes
             clouds.yaml with clouds `ci`, `ci-2`, `ci-other` (the member) and `admin`
  check      exit 0 when the bed described by clouds.yaml answers

On a service that never reports up it prints `SERVICE-DOWN: <name>` on stderr.
"""

import argparse
import os
import sys
import time

import openstack

KS = "http://127.0.0.1:5000/v3"
REGION = "RegionOne"
SERVICE_USERS = ["nova", "neutron", "cinder", "placement", "glance", "barbican", "manila",
                 "designate"]
CATALOG = [
    # type, name, url
    ("compute", "nova", "http://127.0.0.1:8774/v2.1"),
    ("network", "neutron", "http://127.0.0.1:9696"),
    ("block-storage", "cinder", "http://127.0.0.1:8776/v3/%(project_id)s"),
    ("placement", "placement", "http://127.0.0.1:8778"),
    ("image", "glance", "http://127.0.0.1:9292"),
    ("key-manager", "barbican", "http://127.0.0.1:9311"),
    ("sharev2", "manilav2", "http://127.0.0.1:8786/v2"),
    ("dns", "designate", "http://127.0.0.1:9001"),
]
# RegionTwo offers only a second Neutron (the janitor must call every other kind absent
# there): the same Keystone, its own database and port.
REGION_TWO = "RegionTwo"
CATALOG_TWO = [("network", "neutron", "http://127.0.0.1:9697")]
PUBLIC_CIDR = "172.24.4.0/24"
FLAVOR = "ci.tiny"
IMAGE = "ci-base-image"
# The member's projects: `ci` (the stage's), `ci-2` (a second project of a multi-project
# target) and `ci-other` (a look-alike the target does not name: must stay untouched).
PROJECTS = ("ci", "ci-2", "ci-other")
# Manila's share types: `default` on the back end without share servers, `dhss` on the
# one with them (shares on a share network). See manila.sh.
SHARE_TYPES = {"default": False, "dhss": True}
MANILA_VERSION = {"X-OpenStack-Manila-API-Version": "2.65"}
# An admin sets another project's Designate quotas only with this header.
ALL_PROJECTS = {"X-Auth-All-Projects": "true"}
PROBE_ZONE = "probe.bed.example."


def admin_conn(password, region=REGION):
    return openstack.connect(
        auth_url=KS,
        username="admin",
        password=password,
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=region,
        identity_api_version="3",
    )


def identity(conn, password):
    idc = conn.identity
    service_project = idc.find_project("service") or idc.create_project(
        name="service", domain_id="default"
    )
    roles = {r.name: r for r in idc.roles()}
    for name in ("admin", "member", "reader", "service"):
        if name not in roles:
            roles[name] = idc.create_role(name=name)
    for user_name in SERVICE_USERS:
        user = idc.find_user(user_name, domain_id="default") or idc.create_user(
            name=user_name, password=password, domain_id="default"
        )
        for role in ("admin", "service"):
            idc.assign_project_role_to_user(service_project, user, roles[role])
    if not any(r.id == REGION_TWO for r in idc.regions()):
        idc.create_region(id=REGION_TWO)
    for region, catalog in ((REGION, CATALOG), (REGION_TWO, CATALOG_TWO)):
        for stype, sname, url in catalog:
            svc = next((s for s in idc.services() if s.type == stype), None) or \
                idc.create_service(type=stype, name=sname, is_enabled=True)
            have = {e.interface for e in idc.endpoints(service_id=svc.id, region_id=region)}
            for interface in ("public", "internal"):
                if interface not in have:
                    idc.create_endpoint(
                        service_id=svc.id, interface=interface, url=url, region_id=region
                    )
    projects = [
        idc.find_project(name) or idc.create_project(name=name, domain_id="default")
        for name in PROJECTS
    ]
    user = idc.find_user("ci-user", domain_id="default") or idc.create_user(
        name="ci-user", password=password, domain_id="default", default_project_id=projects[0].id
    )
    for project in projects:
        idc.assign_project_role_to_user(project, user, roles["member"])


def wait(what, service, check, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - services still starting
            last = exc
        time.sleep(1)
    print(f"SERVICE-DOWN: {service}", file=sys.stderr)
    raise SystemExit(f"{what} not ready after {timeout}s (last error: {last})")


def compute_ready(conn):
    up = [
        s
        for s in conn.compute.services()
        if s.binary == "nova-compute" and s.state == "up" and s.status == "enabled"
    ]
    return up and list(conn.compute.hypervisors())


def volume_ready(conn):
    return any(
        s.binary == "cinder-volume" and s.state == "up"
        for s in conn.block_storage.services()
    )


def manila_services_up(conn):
    svcs = conn.shared_file_system.get("/services", headers=MANILA_VERSION).json()["services"]
    up = {s["host"] for s in svcs if s["state"] == "up" and s["status"] == "enabled"}
    return {"realcloud", "realcloud@alpha", "realcloud@beta"} <= up


def manila_pools(conn):
    """The scheduler knows both back ends' pools: a share created before would find
    "No valid host"."""
    pools = conn.shared_file_system.get(
        "/scheduler-stats/pools", headers=MANILA_VERSION).json()["pools"]
    return {p["backend"] for p in pools} >= {"alpha", "beta"}


def share_types(conn):
    sfs = conn.shared_file_system
    have = {t["name"] for t in sfs.get("/types", headers=MANILA_VERSION).json()["share_types"]}
    for name, dhss in SHARE_TYPES.items():
        if name in have:
            continue
        r = sfs.post("/types", headers=MANILA_VERSION, json={"share_type": {
            "name": name, "share_type_access:is_public": True,
            "extra_specs": {"driver_handles_share_servers": dhss,
                            "snapshot_support": True}}})
        r.raise_for_status()


def designate_probe(conn):
    """A zone in the admin project goes ACTIVE (central, worker, mdns and named all
    work: the worker saw named serve it), then goes again."""
    dns = conn.dns
    for z in dns.zones(name=PROBE_ZONE):
        dns.delete_zone(z, ignore_missing=True)
        dns.wait_for_delete(z, wait=60)
    zone = dns.create_zone(name=PROBE_ZONE, email="ci@bed.example")
    deadline = time.monotonic() + 60
    while (zone := dns.get_zone(zone.id)).status != "ACTIVE":
        if zone.status == "ERROR" or time.monotonic() > deadline:
            print("SERVICE-DOWN: designate-worker", file=sys.stderr)
            raise SystemExit(f"Designate's probe zone is {zone.status}, not ACTIVE")
        time.sleep(0.2)
    dns.delete_zone(zone)


def public_network(conn):
    """The admin-owned external network `public` of one region, with its subnet."""
    net = conn.network.find_network("public")
    if net is None:
        net = conn.network.create_network(
            name="public",
            is_router_external=True,
            provider_network_type="flat",
            provider_physical_network="physnet1",
        )
    if not list(conn.network.subnets(network_id=net.id)):
        conn.network.create_subnet(
            name="public-subnet",
            network_id=net.id,
            ip_version=4,
            cidr=PUBLIC_CIDR,
            gateway_ip="172.24.4.1",
            allocation_pools=[{"start": "172.24.4.10", "end": "172.24.4.250"}],
            is_dhcp_enabled=False,
        )


def resources(conn, conn_two, password, directory):
    wait("nova-conductor", "nova-conductor", lambda: any(
        s.binary == "nova-conductor" and s.state == "up" for s in conn.compute.services()
    ), 150)
    wait("nova-scheduler", "nova-scheduler", lambda: any(
        s.binary == "nova-scheduler" and s.state == "up" for s in conn.compute.services()
    ), 150)
    wait("nova-compute and its hypervisor", "nova-compute", lambda: compute_ready(conn), 150)
    wait("cinder-scheduler", "cinder-scheduler", lambda: any(
        s.binary == "cinder-scheduler" and s.state == "up"
        for s in conn.block_storage.services()
    ), 150)
    wait("cinder-volume", "cinder-volume", lambda: volume_ready(conn), 150)
    wait("cinder-backup", "cinder-backup", lambda: any(
        s.binary == "cinder-backup" and s.state == "up"
        for s in conn.block_storage.services()
    ), 150)

    wait("manila-scheduler and manila-share", "manila-share", lambda: manila_services_up(conn), 150)
    wait("manila's pools at its scheduler", "manila-scheduler", lambda: manila_pools(conn), 150)
    share_types(conn)
    wait("Designate's API", "designate-api", lambda: list(conn.dns.zones()) is not None, 60)
    designate_probe(conn)

    public_network(conn)
    public_network(conn_two)
    if conn.compute.find_flavor(FLAVOR) is None:
        conn.compute.create_flavor(name=FLAVOR, ram=64, vcpus=1, disk=1, is_public=True)
    if conn.image.find_image(IMAGE) is None:
        conn.image.create_image(
            name=IMAGE,
            disk_format="raw",
            container_format="bare",
            visibility="public",
            data=b"stacksweep test image\n",
            wait=True,
        )
    for name in PROJECTS:
        project = conn.identity.find_project(name)
        for c in (conn, conn_two):
            c.network.update_quota(
                project.id, networks=-1, subnets=-1, ports=-1, routers=-1,
                floating_ips=-1, security_groups=-1, security_group_rules=-1,
            )
        conn.set_compute_quotas(
            project.id, instances=-1, cores=-1, ram=-1, key_pairs=-1, server_groups=-1,
            server_group_members=-1,
        )
        conn.set_volume_quotas(
            project.id, volumes=-1, snapshots=-1, gigabytes=-1, backups=-1,
            backup_gigabytes=-1,
        )
        conn.shared_file_system.put(
            f"/quota-sets/{project.id}", headers=MANILA_VERSION,
            json={"quota_set": {"shares": -1, "snapshots": -1, "gigabytes": -1,
                                "snapshot_gigabytes": -1, "share_networks": -1}},
        ).raise_for_status()
        conn.dns.patch(
            f"/quotas/{project.id}", headers=ALL_PROJECTS,
            json={"zones": -1, "zone_recordsets": -1, "zone_records": -1,
                  "recordset_records": -1},
        ).raise_for_status()
    write_clouds(directory, password)


def write_clouds(directory, password):
    def cloud(user, project):
        return (
            f"    auth:\n"
            f"      auth_url: {KS}\n"
            f"      username: {user}\n"
            f"      password: {password}\n"
            f"      project_name: {project}\n"
            f"      user_domain_name: Default\n"
            f"      project_domain_name: Default\n"
            f"    region_name: {REGION}\n"
            f"    regions: [{REGION}, {REGION_TWO}]\n"
            f"    identity_api_version: 3\n"
            f"    interface: public\n"
        )

    path = os.path.join(directory, "clouds.yaml")
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("clouds:\n"
                + "".join(f"  {name}:\n" + cloud("ci-user", name) for name in PROJECTS)
                + "  admin:\n" + cloud("admin", "admin"))
    os.replace(tmp, path)


def check(directory):
    os.environ["OS_CLIENT_CONFIG_FILE"] = os.path.join(directory, "clouds.yaml")
    conn = openstack.connect(cloud="ci")
    list(conn.network.networks(limit=1))
    list(conn.compute.servers(limit=1))
    list(conn.block_storage.volumes(limit=1))
    list(conn.image.images(limit=1))
    list(conn.dns.zones(limit=1))
    list(openstack.connect(cloud="ci", region_name=REGION_TWO).network.networks(limit=1))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["identity", "resources", "check"])
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    if args.step == "check":
        try:
            return check(args.dir)
        except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
            print(f"test bed not healthy: {exc}", file=sys.stderr)
            return 1
    with open(os.path.join(args.dir, "secret")) as f:
        password = f.read().strip()
    conn = admin_conn(password)
    if args.step == "identity":
        identity(conn, password)
    else:
        resources(conn, admin_conn(password, REGION_TWO), password, args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
