//! A request sent to several streaming domains of the route, answered with their answers
//! merged (a Metadata that shows several domains: passthrough on a multi-domain route, or a
//! tenant whose alias topics live on several).

use bytes::Bytes;
use tokio::io::AsyncRead;

use gatehouse_protocol::message::ResponseMessage;
use gatehouse_routing::log_limit::{LogLimit, DEFAULT_INTERVAL};
use gatehouse_routing::Target;

use super::{upstream, End, Meta, RequestPump};
use crate::pipeline::{FanOut, Merge, Toward};
use crate::sequencer::{Fanout, Slot};
use crate::upstreams::Destination;

/// A further domain left out of a merged answer, once per interval.
static FAN_OUT_SKIPPED_LOG: LogLimit = LogLimit::new(DEFAULT_INTERVAL);

impl<R: AsyncRead + Unpin> RequestPump<'_, R> {
    /// Sends each part to its domain (on the session's link to any broker of it: to all but
    /// the client's own destination these are the gateway's own requests, numbered on their
    /// links like any) and queues one slot for the merged answer.
    ///
    /// The first part is the route's own domain, which must answer. A further domain that is
    /// down (its health probe says so, or its link cannot be opened) is left out of the answer
    /// rather than failing it: its brokers and topics disappear until it is back, as they
    /// would from a cluster's own metadata.
    pub(super) async fn fan_out(&mut self, meta: Meta, fan_out: FanOut) -> Result<(), End> {
        let FanOut { parts, merge: kind } = fan_out;
        let mut sent = Vec::with_capacity(parts.len());
        let mut asked = Vec::with_capacity(parts.len());
        for (i, part) in parts.into_iter().enumerate() {
            let further = i > 0;
            let found = self.pipe.domains.iter().find(|c| c.domain == part.domain);
            let Some(cluster) = found.cloned() else {
                // (The route's domains are the pipeline's to name; a part for another is a bug.)
                return Err(End::Upstream(format!(
                    "streaming domain '{}' is not on this route",
                    part.domain
                )));
            };
            if further && cluster.reachability().is_err() {
                continue;
            }
            let coordinated = match &part.toward {
                Toward::GroupCoordinator(group) => Some(group.clone()),
                _ => None,
            };
            let link = match part.toward {
                Toward::ThisConnection => self.home_link().await,
                Toward::AnyBroker => {
                    let destination = Destination {
                        cluster: cluster.clone(),
                        broker: Target::Bootstrap,
                    };
                    self.link(&destination).await
                }
                Toward::GroupCoordinator(ref group) => match cluster.group_coordinator(group).await
                {
                    Ok(node) => {
                        let destination = Destination {
                            cluster: cluster.clone(),
                            broker: Target::Node(node),
                        };
                        self.link(&destination).await
                    }
                    Err(e) => Err(End::Upstream(e.to_string())),
                },
            };
            let link = match link {
                Ok(link) => link,
                Err(End::Upstream(why)) if further => {
                    if let Some(suppressed) = FAN_OUT_SKIPPED_LOG.allow_for(&cluster.domain) {
                        tracing::warn!(domain = %cluster.domain, suppressed,
                            "leaving a streaming domain out of a merged {:?} answer: {why}", meta.key);
                    }
                    continue;
                }
                Err(end) => return Err(end),
            };
            let id = (self.upstreams.link(link))
                .send(vec![part.frame])
                .map_err(upstream)?;
            sent.push((link, id));
            asked.push((cluster, part.tenancy, coordinated));
        }
        let (route, key, version) = (self.pipe.route.clone(), meta.key, meta.version);
        let merge = Box::new(move |frames: Vec<Bytes>| {
            let mut answers = Vec::with_capacity(frames.len());
            for ((cluster, tenancy, coordinated), frame) in asked.iter().zip(frames) {
                // A coordinator the gateway found itself that says it no longer is one: the
                // next request asks anew (the client retries on the error it gets now).
                if let Some(group) = coordinated {
                    if gatehouse_tenancy::split::coordinator_moved(key, version, &frame) {
                        cluster.forget_coordinator(group);
                    }
                }
                // Each answer un-mapped in its own domain's view of the tenant first: names
                // are per domain, the merge then maps node ids and addresses.
                let frame = match tenancy {
                    None => frame,
                    Some(t) => {
                        let message = ResponseMessage::new(key, version, frame);
                        let pieces =
                            (t.session.response(&t.ctx, message)).map_err(|e| e.to_string())?;
                        gatehouse_tenancy::session::joined(pieces)
                    }
                };
                answers.push((&**cluster, frame));
            }
            match kind {
                Merge::Metadata => {
                    gatehouse_routing::merge::merge_metadata_frames(&route, version, &answers)
                }
                Merge::DescribeCluster => gatehouse_routing::merge::merge_describe_cluster_frames(
                    &route, version, &answers,
                ),
                Merge::Split => {
                    // Node ids in a part's answer (DescribeTopicPartitions leaders) are its
                    // own domain's: made virtual before the parts are merged.
                    let mut frames = Vec::with_capacity(answers.len());
                    for (cluster, frame) in answers {
                        let rewriter =
                            gatehouse_routing::rewrite::AddressRewriter::new(&route, cluster);
                        frames.push(
                            rewriter
                                .rewrite(key, version, frame)
                                .map_err(|e| e.to_string())?,
                        );
                    }
                    gatehouse_tenancy::split::merge_parts(key, version, &frames)
                }
            }
            .map_err(|e| e.to_string())
        });
        self.enqueue(Slot::Merged(Box::new(Fanout {
            client_id: meta.correlation_id,
            key: meta.key,
            version,
            parts: sent,
            merge,
        })))
        .await
    }
}
