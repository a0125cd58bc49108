//! Writes each target's seeds to `<dir>/<target>/seed-<n>` (default dir: fuzz/corpus), the
//! starting corpus `scripts/fuzz` hands to libFuzzer. Existing files are left as they are.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus"));
    for target in gatehouse_fuzz_bodies::TARGETS {
        let out = dir.join(target.name);
        std::fs::create_dir_all(&out)?;
        let seeds = (target.seeds)();
        for (i, seed) in seeds.iter().enumerate() {
            std::fs::write(out.join(format!("seed-{i:03}")), seed)?;
        }
        println!(
            "{}: {} seeds in {}",
            target.name,
            seeds.len(),
            out.display()
        );
    }
    Ok(())
}
