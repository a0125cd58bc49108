//! `gatehouse-probe`: sends every API key a tenant can use through the gateway as one tenant
//! (A), naming another tenant's (B's) upstream topics, groups, transactional ids and topic
//! ids, and checks that nothing of B's is seen or changed.
//!
//! "Seen": no response to A carries B's topic ids (except echoed back as an error), B's record
//! payloads or B's client id, and listings carry none of B's names. "Changed": a snapshot of
//! B's state taken through an unmapped connection (topics and ids, end offsets, committed
//! offsets, a topic config) is the same after the probes as before.
//!
//! Output: one JSON line per probe; exit status 1 when anything leaked or changed.

mod conn;
mod probes;
mod txn_probes;
mod victim;

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Tenant A's bootstrap address (a route bound to A's virtual cluster).
    #[arg(long)]
    tenant: String,
    /// An unmapped bootstrap address (passthrough route or the broker itself).
    #[arg(long)]
    raw: String,
    /// B's upstream names.
    #[arg(long)]
    victim_topic: String,
    #[arg(long)]
    victim_group: String,
    #[arg(long)]
    victim_txn: String,
    /// A producer id the broker issued to one of B's transactional ids (through B's route);
    /// A's transactional requests carrying it must be refused. Omitted: not probed.
    #[arg(long, default_value_t = -1)]
    victim_producer_id: i64,
    /// Bytes that occur in B's records.
    #[arg(long)]
    victim_secret: String,
    /// The client id B's clients use.
    #[arg(long)]
    victim_client_id: String,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("gatehouse-probe: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> anyhow::Result<bool> {
    let mut victim = victim::Victim::discover(args)?;
    let before = victim.snapshot(&args.raw)?;
    victim.end_offset = before.end_offsets.get(&0).copied().unwrap_or(0);
    let results = probes::run_all(&args.tenant, &victim)?;
    let after = victim.snapshot(&args.raw)?;
    let mut clean = true;
    for r in &results {
        println!("{}", serde_json::to_string(r)?);
        clean &= r["outcome"] != "leak";
    }
    if before != after {
        clean = false;
        println!(
            "{}",
            serde_json::json!({"key": "(snapshot)", "outcome": "leak",
                "detail": format!("B's state changed:\nbefore {before:?}\nafter  {after:?}")})
        );
    }
    Ok(clean)
}
