//! Routes: a client-facing endpoint, its home streaming domain, and
//! `routes[].additionalStreamingDomains`: further domains whose brokers a route's clients see,
//! each at a virtual node-id range declared here (so ids are stable across restarts):
//!
//! ```yaml
//! routes:
//!   - name: partners
//!     endpoint: "gw.example.com:19092"
//!     streamingDomain: { name: home-domain, bootstrapServerId: internal }
//!     additionalStreamingDomains:
//!       - { name: other-domain, bootstrapServerId: internal, virtualNodeIdStart: 1000 }
//! ```
//!
//! The domain's `nodeIdRanges` are numbered from `virtualNodeIdStart` in the order they are
//! written; the range must not overlap the home domain's `nodeIdRanges` (whose ids clients
//! see unchanged) nor another additional domain's. Every virtual id takes a port after the
//! home domain's, in the order listed.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use gatehouse_routing::{
    AdditionalDomain, BrokerMap, HostPort, NodeIdRange, NodeMap, Route, StreamingDomain,
};

use crate::raw::{RawAdditionalDomain, RawRoute};
use crate::validate::{non_empty, Ctx};
use crate::ConfigError;

pub(crate) fn build_route(
    ctx: &Ctx,
    at: &str,
    r: &RawRoute,
    domains: &BTreeMap<String, Arc<StreamingDomain>>,
) -> Result<Route, ConfigError> {
    non_empty(ctx, &format!("{at}.name"), &r.name)?;
    let endpoint =
        HostPort::parse(&r.endpoint).map_err(|e| ctx.err(format!("{at}.endpoint"), e))?;
    match r.broker_identification_strategy.kind.as_str() {
        "port" => {}
        "host" => {
            return Err(ctx.err(
                format!("{at}.brokerIdentificationStrategy.type"),
                "'host' (SNI) identification needs a TLS listener, which this version does not offer yet; use 'port'",
            ))
        }
        other => {
            return Err(ctx.err(format!("{at}.brokerIdentificationStrategy.type"), format!("unknown strategy '{other}' (expected 'port' or 'host')")))
        }
    }
    let sd = &r.streaming_domain;
    let domain = domains.get(&sd.name).ok_or_else(|| {
        let known: Vec<_> = domains.keys().map(String::as_str).collect();
        ctx.err(
            format!("{at}.streamingDomain.name"),
            format!(
                "no streaming domain named '{}' (known: {})",
                sd.name,
                known.join(", ")
            ),
        )
    })?;
    if !domain
        .bootstrap_servers
        .contains_key(&sd.bootstrap_server_id)
    {
        let known: Vec<_> = domain
            .bootstrap_servers
            .keys()
            .map(String::as_str)
            .collect();
        return Err(ctx.err(
            format!("{at}.streamingDomain.bootstrapServerId"),
            format!(
                "domain '{}' has no bootstrap server '{}' (known: {})",
                sd.name,
                sd.bootstrap_server_id,
                known.join(", ")
            ),
        ));
    }
    let ip: IpAddr = match &r.bind_host {
        Some(h) => h.parse().map_err(|_| {
            ctx.err(
                format!("{at}.bindHost"),
                format!("'{h}' is not an IP address"),
            )
        })?,
        None => endpoint
            .host
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
    };
    if let Some(vc) = &r.virtual_cluster {
        let legal = !vc.is_empty()
            && vc.len() <= 64
            && vc
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !legal {
            return Err(ctx.err(
                format!("{at}.virtualCluster"),
                format!("'{vc}' is not a virtual cluster name (1-64 of a-z A-Z 0-9 . _ -)"),
            ));
        }
    }
    let additional = build_additional(
        at,
        domain,
        &r.additional_streaming_domains,
        domains,
        &|path, reason| ctx.err(path, reason),
    )?;
    let nodes = NodeMap::new(
        &sd.name,
        &sd.bootstrap_server_id,
        domain.node_ids.clone(),
        additional,
    );
    let brokers = BrokerMap::new(endpoint.port, nodes.virtual_ranges());
    let last = endpoint.port as u64 + brokers.node_port_count() as u64;
    if last > u16::MAX as u64 {
        let whose = if nodes.is_identity() {
            format!(
                "domain '{}' lists {} node ids",
                sd.name,
                brokers.node_port_count()
            )
        } else {
            format!(
                "domain '{}' and its additionalStreamingDomains list {} virtual node ids",
                sd.name,
                brokers.node_port_count()
            )
        };
        return Err(ctx.err(
            format!("{at}.endpoint"),
            format!(
                "{whose}, which need ports {}..{}; that passes 65535 (list sparse ids as separate ranges, or choose a lower endpoint port)",
                endpoint.port as u64 + 1,
                last
            ),
        ));
    }
    Ok(Route {
        name: r.name.clone(),
        bind: SocketAddr::new(ip, endpoint.port),
        endpoint,
        domain: sd.name.clone(),
        bootstrap_server_id: sd.bootstrap_server_id.clone(),
        brokers,
        nodes,
        virtual_cluster: r.virtual_cluster.clone(),
    })
}

/// Validates a route's additional domains against its home domain and each other.
fn build_additional(
    at: &str,
    home: &StreamingDomain,
    listed: &[RawAdditionalDomain],
    domains: &BTreeMap<String, Arc<StreamingDomain>>,
    err: &dyn Fn(String, String) -> ConfigError,
) -> Result<Vec<AdditionalDomain>, ConfigError> {
    let mut built: Vec<AdditionalDomain> = Vec::new();
    for (i, a) in listed.iter().enumerate() {
        let aat = format!("{at}.additionalStreamingDomains[{i}]");
        let domain = domains.get(&a.name).ok_or_else(|| {
            let known: Vec<_> = domains.keys().map(String::as_str).collect();
            err(
                format!("{aat}.name"),
                format!(
                    "no streaming domain named '{}' (known: {})",
                    a.name,
                    known.join(", ")
                ),
            )
        })?;
        if a.name == home.name {
            return Err(err(
                format!("{aat}.name"),
                format!(
                    "'{}' is the route's own streamingDomain; list only other domains here",
                    a.name
                ),
            ));
        }
        if built.iter().any(|b| b.domain == a.name) {
            return Err(err(
                format!("{aat}.name"),
                format!("domain '{}' is listed twice; list each domain once", a.name),
            ));
        }
        if !domain
            .bootstrap_servers
            .contains_key(&a.bootstrap_server_id)
        {
            let known: Vec<_> = domain
                .bootstrap_servers
                .keys()
                .map(String::as_str)
                .collect();
            return Err(err(
                format!("{aat}.bootstrapServerId"),
                format!(
                    "domain '{}' has no bootstrap server '{}' (known: {})",
                    a.name,
                    a.bootstrap_server_id,
                    known.join(", ")
                ),
            ));
        }
        let count: i64 = domain.node_ids.iter().map(|r| r.len() as i64).sum();
        let start = a.virtual_node_id_start;
        let end = start + count - 1;
        if start < 0 || end > i32::MAX as i64 {
            return Err(err(
                format!("{aat}.virtualNodeIdStart"),
                format!(
                    "domain '{}' has {count} node ids, so the start must be between 0 and {}",
                    a.name,
                    i32::MAX as i64 - count + 1
                ),
            ));
        }
        let range = NodeIdRange {
            name: a.name.clone(),
            start: start as i32,
            end: end as i32,
        };
        let overlaps = |o: &NodeIdRange| o.start <= range.end && range.start <= o.end;
        if let Some(o) = home.node_ids.iter().find(|o| overlaps(o)) {
            return Err(err(
                format!("{aat}.virtualNodeIdStart"),
                format!(
                    "virtual ids {start}..{end} of domain '{}' overlap nodeIdRanges '{}' \
                     ({}..{}) of the route's own domain '{}'; choose a start above {}",
                    a.name,
                    o.name,
                    o.start,
                    o.end,
                    home.name,
                    highest_end(&home.node_ids),
                ),
            ));
        }
        if let Some(o) = built.iter().find(|b| overlaps(&b.virtual_range())) {
            let r = o.virtual_range();
            return Err(err(
                format!("{aat}.virtualNodeIdStart"),
                format!(
                    "virtual ids {start}..{end} of domain '{}' overlap those of '{}' \
                     ({}..{}); choose a start above {}",
                    a.name, o.domain, r.start, r.end, r.end
                ),
            ));
        }
        built.push(AdditionalDomain {
            domain: a.name.clone(),
            listener: a.bootstrap_server_id.clone(),
            upstream_ranges: domain.node_ids.clone(),
            virtual_start: start as i32,
        });
    }
    Ok(built)
}

fn highest_end(ranges: &[NodeIdRange]) -> i32 {
    ranges.iter().map(|r| r.end).max().unwrap_or(-1)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use gatehouse_routing::Target;

    use crate::{load_str, ConfigError, GatewayConfig};

    fn config(additional: &str) -> String {
        format!(
            r#"
streamingDomains:
  - name: home
    kafkaCluster:
      bootstrapServers: [{{ id: internal, endpoint: "127.0.0.1:9092" }}]
      nodeIdRanges: [{{ name: pool, start: 111, end: 111 }}]
  - name: other
    kafkaCluster:
      bootstrapServers: [{{ id: internal, endpoint: "127.0.0.1:9192" }}]
      nodeIdRanges:
        - {{ name: a, start: 111, end: 111 }}
        - {{ name: b, start: 200, end: 201 }}
  - name: third
    kafkaCluster:
      bootstrapServers: [{{ id: internal, endpoint: "127.0.0.1:9292" }}]
      nodeIdRanges: [{{ name: pool, start: 111, end: 111 }}]
routes:
  - name: partners
    endpoint: "127.0.0.1:19092"
    streamingDomain: {{ name: home, bootstrapServerId: internal }}
{additional}"#
        )
    }

    fn load(additional: &str) -> Result<GatewayConfig, ConfigError> {
        load_str(&config(additional), "t.yaml", Path::new("."))
    }

    fn err(additional: &str) -> ConfigError {
        load(additional).expect_err("should be refused")
    }

    const FIELD: &str = "routes[0].additionalStreamingDomains";

    #[test]
    fn additional_domains_get_their_virtual_ids_and_the_next_ports() {
        let c = load(
            "    additionalStreamingDomains:\n      \
             - { name: other, bootstrapServerId: internal, virtualNodeIdStart: 1000 }\n      \
             - { name: third, bootstrapServerId: internal, virtualNodeIdStart: 2000 }\n",
        )
        .unwrap();
        let route = &c.topology.routes["partners"];
        assert!(!route.nodes.is_identity());
        assert_eq!(route.nodes.to_virtual("other", 201), Some(1002));
        assert_eq!(route.nodes.to_virtual("third", 111), Some(2000));
        // Home's node keeps its port; the others follow in the order listed.
        let ports: Vec<_> = route
            .brokers
            .listeners(route.bind)
            .map(|(a, t)| (a.port(), t))
            .collect();
        assert_eq!(
            ports,
            vec![
                (19092, Target::Bootstrap),
                (19093, Target::Node(111)),
                (19094, Target::Node(1000)),
                (19095, Target::Node(1001)),
                (19096, Target::Node(1002)),
                (19097, Target::Node(2000)),
            ]
        );
        let (up, target) = c
            .topology
            .upstream_for_target(route, Target::Node(1001))
            .unwrap();
        assert_eq!((up.domain.as_str(), target), ("other", Target::Node(200)));
    }

    #[test]
    fn without_additional_domains_the_map_is_the_identity() {
        let route = &load("").unwrap().topology.routes["partners"];
        assert!(route.nodes.is_identity());
        assert_eq!(route.brokers.port_for(111), Some(19093));
        assert_eq!(
            route.cluster_id(),
            None,
            "the upstream's cluster id is kept"
        );
    }

    #[test]
    fn an_overlap_with_the_home_ranges_is_named_with_a_way_out() {
        let e = err("    additionalStreamingDomains:\n      \
                     - { name: other, bootstrapServerId: internal, virtualNodeIdStart: 110 }\n");
        assert_eq!(e.path, format!("{FIELD}[0].virtualNodeIdStart"));
        assert!(
            e.reason.contains("overlap nodeIdRanges 'pool' (111..111)")
                && e.reason.contains("choose a start above 111"),
            "{e}"
        );
    }

    #[test]
    fn two_additional_domains_must_not_overlap() {
        let e = err("    additionalStreamingDomains:\n      \
             - { name: other, bootstrapServerId: internal, virtualNodeIdStart: 1000 }\n      \
             - { name: third, bootstrapServerId: internal, virtualNodeIdStart: 1002 }\n");
        assert_eq!(e.path, format!("{FIELD}[1].virtualNodeIdStart"));
        assert!(
            e.reason.contains("overlap those of 'other' (1000..1002)")
                && e.reason.contains("above 1002"),
            "{e}"
        );
    }

    #[test]
    fn the_home_domain_twice_or_unknown_names_are_refused() {
        let e = err("    additionalStreamingDomains:\n      \
                     - { name: home, bootstrapServerId: internal, virtualNodeIdStart: 1000 }\n");
        assert_eq!(e.path, format!("{FIELD}[0].name"));
        assert!(e.reason.contains("route's own streamingDomain"), "{e}");
        let e = err("    additionalStreamingDomains:\n      \
             - { name: other, bootstrapServerId: internal, virtualNodeIdStart: 1000 }\n      \
             - { name: other, bootstrapServerId: internal, virtualNodeIdStart: 2000 }\n");
        assert_eq!(e.path, format!("{FIELD}[1].name"));
        assert!(e.reason.contains("listed twice"), "{e}");
        let e = err("    additionalStreamingDomains:\n      \
                     - { name: nowhere, bootstrapServerId: internal, virtualNodeIdStart: 1000 }\n");
        assert_eq!(e.path, format!("{FIELD}[0].name"));
        assert!(e.reason.contains("known: home, other, third"), "{e}");
        let e = err("    additionalStreamingDomains:\n      \
                     - { name: other, bootstrapServerId: tls, virtualNodeIdStart: 1000 }\n");
        assert_eq!(e.path, format!("{FIELD}[0].bootstrapServerId"));
        assert!(e.reason.contains("no bootstrap server 'tls'"), "{e}");
    }

    #[test]
    fn virtual_ids_must_fit_i32() {
        let e = err(&format!(
            "    additionalStreamingDomains:\n      \
             - {{ name: other, bootstrapServerId: internal, virtualNodeIdStart: {} }}\n",
            i32::MAX - 1
        ));
        assert_eq!(e.path, format!("{FIELD}[0].virtualNodeIdStart"));
        assert!(e.reason.contains("between 0 and 2147483645"), "{e}");
        let e = err("    additionalStreamingDomains:\n      \
                     - { name: other, bootstrapServerId: internal, virtualNodeIdStart: -5 }\n");
        assert_eq!(e.path, format!("{FIELD}[0].virtualNodeIdStart"));
    }

    #[test]
    fn ports_for_every_virtual_id_must_fit_u16() {
        let text = config(
            "    additionalStreamingDomains:\n      \
             - { name: other, bootstrapServerId: internal, virtualNodeIdStart: 1000 }\n",
        )
        .replace("127.0.0.1:19092", "127.0.0.1:65532");
        let e = load_str(&text, "t.yaml", Path::new(".")).unwrap_err();
        assert_eq!(e.path, "routes[0].endpoint");
        assert!(
            e.reason.contains("4 virtual node ids")
                && e.reason.contains("65533..65536")
                && e.reason.contains("additionalStreamingDomains"),
            "{e}"
        );
    }
}
