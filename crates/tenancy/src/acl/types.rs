//! The words of Kafka's ACL model: operations, resource types, pattern types, permissions,
//! principals and hosts, with Kafka's names (`READ`, `TRANSACTIONAL_ID`) and wire codes (the
//! `i8` values of CreateAcls, DescribeAcls and DeleteAcls).

use std::fmt;
use std::net::IpAddr;

/// Generates an enum with Kafka's name and wire code for each variant.
macro_rules! kafka_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = ($text:literal, $code:literal)),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in Kafka's code order.
            pub const ALL_VALUES: &'static [$name] = &[$($name::$variant),+];

            /// Kafka's name (`kafka-acls`, AdminClient, Conduktor's documents).
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The value of Kafka's name, exact spelling.
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }

            /// The code Kafka's ACL requests and responses carry.
            pub fn code(self) -> i8 {
                match self { $($name::$variant => $code),+ }
            }

            /// The value of a wire code (None: UNKNOWN, ANY, MATCH and codes this model has no
            /// use for, such as the DELEGATION_TOKEN resource type).
            pub fn from_code(code: i8) -> Option<$name> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }

            /// Every name, comma-separated (for errors that list the choices).
            pub fn names() -> String {
                [$($text),+].join(", ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

kafka_enum!(
    /// What a request does to a resource.
    Operation {
        All = ("ALL", 2),
        Read = ("READ", 3),
        Write = ("WRITE", 4),
        Create = ("CREATE", 5),
        Delete = ("DELETE", 6),
        Alter = ("ALTER", 7),
        Describe = ("DESCRIBE", 8),
        ClusterAction = ("CLUSTER_ACTION", 9),
        DescribeConfigs = ("DESCRIBE_CONFIGS", 10),
        AlterConfigs = ("ALTER_CONFIGS", 11),
        IdempotentWrite = ("IDEMPOTENT_WRITE", 12),
    }
);

kafka_enum!(
    /// What kind of thing an ACL is about.
    ResourceType {
        Topic = ("TOPIC", 2),
        Group = ("GROUP", 3),
        Cluster = ("CLUSTER", 4),
        TransactionalId = ("TRANSACTIONAL_ID", 5),
    }
);

kafka_enum!(
    /// How an ACL's resource name matches the names asked about.
    PatternType {
        /// The name itself; `*` is every name of the resource type.
        Literal = ("LITERAL", 3),
        /// Every name that starts with it.
        Prefixed = ("PREFIXED", 4),
    }
);

kafka_enum!(
    /// Whether a matching ACL grants or refuses.
    Permission {
        Deny = ("DENY", 2),
        Allow = ("ALLOW", 3),
    }
);

/// The one name of the CLUSTER resource, in every request that asks about it.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// A LITERAL name matching every name of its resource type.
pub const WILDCARD: &str = "*";

impl Operation {
    /// Whether an ALLOW for `self` grants `asked`: the operation itself, ALL, and Kafka's
    /// implications (READ, WRITE, DELETE and ALTER grant DESCRIBE; ALTER_CONFIGS grants
    /// DESCRIBE_CONFIGS). A DENY refuses only its own operation and, for ALL, every one:
    /// DENY READ leaves DESCRIBE to the ALLOWs (Kafka's AclAuthorizer and StandardAuthorizer).
    pub fn allow_grants(self, asked: Operation) -> bool {
        use Operation::*;
        self == asked
            || self == All
            || match asked {
                Describe => matches!(self, Read | Write | Delete | Alter),
                DescribeConfigs => self == AlterConfigs,
                _ => false,
            }
    }

    /// Whether a DENY for `self` refuses `asked`.
    pub fn deny_refuses(self, asked: Operation) -> bool {
        self == asked || self == Operation::All
    }
}

/// Who an ACL is for. Only Kafka's `User` principal type exists at the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AclPrincipal {
    /// `User:<name>`: the principal authenticated as `name`.
    User(String),
    /// `User:*`: every principal.
    AnyUser,
}

impl AclPrincipal {
    /// Parses `User:<name>` or `User:*`; None for anything else (another principal type, an
    /// empty name).
    pub fn parse(s: &str) -> Option<AclPrincipal> {
        match s.strip_prefix("User:")? {
            "" => None,
            "*" => Some(AclPrincipal::AnyUser),
            name => Some(AclPrincipal::User(name.to_string())),
        }
    }

    /// Whether it is the principal authenticated as `user`.
    pub fn matches(&self, user: &str) -> bool {
        match self {
            AclPrincipal::AnyUser => true,
            AclPrincipal::User(name) => name == user,
        }
    }
}

impl fmt::Display for AclPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AclPrincipal::AnyUser => f.write_str("User:*"),
            AclPrincipal::User(name) => write!(f, "User:{name}"),
        }
    }
}

/// Where the client of an ACL connects from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AclHost {
    /// `*`: any address.
    Any,
    /// Exactly this address (Kafka compares addresses, never names).
    Address(IpAddr),
}

impl AclHost {
    /// Parses `*` or an IPv4 or IPv6 address (IPv4-mapped IPv6 addresses are their IPv4
    /// address, as Java's InetAddress reads them).
    pub fn parse(s: &str) -> Option<AclHost> {
        if s == "*" {
            return Some(AclHost::Any);
        }
        s.parse::<IpAddr>()
            .ok()
            .map(|a| AclHost::Address(a.to_canonical()))
    }

    pub fn matches(&self, client: IpAddr) -> bool {
        match self {
            AclHost::Any => true,
            AclHost::Address(a) => *a == client.to_canonical(),
        }
    }
}

impl fmt::Display for AclHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AclHost::Any => f.write_str("*"),
            AclHost::Address(a) => write!(f, "{a}"),
        }
    }
}

/// One ACL: `permission` of `principal` from `host` to do `operation` on the resources of
/// `resource_type` whose name matches `name` by `pattern`. Names are the tenant's own (an
/// unprefixed topic, group or transactional id, an alias name), never physical names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclEntry {
    pub resource_type: ResourceType,
    pub name: String,
    pub pattern: PatternType,
    pub principal: AclPrincipal,
    pub host: AclHost,
    pub operation: Operation,
    pub permission: Permission,
}

impl AclEntry {
    /// Whether the entry's resource pattern covers `name` (of its resource type).
    pub fn covers(&self, name: &str) -> bool {
        match self.pattern {
            PatternType::Literal => self.name == WILDCARD || self.name == name,
            PatternType::Prefixed => name.starts_with(self.name.as_str()),
        }
    }
}
