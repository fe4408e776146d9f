//! Micro-benchmarks of the token work a verify does before any lookup: parsing (prefix, length,
//! alphabet, checksum) and the SHA-256 that keys the store.

#![forbid(unsafe_code)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keyward_protocol::token;
use keyward_protocol::{CredentialKind, Env};
use std::hint::black_box;

fn token_parse_and_hash(c: &mut Criterion) {
    // A fixed token, so every run measures the same bytes.
    let secret = token::assemble(CredentialKind::Session, Env::Live, &[7; token::RANDOM_LEN]);
    let text = secret.expose();
    let mut group = c.benchmark_group("token");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse", |b| {
        b.iter(|| token::parse(black_box(text)).expect("a valid token"))
    });
    group.bench_function("hash", |b| b.iter(|| token::hash(black_box(text))));
    group.bench_function("parse_and_hash", |b| {
        b.iter(|| {
            let info = token::parse(black_box(text)).expect("a valid token");
            (info, token::hash(text))
        })
    });
    group.finish();
}

criterion_group!(benches, token_parse_and_hash);
criterion_main!(benches);
