//! The reproduction of issue 12's defect 1 on a real filesystem that fills up: a 1 MiB tmpfs,
//! mostly taken by a filler file, then freed. It needs root (it mounts the tmpfs), so it is
//! ignored by default: `cargo test -p gatehouse-store --test disk_full -- --ignored`.
//! `tests/faults.rs` checks the same promises without a special filesystem.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gatehouse_store::Store;

struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success(), "mount a tmpfs (needs root)");
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills `path` until the filesystem refuses, leaving `keep` bytes of it free.
fn fill(path: &Path, keep: usize) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 4096];
    while f.write_all(&block).and_then(|()| f.sync_all()).is_ok() {}
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(keep as u64)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: mounts a tmpfs"]
async fn acknowledged_writes_survive_a_full_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let _fs = Tmpfs::mount(dir.path(), "1m");
    let url = format!("sqlite://{}/gh.db?mode=rwc", dir.path().display());
    let store = Store::open(&url, BTreeSet::new()).await.unwrap();
    let filler = dir.path().join("filler");
    fill(&filler, 48 * 1024);
    let write = |i: usize| {
        let store = store.clone();
        async move {
            let reason = format!("revocation {i} {}", "x".repeat(900));
            let r = tokio::time::timeout(
                Duration::from_secs(20),
                store.revoke_token(&format!("token-{i}"), None, Some(&reason)),
            )
            .await;
            match r {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no answer in 20 s".to_string()),
            }
        }
    };
    let mut acknowledged = Vec::new();
    let mut errors = std::collections::BTreeMap::<String, usize>::new();
    let mut count = |r: Result<(), String>, i: usize, acknowledged: &mut Vec<usize>| match r {
        Ok(()) => acknowledged.push(i),
        Err(e) => {
            let short: String = e.chars().take(90).collect();
            *errors.entry(short).or_default() += 1;
        }
    };
    for i in 0..80 {
        count(write(i).await, i, &mut acknowledged);
    }
    let ok_while_full = acknowledged.len();
    std::fs::remove_file(&filler).unwrap();
    for i in 100..110 {
        count(write(i).await, i, &mut acknowledged);
    }
    let ok_after = acknowledged.len() - ok_while_full;
    drop(store);
    let reopened = Store::open(&url, BTreeSet::new()).await.unwrap().snapshot();
    let survived = acknowledged
        .iter()
        .filter(|i| reopened.is_token_revoked(&format!("token-{i}")))
        .count();
    eprintln!(
        "80 writes while full: {ok_while_full} answered Ok; 10 writes after space was freed: \
         {ok_after} answered Ok; after reopen {survived} of {} acknowledged are there; \
         errors: {errors:#?}",
        acknowledged.len()
    );
    assert_eq!(
        survived,
        acknowledged.len(),
        "acknowledged writes were lost"
    );
    assert_eq!(ok_after, 10, "writes still fail after space was freed");
}
