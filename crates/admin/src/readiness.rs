//! `/health/ready`: whether this gateway should get traffic, and if not, what it waits for.
//!
//! Ready means: every listener is bound ([`Readiness::set_ready`]), no drain was asked for
//! ([`Readiness::request_drain`]) and no registered check is failing. Checks are cheap
//! closures, evaluated on each request; a degraded check is listed but keeps the answer 200.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use axum::http::StatusCode;
use serde_json::{json, Map, Value};
use tokio::sync::watch;

/// The state of one component, with a line saying why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Ok(String),
    /// Working, but not as well as it should (listed; readiness stays 200).
    Degraded(String),
    /// This component keeps the gateway from serving (readiness answers 503).
    Failing(String),
}

impl Check {
    fn state(&self) -> &'static str {
        match self {
            Check::Ok(_) => "ok",
            Check::Degraded(_) => "degraded",
            Check::Failing(_) => "failing",
        }
    }

    fn detail(&self) -> &str {
        match self {
            Check::Ok(d) | Check::Degraded(d) | Check::Failing(d) => d,
        }
    }
}

type CheckFn = Box<dyn Fn() -> Check + Send + Sync>;

struct Inner {
    started: AtomicBool,
    /// `true` once a drain was asked for; a watch so [`Readiness::drain_requested`] can wait.
    drain: watch::Sender<bool>,
    checks: RwLock<Vec<(String, CheckFn)>>,
}

/// Shared by the process: clones see the same state.
#[derive(Clone)]
pub struct Readiness(Arc<Inner>);

impl Default for Readiness {
    fn default() -> Self {
        Self(Arc::new(Inner {
            started: AtomicBool::new(false),
            drain: watch::channel(false).0,
            checks: RwLock::new(Vec::new()),
        }))
    }
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("started", &self.0.started.load(Ordering::Acquire))
            .field("draining", &self.is_draining())
            .finish_non_exhaustive()
    }
}

impl Readiness {
    /// Every listener is bound.
    pub fn set_ready(&self) {
        self.0.started.store(true, Ordering::Release);
    }

    /// Adds a component to the report; a check of the same name replaces the earlier one.
    pub fn add_check(
        &self,
        name: impl Into<String>,
        check: impl Fn() -> Check + Send + Sync + 'static,
    ) {
        let name = name.into();
        let mut checks = self.0.checks.write().unwrap_or_else(|p| p.into_inner());
        checks.retain(|(n, _)| *n != name);
        checks.push((name, Box::new(check)));
    }

    /// From now on `/health/ready` answers 503 "draining"; [`Self::drain_requested`] resolves.
    pub fn request_drain(&self) {
        self.0.drain.send_replace(true);
    }

    pub fn is_draining(&self) -> bool {
        *self.0.drain.borrow()
    }

    /// Resolves once [`Self::request_drain`] was called on any clone (at once if it was).
    pub async fn drain_requested(&self) {
        let mut rx = self.0.drain.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|draining| *draining).await;
    }

    /// The status code and JSON body of `/health/ready`, evaluating every check now.
    pub fn report(&self) -> (StatusCode, Value) {
        let mut checks = Map::new();
        let mut failing = false;
        for (name, check) in self
            .0
            .checks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let c = check();
            failing |= matches!(c, Check::Failing(_));
            checks.insert(
                name.clone(),
                json!({"state": c.state(), "detail": c.detail()}),
            );
        }
        let status = if self.is_draining() {
            "draining"
        } else if !self.0.started.load(Ordering::Acquire) {
            "starting"
        } else if failing {
            "not_ready"
        } else {
            "ready"
        };
        let code = if status == "ready" {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (code, json!({"status": status, "checks": checks}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU8;
    use std::time::Duration;

    #[test]
    fn starting_until_set_ready() {
        let r = Readiness::default();
        let (code, body) = r.report();
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "starting");
        r.set_ready();
        let (code, body) = r.report();
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body, json!({"status": "ready", "checks": {}}));
    }

    #[test]
    fn checks_combine_and_are_evaluated_each_time() {
        let r = Readiness::default();
        r.set_ready();
        let store = Arc::new(AtomicU8::new(0));
        let s = store.clone();
        r.add_check("store", move || match s.load(Ordering::Relaxed) {
            0 => Check::Ok("sqlite".into()),
            1 => Check::Degraded("slow".into()),
            _ => Check::Failing("unreachable".into()),
        });
        r.add_check("domain:a", || Check::Ok("3 brokers".into()));
        let (code, body) = r.report();
        assert_eq!(code, StatusCode::OK);
        assert_eq!(
            body["checks"]["store"],
            json!({"state": "ok", "detail": "sqlite"})
        );
        assert_eq!(body["checks"]["domain:a"]["detail"], "3 brokers");

        store.store(1, Ordering::Relaxed);
        let (code, body) = r.report();
        assert_eq!(code, StatusCode::OK, "degraded keeps 200");
        assert_eq!(body["status"], "ready");
        assert_eq!(body["checks"]["store"]["state"], "degraded");

        store.store(2, Ordering::Relaxed);
        let (code, body) = r.report();
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "not_ready");
        assert_eq!(
            body["checks"]["store"],
            json!({"state": "failing", "detail": "unreachable"})
        );

        // Same name: replaced, not listed twice.
        r.add_check("store", || Check::Ok("again".into()));
        let (code, body) = r.report();
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body["checks"].as_object().unwrap().len(), 2);
        assert_eq!(body["checks"]["store"]["detail"], "again");
    }

    #[tokio::test]
    async fn drain_from_any_clone() {
        let r = Readiness::default();
        r.set_ready();
        let waiter = {
            let r = r.clone();
            tokio::spawn(async move { r.drain_requested().await })
        };
        assert!(!r.is_draining());
        let other = r.clone();
        other.request_drain();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("drain_requested resolves")
            .unwrap();
        assert!(r.is_draining());
        let (code, body) = r.report();
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "draining");
        // Already drained: resolves at once.
        tokio::time::timeout(Duration::from_secs(1), r.drain_requested())
            .await
            .unwrap();
    }
}
