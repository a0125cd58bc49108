//! `gatehouse`: the Kafka-protocol gateway.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use gatehouse_config::GatewayConfig;
use gatehouse_proxy::{ConnectionLimits, Gateway};

mod cli;
#[cfg(feature = "count-allocations")]
mod counting_alloc;
#[cfg(feature = "count-allocations")]
#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

#[derive(Parser)]
#[command(name = "gatehouse", version, about = "A Kafka-protocol gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway. Without --config, runs the embedded default: one upstream broker at
    /// 127.0.0.1:9092 served to clients on 127.0.0.1:19092.
    Serve {
        #[arg(long, short, env = "GATEHOUSE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Validate a configuration file and print what it would serve.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the embedded default configuration.
    DefaultConfig,
    /// Create or update resources from YAML files (multi-document; a directory's *.yaml and
    /// *.yml). All of them are applied in one transaction, or none.
    Apply {
        /// A file or a directory; may be repeated.
        #[arg(long, short = 'f', required = true)]
        file: Vec<PathBuf>,
        /// Validate against the server's state and report, without saving.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        conn: cli::Connection,
    },
    /// Print resources as YAML (or JSON) that `apply` accepts.
    Get {
        /// virtual-cluster or service-account (or VirtualCluster, GatewayServiceAccount).
        kind: String,
        name: Option<String>,
        /// The virtual cluster of a service account (default passthrough); filters a list.
        #[arg(long)]
        vcluster: Option<String>,
        #[arg(long, short, value_enum, default_value = "yaml")]
        output: cli::Output,
        #[command(flatten)]
        conn: cli::Connection,
    },
    /// Issue or revoke gateway tokens (the SASL/PLAIN passwords of local service accounts).
    Token {
        #[command(subcommand)]
        command: cli::token::TokenCommand,
    },
    /// Ask the gateway to drain: it reports not-ready from now on, lets requests in flight be
    /// answered, and closes its connections (POST /gateway/v2/drain).
    Drain {
        #[command(flatten)]
        conn: cli::Connection,
    },
    /// Delete one resource.
    Delete {
        kind: String,
        name: String,
        /// The virtual cluster of a service account (default passthrough).
        #[arg(long)]
        vcluster: Option<String>,
        #[command(flatten)]
        conn: cli::Connection,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tune_allocator();
    raise_open_files_limit();
    #[cfg(feature = "count-allocations")]
    gatehouse_routing::metrics::register_extra(counting_alloc::render);
    if let Err(e) = init_logging() {
        eprintln!("gatehouse: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::DefaultConfig => {
            print!("{}", gatehouse_config::DEFAULT_CONFIG);
            Ok(())
        }
        Command::Check { config } => load(Some(config)).map(|c| print_summary(&c)),
        Command::Serve { config } => load(config).and_then(serve),
        Command::Apply {
            file,
            dry_run,
            conn,
        } => cli::apply(conn, &file, dry_run),
        Command::Get {
            kind,
            name,
            vcluster,
            output,
            conn,
        } => cli::get(conn, &kind, name.as_deref(), vcluster.as_deref(), output),
        Command::Delete {
            kind,
            name,
            vcluster,
            conn,
        } => cli::delete(conn, &kind, &name, vcluster.as_deref()),
        Command::Token { command } => cli::token::run(command),
        Command::Drain { conn } => cli::drain(conn),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs go to standard error: `GATEHOUSE_LOG` filters them (default `info`),
/// `GATEHOUSE_LOG_FORMAT` is `text` (the default) or `json` (one object per line, for log
/// shippers). Colour only when standard error is a terminal.
fn init_logging() -> Result<(), String> {
    use std::io::IsTerminal;
    let filter =
        EnvFilter::try_from_env("GATEHOUSE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let format = std::env::var("GATEHOUSE_LOG_FORMAT").unwrap_or_default();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.as_str() {
        "" | "text" => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        "json" => builder.json().with_current_span(false).init(),
        other => {
            return Err(format!(
                "GATEHOUSE_LOG_FORMAT: '{other}' is not a log format (text or json)"
            ))
        }
    }
    Ok(())
}

/// Keeps freed buffers in the heap for reuse.
///
/// Frames are read into buffers of up to a few MiB that live only until they are written on.
/// With glibc's defaults, allocations that size are mapped and unmapped (or trimmed) each time,
/// so every forwarded megabyte page-faults fresh memory in: measured here at ~100 faults per MB
/// and a third of the gateway's CPU per GB. Raising the thresholds makes them reused heap
/// blocks; memory is still returned once more than 256 MiB sits free at the top of the heap.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called once before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TOP_PAD, 16 << 20);
    }
}

fn load(path: Option<PathBuf>) -> anyhow::Result<GatewayConfig> {
    Ok(match path {
        Some(p) => gatehouse_config::load_file(&p)?,
        None => gatehouse_config::embedded_default(),
    })
}

fn print_summary(config: &GatewayConfig) {
    for route in config.topology.routes.values() {
        println!(
            "route {}: bootstrap {} (listening on {}), {} node ports -> domain {} via {}",
            route.name,
            route.endpoint,
            route.bind,
            route.brokers.node_port_count(),
            route.domain,
            route.bootstrap_server_id
        );
    }
}

fn serve(config: GatewayConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let ready = gatehouse_admin::Readiness::default();
        let store = gatehouse_store::Store::open(&config.store.url, pinned_virtual_clusters(&config))
            .await
            .map_err(|e| anyhow::anyhow!("store: {e}"))?;
        let _refresher = store.spawn_refresher();
        match config.auth.token_key_source {
            Some(source) => tracing::info!(?source, "gateway token key configured"),
            None => tracing::info!(
                "no gateway token key: tokens cannot be issued ({})",
                gatehouse_config::TOKEN_KEY_HELP
            ),
        }
        // Tenant resources for the data plane: every change (through this process's admin API,
        // or through another gateway sharing the database) arrives here as a new immutable
        // snapshot. Clone this receiver into whatever needs virtual clusters and service
        // accounts; `borrow()` is cheap and holds no lock across an `.await` if dropped first.
        let virtual_clusters: tokio::sync::watch::Receiver<Arc<gatehouse_store::Snapshot>> =
            store.subscribe();
        let limits = connection_limits(&config.gateway);
        let auth = auth_settings(&config)?;
        let gateway = Gateway::with_security(config.topology, limits, config.security, auth);
        gateway
            .keep_producer_ids_in(&config.store.data_dir)
            .map_err(|e| anyhow::anyhow!("producer id journal (store.dataDir): {e}"))?;
        gateway.set_catalog(catalog(&virtual_clusters.borrow()));
        gateway.set_identity(identity(&virtual_clusters.borrow()));
        tokio::spawn(follow_store(virtual_clusters, gateway.clone()));
        if let Some(admin) = &config.admin {
            if admin.users.is_empty() {
                tracing::warn!(
                    "the admin API has no users: /gateway/v2 refuses every call (set admin.users, or {} for a user 'admin')",
                    gatehouse_config::ADMIN_PASSWORD_ENV
                );
            }
            let api = gatehouse_admin::V2 {
                store: store.clone(),
                users: admin
                    .users
                    .iter()
                    .map(|u| gatehouse_admin::User {
                        username: u.username.clone(),
                        password: u.password.clone(),
                    })
                    .collect(),
                token_key: config.auth.token_key.clone(),
            };
            let options = gatehouse_admin::AdminOptions {
                tls: admin.tls.clone(),
                header_timeout: admin.header_timeout,
                body_timeout: admin.body_timeout,
                metrics_auth: admin.metrics_auth,
                login_failure_max_delay: admin.login_failure_max_delay,
            };
            gatehouse_admin::serve_with(admin.listen, ready.clone(), Some(api), options).await?;
        }
        let listeners = gateway.bind().await?;
        ready.set_ready();
        for route in gateway.topology().routes.values() {
            // One line per route a script can read: where clients bootstrap.
            println!(
                "gatehouse: route {} bootstrap {}",
                route.name, route.endpoint
            );
        }
        shutdown_signal().await;
        // Stop accepting, then let clients go listener by listener once every answer they
        // are owed has reached them (see gatehouse_proxy's drain). A second signal ends the
        // process at once.
        tracing::info!("shutting down: no new connections; draining");
        for listener in &listeners {
            listener.abort();
        }
        let drain = &config.gateway.drain;
        tokio::select! {
            report = gateway.drain(drain.timeout, drain.step) => {
                if report.cut > 0 {
                    tracing::warn!(connections = report.connections, cut = report.cut,
                        "drain timed out (gateway.drainTimeoutMs): connections cut with answers owed");
                } else {
                    tracing::info!(connections = report.connections, "drained");
                }
            }
            _ = shutdown_signal() => tracing::warn!("second signal: exiting without draining"),
        }
        Ok(())
    })
}

/// What the data plane needs of the `gateway` block.
fn connection_limits(g: &gatehouse_config::GatewaySettings) -> ConnectionLimits {
    let c = &g.client;
    ConnectionLimits {
        max_frame_bytes: g.max_frame_bytes,
        max_unauthenticated_frame_bytes: c.max_unauthenticated_frame_bytes,
        max_buffered_bytes: c.max_buffered_bytes,
        max_in_flight_requests: g.max_in_flight_requests,
        splice_forwarding: g.splice_forwarding,
        deadlines: gatehouse_proxy::DeadlineLimits {
            connections_max_idle: c.connections_max_idle,
            authentication_timeout: c.authentication_timeout,
            frame_progress_timeout: c.frame_progress_timeout,
            frame_progress_min_bytes: c.frame_progress_min_bytes,
        },
        caps: gatehouse_proxy::CapLimits {
            max_connections: c.max_connections,
            max_connections_per_ip: c.max_connections_per_ip,
            max_connection_creation_rate_per_ip: c.max_connection_creation_rate_per_ip,
            route_max_connections: c.route_max_connections.clone(),
        },
    }
}

/// Raises the soft limit on open descriptors to the hard one: every client connection holds
/// one or two, and the default connection cap is derived from this limit.
fn raise_open_files_limit() {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit only read and write the struct they are given.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Virtual clusters the process configuration refers to (routes bound to a virtual cluster):
/// the store refuses to delete them while the configuration names them.
fn pinned_virtual_clusters(config: &GatewayConfig) -> BTreeSet<String> {
    config
        .topology
        .routes
        .values()
        .filter_map(|r| r.virtual_cluster.clone())
        .collect()
}

/// The data plane's view of the tenant resources.
fn catalog(snapshot: &gatehouse_store::Snapshot) -> gatehouse_tenancy::Catalog {
    gatehouse_tenancy::Catalog::new(
        snapshot
            .virtual_clusters
            .values()
            .map(|vc| (vc.name.clone(), vc.prefix.clone())),
    )
}

/// Principal mappings (EXTERNAL service accounts) and revoked tokens, for authentication.
fn identity(snapshot: &gatehouse_store::Snapshot) -> gatehouse_proxy::Identity {
    let mut identity = gatehouse_proxy::Identity {
        revoked_tokens: snapshot.revoked_tokens.keys().cloned().collect(),
        ..Default::default()
    };
    for account in snapshot.service_accounts.values() {
        for name in &account.external_names {
            identity
                .external_names
                .insert(name.clone(), account.vcluster.clone());
        }
    }
    identity
}

/// The token key and the rules that apply to every route. A route that authenticates SASL/PLAIN
/// itself needs the key: without one the gateway refuses to start rather than accept nothing
/// (or worse, a default key).
fn auth_settings(config: &GatewayConfig) -> anyhow::Result<gatehouse_proxy::AuthSettings> {
    use gatehouse_auth::listener::Sasl;
    use gatehouse_auth::sasl::Mechanism;
    let token_key = config.auth.token_key.clone();
    for (route, security) in &config.security {
        if let Some(Sasl::Local(local)) = &security.sasl {
            if local.mechanisms.contains(&Mechanism::Plain) && token_key.is_none() {
                anyhow::bail!(
                    "route '{route}' authenticates SASL/PLAIN with gateway tokens, but no token key \
                     is configured ({})",
                    gatehouse_config::TOKEN_KEY_HELP
                );
            }
        }
    }
    Ok(gatehouse_proxy::AuthSettings {
        token_key,
        mandatory_virtual_cluster: config.auth.mandatory_virtual_cluster,
        max_session_lifetime: config.auth.max_session_lifetime,
    })
}

/// Hands every new snapshot of tenant resources to the data plane (connections check their
/// virtual cluster against it on their next request), with one log line.
async fn follow_store(
    mut snapshots: tokio::sync::watch::Receiver<Arc<gatehouse_store::Snapshot>>,
    gateway: Arc<Gateway>,
) {
    while snapshots.changed().await.is_ok() {
        let (revision, vclusters, accounts) = {
            let s = snapshots.borrow_and_update();
            gateway.set_catalog(catalog(&s));
            gateway.set_identity(identity(&s));
            (
                s.revision,
                s.virtual_clusters.len(),
                s.service_accounts.len(),
            )
        };
        tracing::info!(
            revision,
            virtual_clusters = vclusters,
            service_accounts = accounts,
            "tenant resources changed"
        );
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
