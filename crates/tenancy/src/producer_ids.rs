//! Which producer ids were issued to which transactional ids, per streaming domain.
//!
//! Some Kafka-compatible brokers accept a transactional request carrying a producer id that was
//! never issued for its transactional id (Tansu does; Apache Kafka answers
//! INVALID_PRODUCER_ID_MAPPING). The gateway does not rely on the broker for tenant isolation:
//! it learns each producer id from the InitProducerId answer that issues it (the request's
//! transactional id already mapped into the tenant's prefix) and lets a tenant's transactional
//! request through only with a producer id issued to that same upstream transactional id.
//!
//! A transactional id has one current producer id, so the registry is bounded by the number of
//! transactional ids in use. It survives restarts through a [`Journal`]; [`FileJournal`] appends
//! to a file, written by a thread of its own so the request path never waits on the disk.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use dashmap::DashMap;
use kafka_protocol::protocol::StrBytes;

/// Where issued producer ids are kept across restarts.
pub trait Journal: Send + Sync + fmt::Debug {
    /// Records that `producer_id` was issued to `transactional_id`; must not block.
    fn issued(&self, producer_id: i64, transactional_id: &str);
}

#[derive(Debug, Default)]
pub struct ProducerIds {
    /// producer id → the upstream transactional id it was issued to.
    owner: DashMap<i64, StrBytes>,
    /// upstream transactional id → its current producer id (to forget the previous one).
    current: DashMap<StrBytes, i64>,
    journal: Option<Box<dyn Journal>>,
}

impl ProducerIds {
    /// A registry that starts from `known` (as a journal replays it) and records in `journal`.
    pub fn with_journal(known: Vec<(i64, String)>, journal: Box<dyn Journal>) -> Self {
        let ids = Self {
            journal: Some(journal),
            ..Self::default()
        };
        for (producer_id, txn) in known {
            ids.remember(producer_id, StrBytes::from_string(txn));
        }
        ids
    }

    /// Learns a producer id from the InitProducerId answer that issued it.
    pub fn issued(&self, producer_id: i64, transactional_id: &StrBytes) {
        if producer_id < 0 {
            return;
        }
        if self
            .owner
            .get(&producer_id)
            .is_some_and(|t| *t == *transactional_id)
        {
            return; // an epoch bump: nothing new to keep
        }
        self.remember(producer_id, transactional_id.clone());
        if let Some(journal) = &self.journal {
            journal.issued(producer_id, transactional_id);
        }
    }

    fn remember(&self, producer_id: i64, txn: StrBytes) {
        if let Some(previous) = self.current.insert(txn.clone(), producer_id) {
            if previous != producer_id {
                self.owner.remove(&previous);
            }
        }
        if let Some(old_txn) = self.owner.insert(producer_id, txn.clone()) {
            if old_txn != txn {
                self.current.remove_if(&old_txn, |_, p| *p == producer_id);
            }
        }
    }

    /// Whether `producer_id` is the one issued to the upstream `transactional_id`.
    pub fn issued_to(&self, producer_id: i64, transactional_id: &str) -> bool {
        self.owner
            .get(&producer_id)
            .is_some_and(|t| t.as_str() == transactional_id)
    }
}

/// A [`Journal`] appending `<producer id> <transactional id in hex>` lines to a file. Lines
/// are written by a thread of its own; when it falls behind by [`FileJournal::QUEUE`] entries,
/// new ones are dropped with a warning (the running gateway still knows them).
#[derive(Debug)]
pub struct FileJournal {
    tx: mpsc::SyncSender<(i64, String)>,
    path: PathBuf,
}

impl FileJournal {
    const QUEUE: usize = 10_000;

    /// Opens (creating) the journal at `path`: what it holds, and the journal to append to.
    /// Later lines win, so a transactional id's latest producer id is the one kept.
    pub fn open(path: &Path) -> io::Result<(Vec<(i64, String)>, Self)> {
        let known = match std::fs::File::open(path) {
            Ok(f) => read_lines(io::BufReader::new(f), path)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        // Compacted on open: one line per transactional id.
        let mut latest: HashMap<String, i64> = HashMap::new();
        for (producer_id, txn) in known {
            latest.insert(txn, producer_id);
        }
        let known: Vec<(i64, String)> = latest.into_iter().map(|(t, p)| (p, t)).collect();
        let tmp = path.with_extension("tmp");
        {
            let mut out = io::BufWriter::new(std::fs::File::create(&tmp)?);
            for (producer_id, txn) in &known {
                writeln!(out, "{producer_id} {}", hex(txn))?;
            }
            out.into_inner()?.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        let (tx, rx) = mpsc::sync_channel::<(i64, String)>(Self::QUEUE);
        let shown = path.to_path_buf();
        std::thread::Builder::new()
            .name("producer-ids".into())
            .spawn(move || write_lines(file, rx, &shown))?;
        Ok((
            known,
            Self {
                tx,
                path: path.to_path_buf(),
            },
        ))
    }
}

impl Journal for FileJournal {
    fn issued(&self, producer_id: i64, transactional_id: &str) {
        if let Err(mpsc::TrySendError::Full(_)) = self
            .tx
            .try_send((producer_id, transactional_id.to_string()))
        {
            tracing::warn!(path = %self.path.display(), "producer id journal is behind; an issued producer id is kept in memory only");
        }
    }
}

fn write_lines(file: std::fs::File, rx: mpsc::Receiver<(i64, String)>, path: &Path) {
    let mut out = io::BufWriter::new(file);
    while let Ok((producer_id, txn)) = rx.recv() {
        let mut written = writeln!(out, "{producer_id} {}", hex(&txn));
        // Everything queued goes in one write and one sync.
        while let Ok((producer_id, txn)) = rx.try_recv() {
            written = written.and_then(|()| writeln!(out, "{producer_id} {}", hex(&txn)));
        }
        let synced = written
            .and_then(|()| out.flush())
            .and_then(|()| out.get_ref().sync_data());
        if let Err(e) = synced {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the producer id journal");
        }
    }
}

fn read_lines(r: impl BufRead, path: &Path) -> io::Result<Vec<(i64, String)>> {
    let mut out = Vec::new();
    for (n, line) in r.lines().enumerate() {
        let line = line?;
        let parsed = line.split_once(' ').and_then(|(p, t)| {
            let producer_id = p.parse::<i64>().ok()?;
            Some((producer_id, unhex(t)?))
        });
        match parsed {
            Some(entry) => out.push(entry),
            // A torn last line (a crash mid-write) loses only that entry.
            None => {
                tracing::warn!(path = %path.display(), line = n + 1, "skipping a malformed producer id journal line")
            }
        }
    }
    Ok(out)
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> StrBytes {
        StrBytes::from_string(v.into())
    }

    #[test]
    fn a_producer_id_belongs_to_the_transactional_id_it_was_issued_to() {
        let ids = ProducerIds::default();
        ids.issued(7, &s("a.t"));
        assert!(ids.issued_to(7, "a.t"));
        assert!(!ids.issued_to(7, "b.t"));
        assert!(!ids.issued_to(8, "a.t"), "never issued");
        // A new producer id for the same transactional id retires the old one.
        ids.issued(9, &s("a.t"));
        assert!(ids.issued_to(9, "a.t") && !ids.issued_to(7, "a.t"));
    }

    #[test]
    fn the_file_journal_keeps_issued_ids_across_a_restart() {
        let dir = std::env::temp_dir().join(format!("gh-pids-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("producer-ids-d.log");
        let _ = std::fs::remove_file(&path);
        {
            let (known, journal) = FileJournal::open(&path).unwrap();
            assert!(known.is_empty());
            let ids = ProducerIds::with_journal(known, Box::new(journal));
            ids.issued(7, &s("a.t 1\n")); // any bytes survive the line format
            ids.issued(8, &s("b.t"));
            ids.issued(9, &s("b.t"));
        }
        // The writer thread drains its queue; poll for the lines rather than sleep.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::read_to_string(&path).unwrap().lines().count() < 3 {
            assert!(std::time::Instant::now() < deadline, "journal not written");
            std::thread::yield_now();
        }
        let (known, journal) = FileJournal::open(&path).unwrap();
        let ids = ProducerIds::with_journal(known, Box::new(journal));
        assert!(ids.issued_to(7, "a.t 1\n"));
        assert!(ids.issued_to(9, "b.t") && !ids.issued_to(8, "b.t"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().lines().count(),
            2,
            "compacted"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
