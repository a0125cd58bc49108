//! `gatehouse token create | revoke`: gateway tokens through the admin API.

use std::time::Duration;

use anyhow::anyhow;
use clap::Subcommand;
use gatehouse_auth::tokens::revocation_target;
use gatehouse_store::Kind;
use serde_json::json;

use super::{runtime, Client, Connection};

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Issue a token for a service account and print it alone on stdout
    /// (`TOKEN=$(gatehouse token create ...)`); its id and expiry go to stderr.
    Create {
        /// The virtual cluster the token is for (`passthrough` for the upstream cluster as is).
        #[arg(long)]
        vcluster: String,
        /// The SASL/PLAIN username the token will be used with.
        #[arg(long)]
        username: String,
        /// How long the token is valid: 30s, 15m, 1h, 7d (at most 365d).
        #[arg(long, value_parser = parse_lifetime)]
        lifetime: Duration,
        #[command(flatten)]
        conn: Connection,
    },
    /// Revoke a token on every gateway sharing the store, given the token or its id.
    Revoke {
        /// The token (a JWT) or its id (a UUID).
        token_or_id: String,
        /// Why, kept with the revocation.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
}

pub fn run(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            vcluster,
            username,
            lifetime,
            conn,
        } => create(conn, &vcluster, &username, lifetime),
        TokenCommand::Revoke {
            token_or_id,
            reason,
            conn,
        } => revoke(conn, &token_or_id, reason.as_deref()),
    }
}

/// `30s`, `15m`, `1h`, `7d`: a positive whole number and one unit.
pub fn parse_lifetime(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("'{s}' is not a duration like 30s, 15m, 1h or 7d");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = s.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    match n.checked_mul(unit_secs) {
        Some(0) => Err("the lifetime must be at least one second".into()),
        Some(secs) => Ok(Duration::from_secs(secs)),
        None => Err(bad()),
    }
}

fn create(
    conn: Connection,
    vcluster: &str,
    username: &str,
    lifetime: Duration,
) -> anyhow::Result<()> {
    super::name_arg(Kind::GatewayServiceAccount, "--username", username)?;
    super::name_arg(Kind::VirtualCluster, "--vcluster", vcluster)?;
    let client = Client::new(conn)?;
    let body = json!({
        "username": username,
        "vCluster": vcluster,
        "lifeTimeSeconds": lifetime.as_secs(),
    });
    let answer =
        runtime()?.block_on(client.send(client.http.post(client.url("token")).json(&body)))?;
    let token = answer["token"]
        .as_str()
        .ok_or_else(|| anyhow!("the admin API answered without a token: {answer}"))?;
    eprintln!(
        "gatehouse: token {} for {username} in virtual cluster {vcluster}, expires {}",
        answer["id"].as_str().unwrap_or("?"),
        answer["expiresAt"].as_str().unwrap_or("?")
    );
    println!("{token}");
    Ok(())
}

fn revoke(conn: Connection, token_or_id: &str, reason: Option<&str>) -> anyhow::Result<()> {
    // Refuse garbage before asking the server; a UUID is an id, anything else must be a token.
    let id = revocation_target(token_or_id).map_err(|_| {
        anyhow!(
            "'{}' is neither a token nor a token id (UUID)",
            shorten(token_or_id)
        )
    })?;
    let is_id = is_token_id(token_or_id);
    let mut body = if is_id {
        json!({ "id": id })
    } else {
        // The token itself: the server learns when it expires, so the revocation can be pruned.
        json!({ "token": token_or_id.trim() })
    };
    if let Some(r) = reason {
        body["reason"] = json!(r);
    }
    let client = Client::new(conn)?;
    let answer = runtime()?
        .block_on(client.send(client.http.post(client.url("token/revoke")).json(&body)))?;
    println!(
        "token {}: REVOKED",
        answer["id"].as_str().unwrap_or(id.as_str())
    );
    Ok(())
}

/// Whether an argument `revocation_target` accepted is an id (a UUID) rather than a token (a
/// JWT, which always has dots).
fn is_token_id(s: &str) -> bool {
    !s.trim().contains('.')
}

/// Enough of an argument to recognise it in an error, not a whole token.
fn shorten(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(12) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes() {
        assert_eq!(parse_lifetime("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_lifetime("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_lifetime("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_lifetime("7d"), Ok(Duration::from_secs(604_800)));
        for bad in [
            "",
            "1",
            "h",
            "1.5h",
            "-1h",
            "1w",
            "1h30m",
            "99999999999999999999d",
        ] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
        assert!(parse_lifetime("0s")
            .unwrap_err()
            .contains("at least one second"));
    }

    #[test]
    fn short_names() {
        assert_eq!(shorten("abc"), "abc");
        assert_eq!(shorten("eyJhbGciOiJIUzI1NiJ9.x.y"), "eyJhbGciOiJI...");
    }
}
