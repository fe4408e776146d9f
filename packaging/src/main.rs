//! `keyward-packaging OUT_DIR`: renders the man pages and shell completions of `keywardd` and
//! `keyward` into `OUT_DIR`, for the .deb that `packaging/build-deb` builds.
//!
//! Both come from the binaries' own clap definitions, `keywardd::args::Args` and
//! `keyward_client::cli::Cli`, so a page can never describe a flag the parser does not have.

#![forbid(unsafe_code)]

mod render;

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Render the man pages and shell completions of keywardd and keyward for the .deb.
#[derive(Debug, Parser)]
#[command(name = "keyward-packaging", version)]
struct Args {
    /// The directory to write `man/` and `completions/<shell>/` into (created if missing)
    #[arg(value_name = "OUT_DIR")]
    out: PathBuf,
}

fn main() -> ExitCode {
    // clap answers --help and --version itself, so they never become a directory name.
    let args = Args::parse();
    match render::write_all(&args.out) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("keyward-packaging").chain(args.iter().copied()))
    }

    /// `--help` and `-h` print usage rather than naming an output directory `--help`; an
    /// output directory is required, and only one.
    #[test]
    fn help_is_usage_not_a_directory() {
        for help in ["--help", "-h"] {
            assert_eq!(parse(&[help]).unwrap_err().kind(), ErrorKind::DisplayHelp);
        }
        assert_eq!(
            parse(&["--version"]).unwrap_err().kind(),
            ErrorKind::DisplayVersion
        );
        assert_eq!(
            parse(&[]).unwrap_err().kind(),
            ErrorKind::MissingRequiredArgument
        );
        assert!(parse(&["a", "b"]).is_err());
        assert_eq!(parse(&["out"]).unwrap().out, PathBuf::from("out"));
        assert_eq!(
            parse(&["--", "--help"]).unwrap().out,
            PathBuf::from("--help")
        );
    }
}
