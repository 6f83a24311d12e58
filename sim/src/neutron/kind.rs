//! The Neutron resource kinds: their URL segments, JSON keys, CLI words and 404 answers.

use axum::http::StatusCode;

use crate::error::ApiError;

/// A Neutron resource kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NKind {
    /// `networks`.
    Network,
    /// `subnets`.
    Subnet,
    /// `ports`.
    Port,
    /// `routers`.
    Router,
    /// `floatingips`.
    FloatingIp,
    /// `security-groups`.
    SecurityGroup,
    /// `security-group-rules`.
    SecurityGroupRule,
    /// `trunks` (the trunk extension).
    Trunk,
}

impl NKind {
    pub(super) const ALL: [NKind; 8] = [
        NKind::Network,
        NKind::Subnet,
        NKind::Port,
        NKind::Router,
        NKind::FloatingIp,
        NKind::SecurityGroup,
        NKind::SecurityGroupRule,
        NKind::Trunk,
    ];

    pub(super) fn from_url(s: &str) -> Option<NKind> {
        NKind::ALL.into_iter().find(|k| k.url() == s)
    }

    /// Path segment (`security-groups`).
    pub fn url(self) -> &'static str {
        match self {
            NKind::Network => "networks",
            NKind::Subnet => "subnets",
            NKind::Port => "ports",
            NKind::Router => "routers",
            NKind::FloatingIp => "floatingips",
            NKind::SecurityGroup => "security-groups",
            NKind::SecurityGroupRule => "security-group-rules",
            NKind::Trunk => "trunks",
        }
    }

    /// JSON key of a list (`security_groups`).
    pub fn plural(self) -> &'static str {
        match self {
            NKind::SecurityGroup => "security_groups",
            NKind::SecurityGroupRule => "security_group_rules",
            other => other.url(),
        }
    }

    /// JSON key of one resource (`security_group`).
    pub fn single(self) -> &'static str {
        match self {
            NKind::Network => "network",
            NKind::Subnet => "subnet",
            NKind::Port => "port",
            NKind::Router => "router",
            NKind::FloatingIp => "floatingip",
            NKind::SecurityGroup => "security_group",
            NKind::SecurityGroupRule => "security_group_rule",
            NKind::Trunk => "trunk",
        }
    }

    /// The CLI word for the kind (`floating-ip`).
    pub fn word(self) -> &'static str {
        match self {
            NKind::FloatingIp => "floating-ip",
            NKind::SecurityGroup => "security-group",
            NKind::SecurityGroupRule => "security-group-rule",
            other => other.single(),
        }
    }

    /// The 404 Neutron answers for a missing resource of this kind.
    pub fn not_found(self, id: &str) -> ApiError {
        let (ty, msg) = match self {
            NKind::Network => (
                "NetworkNotFound",
                format!("Network {id} could not be found."),
            ),
            NKind::Subnet => ("SubnetNotFound", format!("Subnet {id} could not be found.")),
            NKind::Port => ("PortNotFound", format!("Port {id} could not be found.")),
            NKind::Router => ("RouterNotFound", format!("Router {id} could not be found.")),
            NKind::FloatingIp => (
                "FloatingIPNotFound",
                format!("Floating IP {id} could not be found"),
            ),
            NKind::SecurityGroup => (
                "SecurityGroupNotFound",
                format!("Security group {id} does not exist"),
            ),
            NKind::SecurityGroupRule => (
                "SecurityGroupRuleNotFound",
                format!("Security group rule {id} does not exist"),
            ),
            NKind::Trunk => ("TrunkNotFound", format!("Trunk {id} could not be found.")),
        };
        ApiError::neutron(StatusCode::NOT_FOUND, ty, msg)
    }
}
