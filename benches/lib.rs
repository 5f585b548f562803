//! Benchmarks live in the `[[bench]]` targets; `upload.sh` measures uploads against `dd`.
