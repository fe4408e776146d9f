//! `keywardd`: parse arguments, set up logging, run the daemon (or an offline command). All
//! logic is in the library.

use clap::Parser;
use keywardd::args::{Args, Command};
use keywardd::config::{Backend, Config};
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

/// The offline commands that write into etcd.
#[cfg(feature = "etcd")]
mod into_etcd {
    use keywardd::cluster::import::{self, ImportReport};
    use keywardd::config::Config;
    use std::process::ExitCode;

    /// The summary and what to do next, or why it failed (exit status 1).
    fn report(what: &str, done: Result<ImportReport, import::ImportError>, next: &str) -> ExitCode {
        match done {
            Ok(report) => {
                println!("{report}\n{next}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("keywardd: {what} failed: {e}");
                ExitCode::FAILURE
            }
        }
    }

    pub fn restore(config: &Config, file: &std::path::Path) -> ExitCode {
        let done = import::restore_into(config, file);
        report("restore", done, import::AFTER_RESTORE)
    }

    pub fn migrate(config: &Config) -> ExitCode {
        let done = import::migrate(config);
        report("migrate", done, &import::after_migrate(config))
    }
}

/// Without etcd support, the commands that write into etcd say how to get it.
#[cfg(not(feature = "etcd"))]
mod into_etcd {
    use keywardd::config::Config;
    use std::process::ExitCode;

    fn unsupported() -> ExitCode {
        eprintln!(
            "keywardd: this keywardd was built without etcd support; build it with `cargo build \
             --features etcd`, or install the .deb, which has it"
        );
        ExitCode::FAILURE
    }

    pub fn restore(_: &Config, _: &std::path::Path) -> ExitCode {
        unsupported()
    }

    pub fn migrate(_: &Config) -> ExitCode {
        unsupported()
    }
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
    match &args.command {
        Some(Command::Restore { file, force }) => {
            if !matches!(config.backend, Backend::Local) {
                return into_etcd::restore(&config, file);
            }
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
        Some(Command::Migrate { to_etcd: _ }) => return into_etcd::migrate(&config),
        None => {}
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
