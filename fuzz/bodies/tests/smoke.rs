//! The CI smoke on stable: every fuzz body over its seeds, then over deterministic
//! pseudo-random inputs (fresh bytes, and seeds with bytes changed), a few seconds in all.
//! A failure names the target and prints the input, to add as a regression case.

use gatehouse_fuzz_bodies::input::Rng;
use gatehouse_fuzz_bodies::TARGETS;

/// Inputs per target beyond the seeds (GATEHOUSE_FUZZ_SMOKE_CASES overrides).
const CASES: usize = 10_000;

fn run_one(name: &str, run: fn(&[u8]), data: &[u8]) {
    let result = std::panic::catch_unwind(|| run(data));
    if result.is_err() {
        panic!("{name} failed on input {data:?}");
    }
}

#[test]
fn every_target_survives_its_seeds_and_pseudo_random_inputs() {
    let cases = std::env::var("GATEHOUSE_FUZZ_SMOKE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CASES);
    for target in TARGETS {
        let seeds = (target.seeds)();
        assert!(!seeds.is_empty(), "{} has seeds", target.name);
        for seed in &seeds {
            run_one(target.name, target.run, seed);
        }
        let mut rng = Rng::new(0x9e37_79b9 ^ target.name.len() as u64);
        for i in 0..cases {
            let data = if i % 2 == 0 {
                rng.bytes(256)
            } else {
                let mut d = seeds[i / 2 % seeds.len()].clone();
                for _ in 0..1 + rng.next_u64() % 4 {
                    let at = rng.next_u64() as usize % (d.len() + 1);
                    let b = rng.next_u64() as u8;
                    match rng.next_u64() % 3 {
                        0 if at < d.len() => d[at] = b,
                        1 => d.insert(at, b),
                        _ => d.extend(rng.bytes(16)),
                    }
                }
                d
            };
            run_one(target.name, target.run, &data);
        }
    }
}
