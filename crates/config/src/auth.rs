//! The `auth` block: how clients authenticate to the gateway. For now the secret gateway tokens
//! are signed with, whether every client must end up in a virtual cluster, and how long an
//! authenticated session may last before the client must authenticate again.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_auth::tokens::{TokenKey, SECRET_ENV_VAR};
use serde::Deserialize;

use crate::ConfigError;

/// `auth:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAuth {
    /// Raw text (its UTF-8 bytes are the key); may be `${ENV_VAR}`.
    pub token_secret: Option<String>,
    #[serde(default)]
    pub mandatory_virtual_cluster: bool,
    pub max_session_lifetime_ms: Option<u64>,
}

/// Where the token key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKeySource {
    /// `auth.tokenSecret` in the file (raw text, possibly through `${VAR}`).
    Config,
    /// The `GATEHOUSE_TOKEN_SECRET` environment variable (base64).
    Environment,
}

/// How to give the gateway a token key: for errors that need one (SASL routes, token issuing).
pub const TOKEN_KEY_HELP: &str = "set auth.tokenSecret in the configuration (raw text, at least 32 bytes) or GATEHOUSE_TOKEN_SECRET in the environment (base64 of at least 32 bytes)";

/// Validated `auth` settings.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// The HS256 key gateway tokens are issued and verified with: `auth.tokenSecret` when the
    /// file sets it, else `GATEHOUSE_TOKEN_SECRET`, else none. Whether "none" is acceptable is
    /// for whoever needs a key to decide (see [`TOKEN_KEY_HELP`]).
    pub token_key: Option<Arc<TokenKey>>,
    pub token_key_source: Option<TokenKeySource>,
    /// `auth.mandatoryVirtualCluster` (default false).
    pub mandatory_virtual_cluster: bool,
    /// `auth.maxSessionLifetimeMs`, if set.
    pub max_session_lifetime: Option<Duration>,
}

impl AuthSettings {
    /// The token key, or an error naming `path` (e.g. `routes[0].security`) that says how to
    /// configure one.
    pub fn require_token_key(
        &self,
        file: &str,
        path: &str,
        why: &str,
    ) -> Result<Arc<TokenKey>, ConfigError> {
        self.token_key.clone().ok_or_else(|| ConfigError {
            file: file.into(),
            path: path.into(),
            reason: format!("{why} needs a token key: {TOKEN_KEY_HELP}"),
        })
    }
}

/// Builds the settings. `env` reads an environment variable (tests pass their own); `resolve`
/// expands `${VAR}` in the file's value.
pub(crate) fn build(
    raw: Option<&RawAuth>,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
    resolve: &dyn Fn(&str, &str) -> Result<String, ConfigError>,
) -> Result<AuthSettings, ConfigError> {
    let err = |path: &str, reason: String| ConfigError {
        file: file.into(),
        path: path.into(),
        reason,
    };
    let default = RawAuth::default();
    let raw = raw.unwrap_or(&default);
    // The file wins: it is the more specific statement, and `${VAR}` still lets it come from
    // the environment. GATEHOUSE_TOKEN_SECRET is only read when the file sets no secret.
    let (token_key, token_key_source) = match &raw.token_secret {
        Some(text) => {
            let text = resolve("auth.tokenSecret", text)?;
            let key = TokenKey::from_config(&text).map_err(|e| {
                err(
                    "auth.tokenSecret",
                    format!("{e} (the value is raw text: its UTF-8 bytes are the key)"),
                )
            })?;
            (Some(Arc::new(key)), Some(TokenKeySource::Config))
        }
        None => match env(SECRET_ENV_VAR).filter(|v| !v.trim().is_empty()) {
            Some(b64) => {
                let key = TokenKey::from_base64(&b64).map_err(|e| {
                    err(
                        SECRET_ENV_VAR,
                        format!("environment variable: {e} (the value is base64)"),
                    )
                })?;
                (Some(Arc::new(key)), Some(TokenKeySource::Environment))
            }
            None => (None, None),
        },
    };
    let max_session_lifetime = match raw.max_session_lifetime_ms {
        None => None,
        Some(0) => {
            return Err(err(
                "auth.maxSessionLifetimeMs",
                "must be positive (omit it for no limit)".into(),
            ))
        }
        Some(ms) if ms > i64::MAX as u64 => {
            return Err(err(
                "auth.maxSessionLifetimeMs",
                format!("must be at most {}", i64::MAX),
            ))
        }
        Some(ms) => Some(Duration::from_millis(ms)),
    };
    Ok(AuthSettings {
        token_key,
        token_key_source,
        mandatory_virtual_cluster: raw.mandatory_virtual_cluster,
        max_session_lifetime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_auth::tokens::NoRevocations;
    use std::time::SystemTime;

    const TEXT: &str = "a passphrase of at least 32 bytes, in the file";

    fn raw(secret: Option<&str>) -> RawAuth {
        RawAuth {
            token_secret: secret.map(Into::into),
            ..RawAuth::default()
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn as_written(_: &str, v: &str) -> Result<String, ConfigError> {
        Ok(v.to_string())
    }

    fn same_key(a: &TokenKey, b: &TokenKey) -> bool {
        let issued = a
            .issue("svc", None, Duration::from_secs(60))
            .expect("issue");
        b.verify(&issued.token, "svc", SystemTime::now(), &NoRevocations)
            .is_ok()
    }

    #[test]
    fn nothing_configured() {
        let s = build(None, "f", &no_env, &as_written).unwrap();
        assert!(s.token_key.is_none() && s.token_key_source.is_none());
        assert!(!s.mandatory_virtual_cluster);
        assert_eq!(s.max_session_lifetime, None);
        let e = s
            .require_token_key("f", "routes[0].security", "SASL/PLAIN with gateway tokens")
            .unwrap_err();
        assert_eq!(e.path, "routes[0].security");
        assert!(
            e.reason.contains("auth.tokenSecret") && e.reason.contains(SECRET_ENV_VAR),
            "{e}"
        );
    }

    #[test]
    fn the_file_wins_over_the_environment() {
        let b64 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes
        let env = |name: &str| (name == SECRET_ENV_VAR).then(|| b64.to_string());
        let s = build(Some(&raw(Some(TEXT))), "f", &env, &as_written).unwrap();
        assert_eq!(s.token_key_source, Some(TokenKeySource::Config));
        let from_file = TokenKey::from_config(TEXT).unwrap();
        assert!(same_key(s.token_key.as_ref().unwrap(), &from_file));

        let s = build(Some(&raw(None)), "f", &env, &as_written).unwrap();
        assert_eq!(s.token_key_source, Some(TokenKeySource::Environment));
        let from_env = TokenKey::from_bytes(b"0123456789abcdef0123456789abcdef").unwrap();
        assert!(same_key(s.token_key.as_ref().unwrap(), &from_env));
        assert!(!same_key(s.token_key.as_ref().unwrap(), &from_file));

        // An empty variable is as good as unset.
        let empty = |_: &str| Some(" ".to_string());
        assert!(build(None, "f", &empty, &as_written)
            .unwrap()
            .token_key
            .is_none());
    }

    #[test]
    fn short_or_bad_secrets_name_their_source() {
        let e = build(Some(&raw(Some("too short"))), "f", &no_env, &as_written).unwrap_err();
        assert_eq!(e.path, "auth.tokenSecret");
        assert!(e.reason.contains("at least 32 bytes (256 bits)"), "{e}");
        assert!(
            !e.to_string().contains("too short"),
            "the secret is not echoed: {e}"
        );

        let e = build(
            Some(&raw(Some(&format!("{TEXT}\n")))),
            "f",
            &no_env,
            &as_written,
        )
        .unwrap_err();
        assert_eq!(e.path, "auth.tokenSecret");
        assert!(e.reason.contains("whitespace"), "{e}");

        let short = |_: &str| Some("c2hvcnQ=".to_string());
        let e = build(None, "f", &short, &as_written).unwrap_err();
        assert_eq!(e.path, SECRET_ENV_VAR);
        assert!(e.reason.contains("is 5 bytes"), "{e}");
        let garbage = |_: &str| Some("not base64 at all!".to_string());
        let e = build(None, "f", &garbage, &as_written).unwrap_err();
        assert_eq!(e.path, SECRET_ENV_VAR);
        assert!(e.reason.contains("not valid base64"), "{e}");
    }

    #[test]
    fn session_lifetime() {
        let mut r = raw(None);
        r.max_session_lifetime_ms = Some(0);
        let e = build(Some(&r), "f", &no_env, &as_written).unwrap_err();
        assert_eq!(e.path, "auth.maxSessionLifetimeMs");
        r.max_session_lifetime_ms = Some(3_600_000);
        r.mandatory_virtual_cluster = true;
        let s = build(Some(&r), "f", &no_env, &as_written).unwrap();
        assert_eq!(s.max_session_lifetime, Some(Duration::from_secs(3600)));
        assert!(s.mandatory_virtual_cluster);
    }
}
