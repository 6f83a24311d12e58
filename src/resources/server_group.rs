//! Nova server groups: name only, no tags or creation time; their members hold them.

use serde_json::Value;

use super::{Api, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation, Resource};
use crate::openstack::Service;

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::ServerGroup,
    name: "server-group",
    service: Service::Compute,
    api: Api {
        list_path: "/os-server-groups",
        collection: "server_groups",
        item_prefix: "/os-server-groups/",
        item_key: Some("server_group"),
    },
    parse,
    tags: false,
    metadata: false,
    deletes_asynchronously: false,
    blockers: &[Kind::Server, Kind::Stack],
    rank: 120,
    stuck: &[],
    stuck_after_delete: &[],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: None,
    hooks: Hooks::NONE,
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::ServerGroup, v)?;
    let mut r = Resource::new(Kind::ServerGroup, o.required("id")?);
    r.name = o.string("name")?;
    r.project_id = o.str("project_id")?;
    r.created_at = o.time("created_at")?;
    for member in o.strings("members")? {
        r.refs.push(Reference::new(
            Relation::HeldBy,
            Kind::Server,
            member,
            "member",
        ));
    }
    Ok(r)
}
