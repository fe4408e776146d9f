//! `keyward-packaging OUT_DIR`: renders the man pages and shell completions of `keywardd` and
//! `keyward` into `OUT_DIR`, for the .deb that `packaging/build-deb` builds.
//!
//! Both come from the binaries' own clap definitions: the daemon's is public
//! (`keywardd::args::Args`), and the CLI's source files are compiled in here as modules, so a
//! page can never describe a flag the parser does not have.

// Only the parser's shape is used here, not the conversions the CLI itself needs.
#[allow(dead_code)]
#[path = "../../client/src/bin/keyward/cli.rs"]
mod cli;
mod render;
#[allow(dead_code)]
#[path = "../../client/src/bin/keyward/scope.rs"]
mod scope;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        eprintln!("usage: keyward-packaging OUT_DIR");
        return ExitCode::from(2);
    };
    match render::write_all(&PathBuf::from(out)) {
        Ok(files) => {
            for file in files {
                println!("{}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("keyward-packaging: {e}");
            ExitCode::FAILURE
        }
    }
}
