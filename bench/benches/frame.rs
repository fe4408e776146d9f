//! Micro-benchmarks of framing: encoding and decoding a Verify request and a Verified response
//! with `keyward_protocol::frame`, as the client and the daemon do for every verify.

#![forbid(unsafe_code)]

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keyward_protocol::frame::{self, read_message, write_message};
use keyward_protocol::token;
use keyward_protocol::{
    CredentialKind, Env, Level, Op, Reply, Request, Requirements, Response, Scopes, Verified,
};
use std::hint::black_box;
use uuid::Uuid;

fn verify_request() -> Request {
    Request {
        id: 42,
        admin_key: None,
        op: Op::Verify {
            token: token::assemble(CredentialKind::Session, Env::Live, &[7; token::RANDOM_LEN]),
            require: Requirements::new(),
        },
    }
}

fn verified_response() -> Response {
    let mut scopes = Scopes::new();
    scopes.insert("catalog-a".into(), Level::Write);
    Response {
        id: 42,
        result: Ok(Reply::Verified(Verified {
            principal_id: Uuid::from_u128(0x438b_60d1_cf63_431e_8902_50de_8fc3_02fb),
            kind: CredentialKind::Session,
            env: Env::Live,
            scopes,
            expires_at: Some(1_795_519_572_000),
            credential_id: Uuid::from_u128(0xc7c1_6b6d_8537_46b0_bb44_2750_6996_8000),
            external_id: None,
            meta: Default::default(),
        })),
    }
}

/// Encodes `message` into a reused buffer, then decodes it back from a copy, separately timed.
fn round_trip<T>(c: &mut Criterion, name: &str, message: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let mut framing = frame::codec();
    let mut encoded = BytesMut::new();
    write_message(message, &mut encoded).expect("encodes");
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(encoded.len() as u64));
    group.bench_function("encode", |b| {
        let mut buf = BytesMut::with_capacity(256);
        b.iter(|| {
            buf.clear();
            write_message(black_box(message), &mut buf).expect("encodes");
        })
    });
    group.bench_function("decode", |b| {
        b.iter(|| {
            let mut buf = encoded.clone();
            read_message::<T>(&mut framing, black_box(&mut buf))
                .expect("decodes")
                .expect("a whole frame")
        })
    });
    group.finish();
}

fn framing(c: &mut Criterion) {
    round_trip(c, "frame/verify_request", &verify_request());
    round_trip(c, "frame/verified_response", &verified_response());
}

criterion_group!(benches, framing);
criterion_main!(benches);
