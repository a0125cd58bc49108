//! `gatehouse apply | get | delete | token | partner | drain`: a client of the admin API's gateway/v2
//! resources, over plain HTTP or TLS (`https://`, with `--ca` for a private CA and `--cert`/
//! `--key` where the admin listener asks for client certificates).

pub mod partner;
pub mod tls;
pub mod token;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{Args, ValueEnum};
use gatehouse_store::Kind;
use serde::Deserialize;
use serde_json::Value;

/// Where the admin API is and who we are.
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// Admin API base URL.
    #[arg(
        long,
        env = "GATEHOUSE_SERVER",
        default_value = "http://127.0.0.1:8888",
        global = true
    )]
    pub server: String,
    /// Admin API user (HTTP basic auth).
    #[arg(long, env = "GATEHOUSE_USER", global = true)]
    pub user: Option<String>,
    /// Admin API password.
    #[arg(
        long,
        env = "GATEHOUSE_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub password: Option<String>,
    /// PEM file of the CA that signs the admin API's certificate (https:// only; without it,
    /// the public web CAs are trusted).
    #[arg(long, env = "GATEHOUSE_CA", global = true)]
    pub ca: Option<PathBuf>,
    /// PEM client certificate (chain) for an admin listener that asks for one.
    #[arg(long, env = "GATEHOUSE_CLIENT_CERT", global = true, requires = "key")]
    pub cert: Option<PathBuf>,
    /// PEM private key of --cert.
    #[arg(long, env = "GATEHOUSE_CLIENT_KEY", global = true, requires = "cert")]
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    Yaml,
    Json,
}

struct Client {
    http: reqwest::Client,
    conn: Connection,
}

/// One document read from a file, and where it came from.
struct Document {
    origin: String,
    value: Value,
}

impl Client {
    fn new(conn: Connection) -> anyhow::Result<Self> {
        let https = conn.server.starts_with("https://");
        if !https && !conn.server.starts_with("http://") {
            bail!(
                "--server: '{}' is not an http:// or https:// URL",
                conn.server
            );
        }
        // reqwest is built without a default TLS provider (crates/auth picks ring for its own
        // clients); without one, building any client panics.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = if https {
            reqwest::Client::builder()
                .use_preconfigured_tls(tls::client_config(&conn)?)
                .build()?
        } else {
            if conn.ca.is_some() || conn.cert.is_some() {
                bail!(
                    "--ca and --cert are for an https:// server; --server is {}",
                    conn.server
                );
            }
            reqwest::Client::new()
        };
        Ok(Self { http, conn })
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/gateway/v2/{path}",
            self.conn.server.trim_end_matches('/')
        )
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let req = match &self.conn.user {
            Some(u) => req.basic_auth(u, self.conn.password.as_deref()),
            None => req,
        };
        let response = req.send().await.map_err(|e| {
            anyhow!(
                "cannot reach the admin API at {}: {}",
                self.conn.server,
                tls::explain(&e, &self.conn)
            )
        })?;
        let status = response.status();
        let text = response.text().await?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            return Ok(body);
        }
        #[derive(Deserialize)]
        struct ApiError {
            title: String,
            msg: String,
            cause: String,
        }
        match serde_json::from_value::<ApiError>(body.clone()) {
            Ok(e) => Err(anyhow!(
                "{} ({}, HTTP {}): {}",
                e.title,
                e.cause,
                status.as_u16(),
                e.msg
            )),
            Err(_) => Err(anyhow!("HTTP {status}: {body}")),
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// A name given on the command line, checked by the rule the server applies, so a name that
/// no resource can have (`..`, which a URL would resolve away) is refused here and says why.
pub fn name_arg(kind: Kind, what: &str, name: &str) -> anyhow::Result<()> {
    match gatehouse_store::resource::name_problem(kind, name) {
        Some(p) => bail!("{what}: {p}"),
        None => Ok(()),
    }
}

fn vcluster_arg(kind: Kind, vcluster: Option<&str>) -> anyhow::Result<()> {
    match vcluster {
        Some(v) if kind.scoped() => name_arg(Kind::VirtualCluster, "--vcluster", v),
        _ => Ok(()),
    }
}

fn kind_arg(s: &str) -> anyhow::Result<Kind> {
    Kind::parse(s).ok_or_else(|| {
        anyhow!(
            "unknown kind '{s}' (known: {})",
            Kind::ALL
                .map(|k| format!("{} ({})", k.path(), k.name()))
                .join(", ")
        )
    })
}

/// `Kind/name` or `Kind/name (vCluster v)` for a resource document.
fn describe(doc: &Value) -> String {
    let kind = doc["kind"].as_str().unwrap_or("?");
    let name = doc["metadata"]["name"].as_str().unwrap_or("?");
    match doc["metadata"]["vCluster"].as_str() {
        Some(v) => format!("{kind}/{name} (vCluster {v})"),
        None => format!("{kind}/{name}"),
    }
}

/// The files named by `-f`: a file as is, a directory's `*.yaml` and `*.yml` (sorted).
fn files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("{}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.is_file()
                        && matches!(f.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                })
                .collect();
            found.sort();
            if found.is_empty() {
                bail!("{}: no *.yaml or *.yml files", p.display());
            }
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Every resource of a multi-document YAML file (`---` separated; a document may also be a
/// list of resources, as `get -o json` prints).
fn read_documents(path: &Path) -> anyhow::Result<Vec<Document>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut docs = Vec::new();
    for (i, de) in serde_yaml::Deserializer::from_str(&text).enumerate() {
        let origin = format!("{} (document {})", path.display(), i + 1);
        let value = Value::deserialize(de).map_err(|e| anyhow!("{origin}: {e}"))?;
        match value {
            Value::Null => {}
            Value::Array(items) => {
                docs.extend(items.into_iter().enumerate().map(|(j, v)| Document {
                    origin: format!("{origin}[{j}]"),
                    value: v,
                }))
            }
            v => docs.push(Document { origin, value: v }),
        }
    }
    Ok(docs)
}

/// `gatehouse apply`: every document of every file in one request to `POST
/// /gateway/v2/apply`, which the server applies in one transaction (dependency order, all or
/// nothing). So an account whose virtual cluster is created by the same apply validates, and a
/// bad document anywhere leaves the store untouched. `--dry-run` asks the same with
/// `dryMode=true`.
pub fn apply(conn: Connection, paths: &[PathBuf], dry_run: bool) -> anyhow::Result<()> {
    let mut docs = Vec::new();
    for f in files(paths)? {
        docs.extend(read_documents(&f)?);
    }
    if docs.is_empty() {
        bail!(
            "no resources in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let client = Client::new(conn)?;
    let body = serde_json::json!({"resources": docs.iter().map(|d| &d.value).collect::<Vec<_>>()});
    let url = format!("{}?dryMode={dry_run}", client.url("apply"));
    let answer = runtime()?
        .block_on(client.send(client.http.post(url).json(&body)))
        .map_err(|e| locate(e, &docs))?;
    let suffix = if dry_run { " (dry run)" } else { "" };
    for r in answer["results"].as_array().into_iter().flatten() {
        println!(
            "{}: {}{suffix}",
            describe(&r["resource"]),
            r["upsertResult"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}

/// Adds the file and document to an error about `resources[i]`.
fn locate(e: anyhow::Error, docs: &[Document]) -> anyhow::Error {
    let msg = e.to_string();
    let index = msg
        .split_once("resources[")
        .and_then(|(_, rest)| rest.split_once(']'))
        .and_then(|(n, _)| n.parse::<usize>().ok());
    match index.and_then(|i| docs.get(i)) {
        Some(d) => anyhow!("{msg}\n  in {}", d.origin),
        None => e,
    }
}

fn print(value: &Value, output: Output) -> anyhow::Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Output::Yaml => match value {
            Value::Array(items) => {
                for item in items {
                    print!("---\n{}", serde_yaml::to_string(item)?);
                }
            }
            v => print!("{}", serde_yaml::to_string(v)?),
        },
    }
    Ok(())
}

fn scoped_query(kind: Kind, vcluster: Option<&str>) -> String {
    match vcluster {
        Some(v) if kind.scoped() => format!("?vCluster={}", encode(v)),
        _ => String::new(),
    }
}

/// Percent-encodes a path segment or query value (everything but RFC 3986 unreserved).
fn encode(s: &str) -> String {
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

/// `gatehouse get KIND [NAME]`: output is valid `apply` input.
pub fn get(
    conn: Connection,
    kind: &str,
    name: Option<&str>,
    vcluster: Option<&str>,
    output: Output,
) -> anyhow::Result<()> {
    let kind = kind_arg(kind)?;
    if let Some(n) = name {
        name_arg(kind, "NAME", n)?;
    }
    vcluster_arg(kind, vcluster)?;
    let client = Client::new(conn)?;
    let url = match name {
        Some(n) => format!(
            "{}{}",
            client.url(&format!("{}/{}", kind.path(), encode(n))),
            scoped_query(kind, vcluster)
        ),
        None => format!(
            "{}{}",
            client.url(kind.path()),
            scoped_query(kind, vcluster)
        ),
    };
    let value = runtime()?.block_on(client.send(client.http.get(url)))?;
    print(&value, output)
}

/// `gatehouse delete KIND NAME`.
pub fn delete(
    conn: Connection,
    kind: &str,
    name: &str,
    vcluster: Option<&str>,
) -> anyhow::Result<()> {
    let kind = kind_arg(kind)?;
    name_arg(kind, "NAME", name)?;
    vcluster_arg(kind, vcluster)?;
    let client = Client::new(conn)?;
    let url = format!(
        "{}{}",
        client.url(&format!("{}/{}", kind.path(), encode(name))),
        scoped_query(kind, vcluster)
    );
    let value = runtime()?.block_on(client.send(client.http.delete(url)))?;
    println!("{}: DELETED", describe(&value["resource"]));
    Ok(())
}

/// `gatehouse drain`: the gateway reports not-ready from now on and drains its connections.
pub fn drain(conn: Connection) -> anyhow::Result<()> {
    let client = Client::new(conn)?;
    let answer = runtime()?.block_on(client.send(client.http.post(client.url("drain"))))?;
    println!(
        "gateway at {}: {}",
        client.conn.server,
        answer["status"].as_str().unwrap_or("?")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_files_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.yaml");
        std::fs::write(
            &f,
            "kind: A\n---\n---\n- kind: B\n- kind: C\n---\nkind: D\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("ignored.txt"), "kind: X").unwrap();
        std::fs::write(dir.path().join("b.yml"), "kind: E\n").unwrap();
        let found = files(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(found.len(), 2);
        let docs: Vec<Document> = found
            .iter()
            .flat_map(|f| read_documents(f).unwrap())
            .collect();
        let kinds: Vec<&str> = docs
            .iter()
            .map(|d| d.value["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["A", "B", "C", "D", "E"]);
        assert!(
            docs[2].origin.ends_with("a.yaml (document 3)[1]"),
            "{}",
            docs[2].origin
        );
        let e = locate(anyhow!("Invalid resource: resources[3].spec.x: bad"), &docs);
        assert!(e.to_string().contains("a.yaml (document 4)"), "{e}");
    }

    #[test]
    fn names_are_checked_before_asking() {
        for bad in [".", "..", "a\u{202E}b", "alice ", "x\u{7}"] {
            let e = name_arg(Kind::GatewayServiceAccount, "NAME", bad).unwrap_err();
            assert!(
                e.to_string().starts_with("NAME: ")
                    && e.to_string().contains("GatewayServiceAccount name is"),
                "{e}"
            );
        }
        assert!(name_arg(Kind::VirtualCluster, "NAME", "..").is_err());
        assert!(name_arg(Kind::VirtualCluster, "NAME", "team-a").is_ok());
    }

    #[test]
    fn encoding() {
        assert_eq!(encode("CN=a b/c"), "CN%3Da%20b%2Fc");
        assert_eq!(encode("team-a.x_y"), "team-a.x_y");
    }
}
