//! The rules for names in resources: virtual cluster names, principals, prefixes.

use super::alias::topic_name_problem;
use super::{invalid, Kind, MAX_PRINCIPAL_LEN, MAX_VCLUSTER_NAME_LEN, PASSTHROUGH};
use crate::StoreError;

/// Characters Kafka allows in topic names: what a prefix may be made of.
pub(super) fn kafka_legal(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

pub(super) const LEGAL: &str =
    "only letters, digits, '.', '_' and '-' are allowed (Kafka's topic name characters)";

/// What a virtual cluster name may be, in words (for errors everywhere a name is given).
pub const VCLUSTER_NAME_RULE: &str = "1 to 64 of the letters a-z A-Z, digits, '.', '_' and '-' (Kafka's topic name characters), and not '.' or '..'";

/// What a service account name (a principal) may be, in words.
pub const PRINCIPAL_RULE: &str = "1 to 255 bytes of UTF-8, not '.' or '..', without leading or trailing spaces, control characters, or invisible and direction-changing characters (such as U+202E)";

/// Characters that are invisible or change the direction text is shown in: a name holding
/// one can look like another name in a terminal or log (`admin\u{202E}nimda`).
fn invisible_or_bidi(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}')
}

/// Why `name` is not a name of `kind` (None: it is one). The one rule for each kind, used
/// by resource documents, admin API paths, the token API and the CLI.
pub fn name_problem(kind: Kind, name: &str) -> Option<String> {
    let (max, rule) = match kind {
        Kind::VirtualCluster => (MAX_VCLUSTER_NAME_LEN, VCLUSTER_NAME_RULE),
        Kind::GatewayServiceAccount => (MAX_PRINCIPAL_LEN, PRINCIPAL_RULE),
        // An alias's name is a topic name in the tenant's view.
        Kind::AliasTopic => return topic_name_problem(name),
    };
    let shown = name.escape_debug();
    let problem = if name.is_empty() {
        "is empty".to_owned()
    } else if name.len() > max {
        format!("is {} bytes long", name.len())
    } else if name == "." || name == ".." {
        format!("'{name}' is a path segment, not a name")
    } else if let Some(c) = name
        .chars()
        .find(|c| c.is_control() || invisible_or_bidi(*c))
    {
        format!("'{shown}' holds the character U+{:04X}", u32::from(c))
    } else if name.trim() != name {
        format!("'{shown}' starts or ends with a space")
    } else if kind == Kind::VirtualCluster && !kafka_legal(name) {
        format!("'{shown}' holds characters other than those allowed")
    } else {
        return None;
    };
    Some(format!("{problem}: a {} name is {rule}", kind.name()))
}

/// Checks a name of `kind`; the error names `field`.
pub fn check_name(kind: Kind, field: &str, name: &str) -> Result<(), StoreError> {
    match name_problem(kind, name) {
        Some(p) => Err(invalid(field, p)),
        None => Ok(()),
    }
}

pub(crate) fn check_vcluster_name(field: &str, name: &str) -> Result<(), StoreError> {
    check_name(Kind::VirtualCluster, field, name)
}

pub(super) fn check_principal(field: &str, name: &str) -> Result<(), StoreError> {
    check_name(Kind::GatewayServiceAccount, field, name)
}

pub(crate) fn passthrough_is_built_in(field: &str) -> StoreError {
    invalid(
        field,
        format!("'{PASSTHROUGH}' is the built-in virtual cluster: it always exists and cannot be created, changed or deleted"),
    )
}
