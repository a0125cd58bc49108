//! `gatehouse partner onboard | credentials | revoke-credentials | offboard | get | operations`:
//! partner zones through the admin API. What a partner's client needs (client.properties) goes
//! to stdout, everything else to stderr, so `gatehouse partner onboard -f z.yaml >
//! client.properties` writes a file ready to hand over.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail};
use clap::Subcommand;
use gatehouse_store::Kind;
use serde_json::{json, Value};

use super::token::parse_lifetime;
use super::{encode, name_arg, read_documents, runtime, Client, Connection};

/// The token lifetime when `--lifetime` is not given.
const DEFAULT_LIFETIME: &str = "30d";

#[derive(Subcommand)]
pub enum PartnerCommand {
    /// Apply a PartnerZone document (create or update the zone, its virtual cluster, aliases,
    /// service account and ACLs in one transaction); for a PLAIN zone also issue a token. The
    /// client.properties go to stdout.
    Onboard {
        /// The YAML file holding one `kind: PartnerZone` document.
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// How long the token is valid: 30s, 15m, 1h, 7d (at most 365d).
        #[arg(long, value_parser = parse_lifetime, default_value = DEFAULT_LIFETIME)]
        lifetime: Duration,
        /// Where the partner keeps the CA certificate that signs the gateway's certificate
        /// (written as ssl.ca.location when the route uses TLS).
        #[arg(long, default_value = "ca.pem")]
        ca_location: String,
        /// Apply without issuing a token (re-applying a changed zone).
        #[arg(long)]
        no_credentials: bool,
        /// Validate against the server's state and report, without saving or issuing a token.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        conn: Connection,
    },
    /// Issue another token for a PLAIN zone; its client.properties go to stdout.
    Credentials {
        name: String,
        #[arg(long, value_parser = parse_lifetime, default_value = DEFAULT_LIFETIME)]
        lifetime: Duration,
        #[arg(long, default_value = "ca.pem")]
        ca_location: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Revoke one token of a zone (--token ID) or every one, on every gateway on the store.
    RevokeCredentials {
        name: String,
        /// The token id (as onboard and credentials print it); without it, every token.
        #[arg(long)]
        token: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
    /// Revoke every token of the zone, close its clients' connections on every gateway and
    /// remove the zone and its resources (its physical topics are left alone).
    Offboard {
        name: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Print a zone (or every zone) with its status: READY or FAILED and why, its credentials
    /// (ids, never tokens). The output without `status` is valid `onboard -f` input.
    Get {
        name: Option<String>,
        #[arg(long, short, value_enum, default_value = "yaml")]
        output: super::Output,
        #[command(flatten)]
        conn: Connection,
    },
    /// Print what was done to a zone (or every zone), by whom and when.
    Operations {
        name: Option<String>,
        #[command(flatten)]
        conn: Connection,
    },
}

pub fn run(command: PartnerCommand) -> anyhow::Result<()> {
    match command {
        PartnerCommand::Onboard {
            file,
            lifetime,
            ca_location,
            no_credentials,
            dry_run,
            conn,
        } => onboard(
            conn,
            &file,
            (!no_credentials && !dry_run).then_some(lifetime),
            &ca_location,
            dry_run,
        ),
        PartnerCommand::Credentials {
            name,
            lifetime,
            ca_location,
            conn,
        } => {
            name_arg(Kind::VirtualCluster, "NAME", &name)?;
            let client = Client::new(conn)?;
            credentials(&client, &name, lifetime, &ca_location)
        }
        PartnerCommand::RevokeCredentials { name, token, conn } => {
            revoke(conn, &name, token.as_deref())
        }
        PartnerCommand::Offboard { name, conn } => offboard(conn, &name),
        PartnerCommand::Get { name, output, conn } => get(conn, name.as_deref(), output),
        PartnerCommand::Operations { name, conn } => operations(conn, name.as_deref()),
    }
}

fn zone_path(name: &str, tail: &str) -> String {
    format!("partner-zone/{}{tail}", encode(name))
}

fn onboard(
    conn: Connection,
    file: &std::path::Path,
    lifetime: Option<Duration>,
    ca_location: &str,
    dry_run: bool,
) -> anyhow::Result<()> {
    let docs = read_documents(file)?;
    let zone = match docs.as_slice() {
        [one] => one,
        [] => bail!("{}: no document (expected one kind: PartnerZone)", file.display()),
        _ => bail!(
            "{}: {} documents; onboard takes one kind: PartnerZone (use gatehouse apply for other resources)",
            file.display(),
            docs.len()
        ),
    };
    if zone.value["kind"] != "PartnerZone" {
        bail!(
            "{}: kind is {}, not PartnerZone (use gatehouse apply for other resources)",
            zone.origin,
            zone.value["kind"]
        );
    }
    let client = Client::new(conn)?;
    let answer = runtime()?
        .block_on(
            client.send(
                client
                    .http
                    .put(format!("{}?dryMode={dry_run}", client.url("partner-zone")))
                    .json(&zone.value),
            ),
        )
        .map_err(|e| anyhow!("{e}\n  in {}", zone.origin))?;
    let name = answer["zone"]["metadata"]["name"]
        .as_str()
        .ok_or_else(|| anyhow!("the admin API answered without the zone: {answer}"))?
        .to_string();
    eprintln!(
        "gatehouse: PartnerZone/{name}: {}{}",
        answer["upsertResult"].as_str().unwrap_or("?"),
        if dry_run { " (dry run)" } else { "" }
    );
    for key in answer["changed"].as_array().into_iter().flatten() {
        eprintln!("  applied {}", key.as_str().unwrap_or("?"));
    }
    for key in answer["removed"].as_array().into_iter().flatten() {
        eprintln!("  removed {}", key.as_str().unwrap_or("?"));
    }
    if dry_run {
        return Ok(());
    }
    let status = &answer["zone"]["status"];
    if status["state"] == "FAILED" {
        eprintln!(
            "gatehouse: warning: zone {name} is FAILED: {}",
            status["reason"].as_str().unwrap_or("?")
        );
    }
    eprintln!(
        "gatehouse: trafficLimits: {}",
        status["trafficLimits"]["note"].as_str().unwrap_or("?")
    );
    if let Some(props) = answer["clientProperties"].as_str() {
        // OAUTHBEARER or MTLS: the partner brings its own credentials.
        eprintln!("gatehouse: no token is issued for this zone: its clients authenticate with their own credentials");
        print!("{props}");
        return Ok(());
    }
    match lifetime {
        Some(l) => credentials(&client, &name, l, ca_location),
        None => Ok(()),
    }
}

fn credentials(
    client: &Client,
    name: &str,
    lifetime: Duration,
    ca_location: &str,
) -> anyhow::Result<()> {
    let body = json!({"lifeTimeSeconds": lifetime.as_secs(), "caLocation": ca_location});
    let answer = runtime()?.block_on(
        client.send(
            client
                .http
                .post(client.url(&zone_path(name, "/credentials")))
                .json(&body),
        ),
    )?;
    eprintln!(
        "gatehouse: token {} for partner zone {name}, expires {}",
        answer["id"].as_str().unwrap_or("?"),
        answer["expiresAt"].as_str().unwrap_or("?")
    );
    let props = answer["clientProperties"]
        .as_str()
        .ok_or_else(|| anyhow!("the admin API answered without client properties"))?;
    print!("{props}");
    Ok(())
}

fn revoke(conn: Connection, name: &str, token: Option<&str>) -> anyhow::Result<()> {
    name_arg(Kind::VirtualCluster, "NAME", name)?;
    let body = match token {
        Some(id) => {
            if id.contains('.') {
                bail!("--token: give the token's id (a UUID, as onboard and credentials print it), not the token");
            }
            json!({ "id": id })
        }
        None => json!({}),
    };
    let client = Client::new(conn)?;
    let answer = runtime()?.block_on(
        client.send(
            client
                .http
                .post(client.url(&zone_path(name, "/revoke-credentials")))
                .json(&body),
        ),
    )?;
    let ids: Vec<&str> = answer["revokedTokenIds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if ids.is_empty() {
        println!("partner zone {name}: no token left to revoke");
    }
    for id in ids {
        println!("token {id}: REVOKED");
    }
    Ok(())
}

fn offboard(conn: Connection, name: &str) -> anyhow::Result<()> {
    name_arg(Kind::VirtualCluster, "NAME", name)?;
    let client = Client::new(conn)?;
    let answer =
        runtime()?.block_on(client.send(client.http.delete(client.url(&zone_path(name, "")))))?;
    for id in answer["revokedTokenIds"].as_array().into_iter().flatten() {
        println!("token {}: REVOKED", id.as_str().unwrap_or("?"));
    }
    for key in answer["removed"].as_array().into_iter().flatten() {
        println!("{}: DELETED", key.as_str().unwrap_or("?"));
    }
    println!("PartnerZone/{name}: OFFBOARDED");
    Ok(())
}

fn get(conn: Connection, name: Option<&str>, output: super::Output) -> anyhow::Result<()> {
    if let Some(n) = name {
        name_arg(Kind::VirtualCluster, "NAME", n)?;
    }
    let client = Client::new(conn)?;
    let url = match name {
        Some(n) => client.url(&zone_path(n, "")),
        None => client.url("partner-zone"),
    };
    let answer = runtime()?.block_on(client.send(client.http.get(url)))?;
    super::print(&answer, output)
}

fn operations(conn: Connection, name: Option<&str>) -> anyhow::Result<()> {
    if let Some(n) = name {
        name_arg(Kind::VirtualCluster, "NAME", n)?;
    }
    let client = Client::new(conn)?;
    let url = match name {
        Some(n) => format!(
            "{}?zone={}",
            client.url("partner-zone-operations"),
            encode(n)
        ),
        None => client.url("partner-zone-operations"),
    };
    let answer = runtime()?.block_on(client.send(client.http.get(url)))?;
    for op in answer.as_array().into_iter().flatten() {
        println!(
            "{} {} {} by {} {}",
            op["at"].as_str().unwrap_or("?"),
            op["zone"].as_str().unwrap_or("?"),
            op["operation"].as_str().unwrap_or("?"),
            op["actor"].as_str().unwrap_or("?"),
            op["detail"]
        );
    }
    Ok(())
}
