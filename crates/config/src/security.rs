//! `routes[].security`: how a route's listener authenticates clients.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_auth::listener::{
    ClientAuth, LocalSasl, RouteSecurity, Sasl, SecurityProtocol, ServerTls,
};
use gatehouse_auth::mtls::PrincipalMapper;
use gatehouse_auth::oauth::OAuthValidator;
use gatehouse_auth::sasl::Mechanism;

use crate::raw::RawSecurity;
use crate::ConfigError;

/// Builds a route's security; `err(field, reason)` makes an error at `<at>.security.<field>`.
pub fn build_security(
    raw: Option<&RawSecurity>,
    base: &Path,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<RouteSecurity, ConfigError> {
    let Some(raw) = raw else {
        return Ok(RouteSecurity::plaintext());
    };
    let protocol = SecurityProtocol::parse(&raw.protocol).ok_or_else(|| {
        err(
            "protocol",
            format!(
                "unknown protocol '{}' (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL, \
                 DELEGATED_SASL_PLAINTEXT, DELEGATED_SASL_SSL)",
                raw.protocol
            ),
        )
    })?;
    let mapper = match &raw.principal_mapping_rules {
        Some(rules) => PrincipalMapper::parse(rules)
            .map_err(|e| err("principalMappingRules", e.to_string()))?,
        None => PrincipalMapper::default_rules(),
    };
    let tls = match (&raw.tls, protocol.uses_tls()) {
        (Some(t), true) => {
            let client_auth = match t.client_auth.as_deref().unwrap_or("none") {
                "none" => ClientAuth::None,
                "requested" => ClientAuth::Requested,
                "required" => ClientAuth::Required,
                other => {
                    return Err(err(
                        "tls.clientAuth",
                        format!("'{other}' is not one of none, requested, required"),
                    ))
                }
            };
            let ca = t.ca_file.as_ref().map(|f| base.join(f));
            let built = ServerTls::build(
                &base.join(&t.cert_file),
                &base.join(&t.key_file),
                client_auth,
                ca.as_deref(),
                mapper,
            )
            .map_err(|e| err(&format!("tls.{}", e.field), e.reason))?;
            Some(built)
        }
        (None, true) => {
            return Err(err(
                "tls",
                format!("{} needs tls.certFile and tls.keyFile", raw.protocol),
            ))
        }
        (Some(_), false) => {
            return Err(err(
                "tls",
                format!(
                    "{} does not use TLS; use SSL, SASL_SSL or DELEGATED_SASL_SSL",
                    raw.protocol
                ),
            ))
        }
        (None, false) => None,
    };
    let sasl = if !protocol.uses_sasl() {
        if raw.sasl.is_some() || raw.oauth.is_some() {
            return Err(err("sasl", format!("{} does not use SASL", raw.protocol)));
        }
        None
    } else if protocol.delegated() {
        if raw.oauth.is_some() {
            return Err(err(
                "oauth",
                "with delegated SASL the upstream brokers validate tokens".into(),
            ));
        }
        Some(Sasl::Delegated)
    } else {
        let names: Vec<String> = match &raw.sasl {
            Some(s) if !s.mechanisms.is_empty() => s.mechanisms.clone(),
            _ if raw.oauth.is_some() => vec!["PLAIN".into(), "OAUTHBEARER".into()],
            _ => vec!["PLAIN".into()],
        };
        let mut mechanisms = Vec::new();
        for (i, name) in names.iter().enumerate() {
            match Mechanism::from_name(name) {
                Ok(m @ (Mechanism::Plain | Mechanism::OAuthBearer)) => mechanisms.push(m),
                _ => {
                    return Err(err(
                        &format!("sasl.mechanisms[{i}]"),
                        format!(
                            "'{name}' is not a mechanism the gateway authenticates itself \
                             (PLAIN, OAUTHBEARER; SCRAM needs DELEGATED_SASL_*)"
                        ),
                    ))
                }
            }
        }
        let oauth = match (&raw.oauth, mechanisms.contains(&Mechanism::OAuthBearer)) {
            (Some(cfg), _) => Some(Arc::new(
                OAuthValidator::new(cfg.clone()).map_err(|e| err("oauth", e.to_string()))?,
            )),
            (None, true) => {
                return Err(err(
                    "oauth",
                    "OAUTHBEARER needs oauth.issuer and oauth.audiences".into(),
                ))
            }
            (None, false) => None,
        };
        Some(Sasl::Local(LocalSasl { mechanisms, oauth }))
    };
    let max_session_lifetime = match raw.max_session_lifetime_ms {
        Some(0) => return Err(err("maxSessionLifetimeMs", "must be positive".into())),
        Some(ms) => Some(Duration::from_millis(ms)),
        None => None,
    };
    Ok(RouteSecurity {
        protocol,
        tls,
        sasl,
        max_session_lifetime,
    })
}
