//! A stable-Rust stand-in for the `cargo fuzz` target (`fuzz/`, nightly): thousands of seeded
//! random mutations of the sample files (bit flips, interesting bytes, huge counts, cuts,
//! insertions, deletions) must each give a header or an error, never a panic.
#![allow(clippy::unwrap_used, reason = "tests")]

use ollama_dash_gguf::{Limits, read_header, sample_adapter, sample_model, sample_projector};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ROUNDS: usize = 20_000;

fn mutate(rng: &mut StdRng, mut bytes: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.random_range(1..=4) {
        // Most of the interesting structure is in the header: aim there more often.
        let hot = bytes.len().clamp(1, 600);
        let at = if rng.random_bool(0.8) {
            rng.random_range(0..hot)
        } else {
            rng.random_range(0..bytes.len().max(1))
        };
        match rng.random_range(0..7) {
            0 => {
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= 1 << rng.random_range(0..8);
                }
            }
            1 => {
                if let Some(b) = bytes.get_mut(at) {
                    *b = [0, 1, 0x7f, 0x80, 0xff, 12, 13][rng.random_range(0..7)];
                }
            }
            2 => {
                let big: u64 =
                    [u64::MAX, 1 << 63, 1 << 40, 0xffff_ffff, 65, 0][rng.random_range(0..6)];
                if at + 8 <= bytes.len() {
                    bytes[at..at + 8].copy_from_slice(&big.to_le_bytes());
                }
            }
            3 => bytes.truncate(at),
            4 => {
                let n = rng.random_range(1..64);
                let junk: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                let at = at.min(bytes.len());
                bytes.splice(at..at, junk);
            }
            5 => {
                let end = (at + rng.random_range(1..64)).min(bytes.len());
                if at < end {
                    bytes.drain(at..end);
                }
            }
            _ => {
                // Copy a run of bytes from elsewhere (duplicates keys, counts, strings).
                let from = rng.random_range(0..bytes.len().max(1));
                let run: Vec<u8> = bytes
                    .iter()
                    .skip(from)
                    .take(rng.random_range(1..32))
                    .copied()
                    .collect();
                let at = at.min(bytes.len());
                bytes.splice(at..at, run);
            }
        }
    }
    bytes
}

#[test]
fn random_mutations_of_sample_files_never_panic() {
    let seeds: Vec<Vec<u8>> = [2, 3]
        .into_iter()
        .flat_map(|v| {
            [
                sample_model("llama", v).to_bytes(),
                sample_projector(v).to_bytes(),
                sample_adapter("qwen2", v).to_bytes(),
            ]
        })
        .collect();
    let limits = Limits::default();
    let mut rng = StdRng::seed_from_u64(0x6767_5546);
    let (mut parsed, mut refused) = (0usize, 0usize);
    for round in 0..ROUNDS {
        let input = mutate(&mut rng, seeds[round % seeds.len()].clone());
        match read_header(input.as_slice(), input.len() as u64, &limits) {
            Ok(header) => {
                parsed += 1;
                let _ = (
                    header.kind(),
                    header.quantization(),
                    header.parameter_size(),
                    header.model_info(),
                );
            }
            Err(e) => {
                refused += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    println!("{ROUNDS} mutated inputs: {parsed} parsed, {refused} refused, 0 panics");
    assert_eq!(parsed + refused, ROUNDS);
    assert!(
        parsed > 0 && refused > ROUNDS / 2,
        "the mutations reach both outcomes: {parsed} / {refused}"
    );
}
