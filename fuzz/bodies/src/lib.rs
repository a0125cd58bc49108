//! The bodies of the fuzz targets (the protocol layer and the sequencer's response handling),
//! one module per target.
//!
//! Each `run(data)` calls the real functions of `gatehouse-protocol` and panics when an
//! invariant breaks. libFuzzer calls them from `fuzz/fuzz_targets/` (nightly, `cargo fuzz`);
//! `tests/smoke.rs` calls them on stable over the seeds and deterministic pseudo-random inputs,
//! so CI exercises the same code without a nightly toolchain. `seeds()` of each module is the
//! starting corpus (written to `fuzz/corpus/<target>/` by `cargo run --bin seeds`).

pub mod frame_splitter;
pub mod header_peek;
pub mod input;
pub mod messages;
pub mod name_walkers;
pub mod sequencer;
pub mod tag_walkers;

/// Every target by name: its body and its seeds. Add new targets here (see fuzz/README.md).
pub const TARGETS: &[Target] = &[
    Target {
        name: "frame_splitter",
        run: frame_splitter::run,
        seeds: frame_splitter::seeds,
    },
    Target {
        name: "header_peek",
        run: header_peek::run,
        seeds: header_peek::seeds,
    },
    Target {
        name: "name_walkers",
        run: name_walkers::run,
        seeds: name_walkers::seeds,
    },
    Target {
        name: "sequencer",
        run: sequencer::run,
        seeds: sequencer::seeds,
    },
    Target {
        name: "tag_walkers",
        run: tag_walkers::run,
        seeds: tag_walkers::seeds,
    },
];

pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
    pub seeds: fn() -> Vec<Vec<u8>>,
}
