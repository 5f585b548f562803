//! Benchmarks live in `benches/`; see `RESULTS.md` for the figures.
