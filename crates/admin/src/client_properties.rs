//! The `client.properties` a partner's clients use: built from the zone and the configured
//! route it bootstraps on. Only `key=value` lines and `#` comments, with keys librdkafka
//! accepts (it refuses unknown ones); what Java clients need instead (a JAAS line, a PEM
//! truststore) is written as comments, since librdkafka would refuse those keys.

use gatehouse_store::{AuthenticationMode, PartnerZone};

/// What the admin API knows of a configured route, to build a zone's client properties and to
/// check that a zone's route can authenticate its partners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRoute {
    /// The advertised `host:port` clients bootstrap on.
    pub endpoint: String,
    /// Its `security.protocol` as configured (PLAINTEXT, SASL_SSL, DELEGATED_SASL_SSL, ...).
    pub protocol: String,
    pub tls: bool,
    /// The gateway itself authenticates SASL/PLAIN (with its tokens) here.
    pub sasl_plain: bool,
    pub sasl_oauthbearer: bool,
    /// The listener asks for client certificates.
    pub client_certificates: bool,
    /// The virtual cluster the route binds every client to, if any.
    pub virtual_cluster: Option<String>,
}

impl PartnerRoute {
    /// Why partners of `z` cannot authenticate on this route (`None`: they can).
    pub fn unfit_for(&self, name: &str, z: &PartnerZone) -> Option<String> {
        if let Some(v) = self.virtual_cluster.as_deref().filter(|v| *v != z.name) {
            return Some(format!(
                "route '{name}' binds every client to virtual cluster '{v}': choose a route that binds none (the zone's credentials name its virtual cluster) or binds '{}'",
                z.name
            ));
        }
        let (fits, needs) = match z.authentication_mode {
            AuthenticationMode::Plain => (
                self.sasl_plain,
                "SASL/PLAIN authenticated by the gateway (security.protocol SASL_PLAINTEXT or SASL_SSL with mechanism PLAIN)",
            ),
            AuthenticationMode::OAuthBearer => (
                self.sasl_oauthbearer,
                "SASL/OAUTHBEARER authenticated by the gateway (SASL_PLAINTEXT or SASL_SSL with mechanism OAUTHBEARER and oauth settings)",
            ),
            AuthenticationMode::Mtls => (
                self.client_certificates,
                "client certificates (security.protocol SSL with tls.clientAuth required or requested)",
            ),
        };
        (!fits).then(|| {
            format!(
                "route '{name}' (security.protocol {}) does not offer {needs}, which authenticationMode {} needs: choose another route or change authenticationMode",
                self.protocol,
                z.authentication_mode.name()
            )
        })
    }
}

/// A PLAIN zone's credential, for the properties.
pub struct Credential<'a> {
    pub token: &'a str,
    pub id: &'a str,
    pub expires_at: &'a str,
}

/// The properties for `z`'s clients. `route` is the zone's configured route (if it names
/// one); `credential` the token for a PLAIN zone (`None`: the zone authenticates otherwise);
/// `ca_location` the path, on the partner's machine, of the CA certificate that signs the
/// gateway's certificate (used when the route uses TLS).
pub fn render(
    z: &PartnerZone,
    route: Option<&PartnerRoute>,
    credential: Option<&Credential<'_>>,
    ca_location: &str,
) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    let title = z
        .display_name
        .as_deref()
        .map(|d| format!(" ({})", one_line(d)))
        .unwrap_or_default();
    line(format!(
        "# client.properties for partner zone {}{title}, written by gatehouse",
        z.name
    ));
    let topics: Vec<String> = z
        .topics
        .iter()
        .map(|t| {
            let permission = match t.permission {
                gatehouse_store::AliasAccess::Read => "READ",
                gatehouse_store::AliasAccess::Write => "WRITE",
            };
            format!("{} ({permission})", t.name)
        })
        .collect();
    line(format!("# topics: {}", topics.join(", ")));
    let bootstrap = if z.bootstrap_servers.is_empty() {
        route.map(|r| r.endpoint.clone()).unwrap_or_default()
    } else {
        z.bootstrap_servers.join(",")
    };
    line(format!("bootstrap.servers={bootstrap}"));
    // Without a route, the explicit endpoint (a load balancer) is taken to terminate TLS.
    let tls = route.is_none_or(|r| r.tls);
    if route.is_none() {
        line("# no spec.route: the endpoint is assumed to use TLS; use SASL_PLAINTEXT if it does not".into());
    }
    let mode = z.authentication_mode;
    let protocol = match (mode, tls) {
        (AuthenticationMode::Mtls, _) => "SSL",
        (_, true) => "SASL_SSL",
        (_, false) => "SASL_PLAINTEXT",
    };
    line(format!("security.protocol={protocol}"));
    if tls {
        line(
            "# the CA certificate (PEM) that signs the gateway's certificate, saved at this path"
                .into(),
        );
        line(format!("ssl.ca.location={ca_location}"));
    }
    match mode {
        AuthenticationMode::Plain => {
            line("sasl.mechanism=PLAIN".into());
            line(format!("sasl.username={}", z.service_account));
            match credential {
                Some(c) => {
                    line(format!(
                        "# gateway token {}, expires {}",
                        c.id, c.expires_at
                    ));
                    line(format!("sasl.password={}", c.token));
                }
                None => line(format!(
                    "# sasl.password=<a token from: gatehouse partner credentials {}>",
                    z.name
                )),
            }
        }
        AuthenticationMode::OAuthBearer => {
            line("sasl.mechanism=OAUTHBEARER".into());
            line(format!(
                "# configure your identity provider's token for the subject {} (librdkafka:",
                one_line(z.principal())
            ));
            line("# sasl.oauthbearer.method=oidc, sasl.oauthbearer.client.id, sasl.oauthbearer.client.secret,".into());
            line("# sasl.oauthbearer.token.endpoint.url; Java: sasl.login.callback.handler.class and".into());
            line(
                "# sasl.oauthbearer.token.endpoint.url with an OAuthBearerLoginModule JAAS line)"
                    .into(),
            );
        }
        AuthenticationMode::Mtls => {
            line(format!(
                "# your client certificate must map to the principal {}; add:",
                one_line(z.principal())
            ));
            line("# ssl.certificate.location=<your certificate (PEM)>".into());
            line("# ssl.key.location=<its private key (PEM)>".into());
        }
    }
    // Java reads the same file but needs other keys, which librdkafka would refuse.
    line("# Java clients: replace the lines above that Java does not know with".into());
    if tls {
        line("#   ssl.truststore.type=PEM".into());
        line(format!("#   ssl.truststore.location={ca_location}"));
    }
    match (mode, credential) {
        (AuthenticationMode::Plain, Some(c)) => line(format!(
            "#   sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"{}\" password=\"{}\";",
            z.service_account, c.token
        )),
        (AuthenticationMode::Plain, None) => line(format!(
            "#   sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"{}\" password=\"<token>\";",
            z.service_account
        )),
        (AuthenticationMode::Mtls, _) => {
            line("#   ssl.keystore.type=PEM, ssl.keystore.location=<certificate and key (PEM)>".into())
        }
        (AuthenticationMode::OAuthBearer, _) => line(
            "#   sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ...;"
                .into(),
        ),
    }
    out
}

/// Text for a comment: no line breaks (a display name cannot start a property line).
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn zone(spec: serde_json::Value) -> PartnerZone {
        PartnerZone::from_document(&json!({
            "apiVersion": "gateway/v2", "kind": "PartnerZone",
            "metadata": {"name": "acme"}, "spec": spec,
        }))
        .unwrap()
    }

    fn route(tls: bool) -> PartnerRoute {
        PartnerRoute {
            endpoint: "gw.example.com:19092".into(),
            protocol: if tls { "SASL_SSL" } else { "SASL_PLAINTEXT" }.into(),
            tls,
            sasl_plain: true,
            sasl_oauthbearer: false,
            client_certificates: false,
            virtual_cluster: None,
        }
    }

    /// The key=value lines, as a properties reader sees them.
    fn keys(text: &str) -> Vec<(String, String)> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (k, v) = l.split_once('=').expect("key=value");
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    #[test]
    fn plain_over_tls_and_plaintext() {
        let z = zone(json!({"route": "r", "displayName": "Acme",
                            "topics": [{"name": "orders", "backingTopic": "x"}]}));
        let c = Credential {
            token: "tok",
            id: "id-1",
            expires_at: "2030-01-01T00:00:00Z",
        };
        let text = render(&z, Some(&route(true)), Some(&c), "/etc/acme/ca.pem");
        assert_eq!(
            keys(&text),
            [
                ("bootstrap.servers".into(), "gw.example.com:19092".into()),
                ("security.protocol".into(), "SASL_SSL".into()),
                ("ssl.ca.location".into(), "/etc/acme/ca.pem".into()),
                ("sasl.mechanism".into(), "PLAIN".into()),
                ("sasl.username".into(), "acme".into()),
                ("sasl.password".into(), "tok".into()),
            ]
        );
        assert!(text.contains("#   ssl.truststore.type=PEM"));
        assert!(text.contains("PlainLoginModule required username=\"acme\" password=\"tok\";"));
        let text = render(&z, Some(&route(false)), Some(&c), "ca.pem");
        let k = keys(&text);
        assert_eq!(k[1].1, "SASL_PLAINTEXT");
        assert!(k.iter().all(|(k, _)| !k.starts_with("ssl.")));
    }

    #[test]
    fn mtls_and_explicit_endpoints() {
        let z = zone(
            json!({"bootstrapServers": ["lb1:9093", "lb2:9093"], "authenticationMode": "MTLS",
                            "externalPrincipal": "CN=acme"}),
        );
        let text = render(&z, None, None, "ca.pem");
        let k = keys(&text);
        assert_eq!(k[0].1, "lb1:9093,lb2:9093");
        assert_eq!(k[1].1, "SSL");
        assert!(k.iter().all(|(k, _)| !k.starts_with("sasl.")));
        assert!(text.contains("CN=acme"));
    }

    #[test]
    fn routes_that_cannot_authenticate_the_zone() {
        let plain = zone(json!({"route": "r"}));
        assert_eq!(route(false).unfit_for("r", &plain), None);
        let mut r = route(false);
        r.sasl_plain = false;
        r.protocol = "PLAINTEXT".into();
        assert!(r.unfit_for("r", &plain).unwrap().contains("PLAINTEXT"));
        let mut r = route(false);
        r.virtual_cluster = Some("other".into());
        assert!(r.unfit_for("r", &plain).unwrap().contains("'other'"));
        let mtls =
            zone(json!({"route": "r", "authenticationMode": "MTLS", "externalPrincipal": "CN=a"}));
        assert!(route(true).unfit_for("r", &mtls).is_some());
    }
}
