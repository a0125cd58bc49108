//! `gatehouse`: the Kafka-protocol gateway.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use gatehouse_config::GatewayConfig;

mod acls;
mod cli;
#[cfg(feature = "count-allocations")]
mod counting_alloc;
mod serve;
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
        /// virtual-cluster, service-account or alias-topic (or VirtualCluster,
        /// GatewayServiceAccount, AliasTopic).
        kind: String,
        name: Option<String>,
        /// The virtual cluster of a service account or alias topic (default passthrough); filters
        /// a list.
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
    /// Partner zones: onboard one from a PartnerZone document (printing its client.properties),
    /// issue and revoke its credentials, offboard it, list what was done to it.
    Partner {
        #[command(subcommand)]
        command: cli::partner::PartnerCommand,
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
        /// The virtual cluster of a service account or alias topic (default passthrough).
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
        Command::Serve { config } => load(config).and_then(serve::serve),
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
        Command::Partner { command } => cli::partner::run(command),
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
/// blocks; memory is still returned once more than 256 MiB sits free at the top of the heap,
/// and after a burst of large frames (the proxy's buffer budget calls `malloc_trim`).
///
/// One arena: `malloc_trim` gives back the free top of the main arena only, so memory freed
/// in per-thread arenas would stay with the process after a burst. The gateway allocates
/// little per request (the per-thread cache serves it without the arena lock).
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called once before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
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
