//! Finding a consumer group's coordinator on a domain, for requests the gateway sends there
//! itself (a tenant's offsets of a further domain's partitions are committed on that domain,
//! whose coordinator for the group the client never asked for).

use std::io;

use kafka_protocol::messages::{ApiKey, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::upstream::{exchange, invalid, UpstreamCluster};

impl UpstreamCluster {
    /// The node id of `group`'s coordinator (an upstream group name), asked once on the
    /// gateway's own connection and remembered until [`Self::forget_coordinator`].
    pub async fn group_coordinator(&self, group: &str) -> io::Result<i32> {
        if let Some(node) = self.state().coordinators.get(group) {
            return Ok(*node);
        }
        let asked = async {
            let mut conn = self.connect_to(&self.bootstrap).await?;
            self.log_in(&mut conn).await?;
            let versions = self.ask_versions_on(&mut conn).await?;
            let ours = ApiKey::FindCoordinator.valid_versions();
            let theirs = (versions.iter())
                .find(|k| k.api_key == ApiKey::FindCoordinator as i16)
                .ok_or_else(|| invalid("the upstream does not offer FindCoordinator"))?;
            let version = theirs.max_version.min(ours.max);
            if version < theirs.min_version.max(ours.min) {
                return Err(invalid(
                    "no FindCoordinator version in common with the upstream",
                ));
            }
            let key = StrBytes::from_string(group.to_string());
            let request = match version {
                0..=3 => FindCoordinatorRequest::default().with_key(key),
                _ => FindCoordinatorRequest::default().with_coordinator_keys(vec![key]),
            };
            let ask = exchange::<_, FindCoordinatorResponse>(
                &mut conn,
                ApiKey::FindCoordinator,
                version,
                &request,
            );
            let answer = self.answered_within(ask, "FindCoordinator").await?;
            let (error, node, host, port) = match answer.coordinators.first() {
                Some(c) if version >= 4 => (c.error_code, c.node_id.0, c.host.to_string(), c.port),
                _ => (
                    answer.error_code,
                    answer.node_id.0,
                    answer.host.to_string(),
                    answer.port,
                ),
            };
            if error != 0 {
                return Err(io::Error::other(format!(
                    "domain '{}' found no coordinator for group '{group}' (error {error})",
                    self.domain
                )));
            }
            self.learn(node, &host, port);
            Ok(node)
        }
        .await;
        self.record(&asked);
        let node = asked?;
        self.state().coordinators.insert(group.to_string(), node);
        Ok(node)
    }

    /// Forgets `group`'s coordinator (an answer said NOT_COORDINATOR): the next ask finds it anew.
    pub fn forget_coordinator(&self, group: &str) {
        self.state().coordinators.remove(group);
    }
}
