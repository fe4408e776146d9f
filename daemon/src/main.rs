//! `keywardd`: parse arguments, set up logging, run the daemon (or an offline command). All
//! logic is in the library.

use clap::Parser;
use keywardd::args::{Args, Command};
use keywardd::config::Config;
use std::process::ExitCode;

/// The async runtime: one event-loop thread for `worker_threads = 1`, else a thread pool
/// (0: one thread per core). Durable writes and scans run on its blocking pool either way.
fn build_runtime(worker_threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match worker_threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        0 => tokio::runtime::Builder::new_multi_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    };
    builder.enable_all().build()
}

fn main() -> ExitCode {
    // Before any secret is in memory: no core dump, and no ptrace or /proc/PID/mem by other
    // processes of the same uid. Failing would leave the daemon as safe as before, so say so
    // and go on.
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        eprintln!("keywardd: warning: cannot make the process non-dumpable: {e}");
    }
    keywardd::host::memory::limit_arenas();
    let args = Args::parse();
    let config = match Config::load(&args.overrides()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("keywardd: {e}");
            return ExitCode::from(2);
        }
    };
    keywardd::host::logging::init(&config.log_level);
    if let Some(Command::Restore { file, force }) = &args.command {
        return match keywardd::backup::restore_file(file, &config.data_dir, *force) {
            Ok(report) => {
                eprintln!("keywardd: {report}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("keywardd: restore failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // Before the runtime starts threads: this clears $LISTEN_FDS and $LISTEN_PID.
    let activated = match keywardd::server::activation::take_listeners() {
        Ok(activated) => activated,
        Err(e) => {
            eprintln!("keywardd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match build_runtime(config.worker_threads) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keywardd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(keywardd::daemon::run(config, args.overrides(), activated)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once: the log and this line both go to stderr (or both to the journal).
            eprintln!("keywardd: {e}");
            ExitCode::FAILURE
        }
    }
}
