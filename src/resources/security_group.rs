//! Neutron security groups. Ports keep a group in use (409 `SecurityGroupInUse`). A rule
//! naming another group as remote does not block that group's deletion (Neutron drops
//! the rule), so it only guards it: a group referenced from a group we keep is kept.
//! The project's `default` group is never deleted.

use serde_json::Value;

use super::{
    neutron_common, Api, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation, Resource,
};
use crate::openstack::Service;

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::SecurityGroup,
    name: "security-group",
    service: Service::Network,
    api: Api {
        list_path: "/security-groups",
        collection: "security_groups",
        item_prefix: "/security-groups/",
        item_key: Some("security_group"),
    },
    parse,
    tags: true,
    metadata: false,
    deletes_asynchronously: false,
    blockers: &[Kind::Port, Kind::SecurityGroup, Kind::Stack],
    rank: 80,
    stuck: &[],
    stuck_after_delete: &[],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: None,
    hooks: Hooks::NONE,
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::SecurityGroup, v)?;
    let mut r = neutron_common(Kind::SecurityGroup, &o)?;
    if r.name == "default" {
        r.undeletable = Some("the project's default security group".into());
    }
    let mut remotes: Vec<String> = Vec::new();
    for rule in o.objs("security_group_rules")? {
        if let Some(remote) = rule.str("remote_group_id")? {
            if remote != r.id && !remotes.contains(&remote) {
                remotes.push(remote);
            }
        }
    }
    for remote in remotes {
        r.refs.push(Reference::new(
            Relation::Guards,
            Kind::SecurityGroup,
            remote,
            "remote group of a rule",
        ));
    }
    Ok(r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Remote-group rules guard other groups once each; self references are ignored;
    /// `default` is undeletable.
    #[test]
    fn remote_groups_and_default() {
        let r = parse(
            &json!({"id": "g1", "name": "default", "security_group_rules": [
            {"remote_group_id": "g1"}, {"remote_group_id": "g2"}, {"remote_group_id": "g2"},
            {"remote_group_id": null}]}),
        )
        .unwrap();
        assert_eq!(r.refs.len(), 1);
        assert_eq!(r.refs[0].relation, Relation::Guards);
        assert!(r.undeletable.is_some());
    }
}
