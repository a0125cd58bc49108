//! The policy stage's first job: which API keys some stage of a session must decode. No
//! policies exist yet, so the set is the gate's keys and, inside a virtual cluster, the
//! tenancy table's; every other request stays raw (and a Produce spliced).

use kafka_protocol::messages::ApiKey;

/// Which API keys some stage of a session must decode (bit per key), computed when the
/// session starts and again when it is re-bound: the gate's SASL keys, the tenancy table's
/// keys inside a virtual cluster; policies will add theirs. Every other request is forwarded
/// raw, and a Produce head of a key nobody is interested in is spliced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Interest([u64; 2]);

impl Interest {
    /// What the gate reads, in every session.
    pub const GATE: Interest = Interest::of(GATE_KEYS);
    /// What a session inside a virtual cluster decodes: the gate's keys and the tenancy table's.
    pub const TENANT: Interest =
        Self::GATE.union(Interest::of(gatehouse_tenancy::table::MAPPED_KEYS));

    const fn of(keys: &[ApiKey]) -> Self {
        let mut set = [0u64; 2];
        let mut i = 0;
        while i < keys.len() {
            let k = keys[i] as i16 as usize;
            set[k / 64] |= 1 << (k % 64);
            i += 1;
        }
        Self(set)
    }

    pub fn contains(&self, key: ApiKey) -> bool {
        let k = key as i16 as usize;
        k < 128 && self.0[k / 64] & (1 << (k % 64)) != 0
    }

    const fn union(self, other: Self) -> Self {
        Self([self.0[0] | other.0[0], self.0[1] | other.0[1]])
    }
}

/// The gate's keys: it reads the SASL exchange (and answers ApiVersions before it).
const GATE_KEYS: &[ApiKey] = &[
    ApiKey::ApiVersions,
    ApiKey::SaslHandshake,
    ApiKey::SaslAuthenticate,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interest_is_a_set_of_keys() {
        let set = Interest::of(&[ApiKey::Produce, ApiKey::SaslAuthenticate, ApiKey::Metadata]);
        assert!(set.contains(ApiKey::Produce) && set.contains(ApiKey::SaslAuthenticate));
        assert!(!set.contains(ApiKey::Fetch));
        let both = set.union(Interest::of(&[ApiKey::Fetch]));
        assert!(both.contains(ApiKey::Fetch) && both.contains(ApiKey::Metadata));
    }
}
