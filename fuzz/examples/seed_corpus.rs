//! Writes the seed inputs of every corpus: valid frames, bodies and tokens the daemon really
//! sees. Run from `fuzz/` with `cargo run --example seed_corpus`; files are named by content, so
//! running it again adds nothing new.

use bytes::BytesMut;
use keyward_fuzz::seeds;
use keyward_protocol::{codec, frame, CredentialKind, Env};
use std::path::Path;

fn main() -> std::io::Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let requests = seeds::requests();

    let mut bodies = vec![codec::encode(&seeds::hello()).expect("hello encodes")];
    bodies.extend(
        requests
            .iter()
            .map(|r| codec::encode(r).expect("request encodes")),
    );
    write_all(&corpus.join("request_decode"), &bodies)?;

    // frame_decoder: the mode byte, then a stream. Whole and byte-by-byte; with and without the
    // handshake; one frame, and all frames pipelined.
    let mut hello = BytesMut::new();
    frame::write_message(&seeds::hello(), &mut hello).expect("hello frames");
    let mut all = hello.clone();
    let mut streams = Vec::new();
    for request in &requests {
        let mut one = BytesMut::new();
        frame::write_message(request, &mut one).expect("request frames");
        all.extend_from_slice(&one);
        streams.push(with_mode(0x00, &one));
    }
    for mode in [0x00, 0x01, 0x07, 0x80, 0x81, 0x8d] {
        streams.push(with_mode(mode, &all));
    }
    write_all(&corpus.join("frame_decoder"), &streams)?;

    let mut tokens: Vec<Vec<u8>> = seeds::tokens()
        .iter()
        .map(|t| t.expose().as_bytes().to_vec())
        .collect();
    let sample = seeds::token(CredentialKind::Session, Env::Live)
        .expose()
        .to_owned();
    for bad in [
        sample[..40].to_owned(),
        sample[12..].to_owned(),
        format!("TOKEN-{}", &sample[12..30]),
        sample.to_uppercase(),
        sample.replacen("_live_", "_prod_", 1),
        format!("{sample}\n"),
    ] {
        tokens.push(bad.into_bytes());
    }
    write_all(&corpus.join("token_parse"), &tokens)
}

/// A frame_decoder input: the delivery mode byte, then the stream.
fn with_mode(mode: u8, stream: &[u8]) -> Vec<u8> {
    let mut input = vec![mode];
    input.extend_from_slice(stream);
    input
}

/// Writes each input as `seed-<hash>`, named by content as libFuzzer names its own finds.
fn write_all(dir: &Path, inputs: &[Vec<u8>]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for input in inputs {
        std::fs::write(dir.join(format!("seed-{:016x}", fnv1a(input))), input)?;
    }
    Ok(())
}

/// FNV-1a: a stable content hash for file names (not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
