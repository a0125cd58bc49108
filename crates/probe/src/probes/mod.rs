//! One probe per API key (several for keys that name things in several ways).
//!
//! This module holds the [`Prober`], which sends one request as tenant A and judges the
//! response, and [`run_all`], which runs the probes of every API family (one submodule each)
//! in turn, then checks that every key of the tenancy table was probed.

mod acls;
mod data;
mod groups;
mod metadata;
mod topics;
mod transactions;

use std::fmt::Debug;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use serde_json::{json, Value};

use gatehouse_tenancy::table::MAPPED_KEYS;

use crate::conn::Conn;
use crate::victim::Victim;

/// What A's request names, which decides what its response may legitimately contain.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Names {
    /// B's upstream names: the response may echo them (as A's own, un-prefixed names).
    Echoed,
    /// B's topic id: the response may echo it, with an error.
    Id,
    /// Nothing: a listing, which must not mention B at all.
    Listing,
}

pub(crate) struct Prober<'a> {
    tenant: &'a str,
    victim: &'a Victim,
    results: Vec<Value>,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

pub(crate) type Check<'c, R> = &'c dyn Fn(&R) -> Result<(), String>;

impl Prober<'_> {
    pub(crate) fn probe<Req: Encodable, Resp: Decodable + Debug>(
        &mut self,
        key: ApiKey,
        what: &str,
        cap: i16,
        names: Names,
        req: Req,
        check: Check<'_, Resp>,
    ) {
        let result = self.exchange(key, cap, names, &req, check);
        let (outcome, version, detail) = match result {
            Ok((v, None)) => ("ok", v, String::new()),
            Ok((v, Some(skip))) => ("skipped", v, skip),
            Err(Outcome::Leak(v, d)) => ("leak", v, d),
            Err(Outcome::Error(v, d)) => ("error", v, d),
        };
        self.results.push(json!({
            "key": format!("{key:?}"), "probe": what, "version": version,
            "outcome": outcome, "detail": detail,
        }));
    }

    fn exchange<Req: Encodable, Resp: Decodable + Debug>(
        &self,
        key: ApiKey,
        cap: i16,
        names: Names,
        req: &Req,
        check: Check<'_, Resp>,
    ) -> Result<(i16, Option<String>), Outcome> {
        let mut conn =
            Conn::open(self.tenant, "probe-a").map_err(|e| Outcome::Error(-1, e.to_string()))?;
        let Some(v) = conn.version(key, cap) else {
            return Ok((
                -1,
                Some("not offered to the tenant (the upstream lacks it)".into()),
            ));
        };
        let (resp, raw): (Resp, Bytes) = conn
            .call(key, v, req)
            .map_err(|e| Outcome::Error(v, format!("{e:#}")))?;
        let v_ = self.victim;
        let mut seen = Vec::new();
        if names != Names::Id && contains(&raw, v_.topic_id.as_bytes()) {
            seen.push("B's topic id".to_string());
        }
        if contains(&raw, &v_.secret) {
            seen.push("B's records".into());
        }
        if contains(&raw, v_.client_id.as_bytes()) {
            seen.push("B's client id".into());
        }
        if names == Names::Listing {
            for n in [&v_.topic, &v_.group, &v_.txn] {
                if contains(&raw, n.as_bytes()) {
                    seen.push(format!("B's name {n}"));
                }
            }
        }
        if let Err(e) = check(&resp) {
            seen.push(e);
        }
        if seen.is_empty() {
            Ok((v, None))
        } else {
            Err(Outcome::Leak(v, format!("{}: {resp:?}", seen.join(", "))))
        }
    }

    /// A key a tenant may not send: the gateway must close the connection, not forward it.
    fn refused(&mut self, key: ApiKey, version: i16, req: impl Encodable) {
        let outcome = (|| -> anyhow::Result<bool> {
            let mut conn = Conn::open(self.tenant, "probe-a")?;
            let offered = conn.offers(key);
            conn.send(key, version, &req)?;
            Ok(!offered && conn.closed_without_answer())
        })();
        let (outcome, detail) = match outcome {
            Ok(true) => ("ok", String::new()),
            Ok(false) => ("leak", "advertised or answered".to_string()),
            Err(e) => ("error", e.to_string()),
        };
        self.results
            .push(json!({"key": format!("{key:?}"), "probe": "refused",
            "version": version, "outcome": outcome, "detail": detail}));
    }
}

enum Outcome {
    Leak(i16, String),
    Error(i16, String),
}

fn ok<R>(_: &R) -> Result<(), String> {
    Ok(())
}

/// For a probe naming B's topic id: the answer must carry an error.
fn id_refused(code: i16, what: &str) -> Result<(), String> {
    if code == 0 {
        Err(format!("{what} by B's id answered without error"))
    } else {
        Ok(())
    }
}

pub fn run_all(tenant: &str, v: &Victim) -> anyhow::Result<Vec<Value>> {
    let mut p = Prober {
        tenant,
        victim: v,
        results: Vec::new(),
    };
    metadata::run(&mut p, v);
    groups::run(&mut p, v);
    data::run(&mut p, v);
    transactions::run(&mut p, v);
    topics::run(&mut p, v);
    acls::run(&mut p, v);

    // DeleteRecords stops Tansu (it panics on it), which would end the test rather than
    // probe the gateway; its mapping is covered by the golden cases.
    p.results.push(
        json!({"key": "DeleteRecords", "probe": "delete", "version": -1,
        "outcome": "skipped", "detail": "not sent: the test broker panics on DeleteRecords"}),
    );

    // Keys that act on the whole cluster are not advertised to tenants and are refused.
    p.refused(ApiKey::ElectLeaders, 2, ElectLeadersRequest::default());
    p.refused(
        ApiKey::DescribeLogDirs,
        1,
        DescribeLogDirsRequest::default(),
    );

    // Every key in the tenancy table has a probe.
    for key in MAPPED_KEYS {
        let name = format!("{key:?}");
        if !p.results.iter().any(|r| r["key"] == name.as_str()) {
            anyhow::bail!("no probe for {name}");
        }
    }
    Ok(p.results)
}
