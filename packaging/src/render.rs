//! The files the .deb ships besides binaries and units: a man page per command and subcommand,
//! and bash, zsh and fish completions, under `man/` and `completions/<shell>/`.

use clap::{Command, CommandFactory};
use clap_complete::Shell;
use clap_mangen::Man;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The shells the package ships completions for, each in its Debian vendor directory.
pub(crate) const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// What `keywardd(8)` adds after clap's sections: where things are under systemd, and signals.
const KEYWARDD_EXTRA: &str = r#".SH FILES
.TP
\fI/etc/keyward/keywardd.toml\fR
The configuration file the packaged unit passes with \fB\-\-config\fR. Every key is optional;
unknown keys are an error.
.TP
\fI/run/keyward/keyward.sock\fR
The socket under systemd: bound by \fIkeywardd.socket\fR (mode 0660, group \fIkeyward\fR) and
passed to the daemon. Local services get access by joining the group \fIkeyward\fR.
.TP
\fI/var/lib/keyward\fR
The data directory under systemd (\fBStateDirectory=\fR, mode 0700).
.TP
\fI/usr/lib/systemd/system/keywardd.service\fR, \fI/usr/lib/systemd/system/keywardd.socket\fR
The units: the sandboxed service, started on the first connection to its socket.
.SH SIGNALS
.TP
\fBSIGHUP\fR
Re\-read the configuration file and apply what can change at run time.
.TP
\fBSIGTERM\fR, \fBSIGINT\fR
Stop accepting, finish in\-flight requests, flush, and exit 0.
.SH SEE ALSO
\fBkeyward\fR(1), \fBsystemd.socket\fR(5), \fBsysusers.d\fR(5)
"#;

/// What `keyward(1)` adds after clap's sections.
const KEYWARD_EXTRA: &str = r#".SH ENVIRONMENT
.TP
\fBKEYWARD_SOCKET\fR
The daemon's socket, as \fB\-\-socket\fR. A service outside systemd that talks to the packaged
daemon sets it to \fI/run/keyward/keyward.sock\fR.
.TP
\fBKEYWARD_ADMIN_KEY\fR
The admin key, for commands that need one; \fB\-\-admin\-key\-file\fR wins over it.
.TP
\fBKEYWARD_TOKEN\fR
The token for \fBverify\fR and \fBlogout\fR when their TOKEN argument is omitted. A token given
as the argument itself works too, with a warning: every local user can read a process's
arguments.
.SH SEE ALSO
\fBkeywardd\fR(8)
"#;

/// One binary's documentation: its clap command, man section and extra roff.
struct Binary {
    command: Command,
    name: &'static str,
    section: &'static str,
    extra: &'static str,
}

fn binaries() -> [Binary; 2] {
    [
        Binary {
            command: keywardd::args::Args::command(),
            name: "keywardd",
            section: "8",
            extra: KEYWARDD_EXTRA,
        },
        Binary {
            command: keyward_client::cli::Cli::command(),
            name: "keyward",
            section: "1",
            extra: KEYWARD_EXTRA,
        },
    ]
}

/// Writes every man page and completion file under `out`, returning their paths.
///
/// # Errors
/// If a directory or file cannot be written.
pub(crate) fn write_all(out: &Path) -> io::Result<Vec<PathBuf>> {
    let man_dir = out.join("man");
    std::fs::create_dir_all(&man_dir)?;
    let mut written = Vec::new();
    for binary in binaries() {
        write_pages(&binary, &man_dir, &mut written)?;
        for shell in SHELLS {
            let dir = out.join("completions").join(shell.to_string());
            std::fs::create_dir_all(&dir)?;
            let mut command = binary.command.clone();
            let path = dir.join(clap_complete::Generator::file_name(&shell, binary.name));
            let mut file = std::fs::File::create(&path)?;
            clap_complete::generate(shell, &mut command, binary.name, &mut file);
            file.flush()?;
            written.push(path);
        }
    }
    Ok(written)
}

/// The binary's own page, with its extra sections, then one page per subcommand at any depth
/// (`keyward-client-create.1`), as git does.
fn write_pages(binary: &Binary, dir: &Path, written: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut command = binary.command.clone().disable_help_subcommand(true);
    command.build();
    let man = Man::new(command.clone()).section(binary.section);
    let mut page = Vec::new();
    man.render(&mut page)?;
    page.extend_from_slice(binary.extra.as_bytes());
    let path = dir.join(man.get_filename());
    std::fs::write(&path, page)?;
    written.push(path);
    write_subcommand_pages(&command, binary.section, dir, written)
}

fn write_subcommand_pages(
    command: &Command,
    section: &str,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> io::Result<()> {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let path = Man::new(sub.clone()).section(section).generate_to(dir)?;
        written.push(path);
        write_subcommand_pages(sub, section, dir, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: PathBuf) -> String {
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Every page and completion file is written, and each names what it documents.
    #[test]
    fn writes_pages_and_completions() {
        let out = tempfile::tempdir().unwrap();
        let written = write_all(out.path()).unwrap();
        let man = out.path().join("man");
        let keywardd = read(man.join("keywardd.8"));
        assert!(keywardd.contains(".TH keywardd 8"), "{keywardd}");
        assert!(keywardd.contains("\\-\\-config") && keywardd.contains(".SH FILES"));
        let keyward = read(man.join("keyward.1"));
        assert!(keyward.contains(".TH keyward 1") && keyward.contains("KEYWARD_SOCKET"));
        let create = read(man.join("keyward-client-create.1"));
        assert!(create.contains("\\-\\-max\\-sessions"), "{create}");
        let migrate = read(man.join("keywardd-migrate.8"));
        assert!(migrate.contains("\\-\\-to\\-etcd"), "{migrate}");
        let completions = out.path().join("completions");
        assert!(read(completions.join("bash/keyward.bash")).contains("admin-key"));
        assert!(read(completions.join("zsh/_keyward")).contains("#compdef keyward"));
        assert!(read(completions.join("fish/keywardd.fish")).contains("complete -c keywardd"));
        assert!(written.iter().all(|p| p.starts_with(out.path())));
    }

    /// The example config the package installs at /etc/keyward/keywardd.toml is one the daemon
    /// accepts, and it sets nothing: every line is a comment.
    #[test]
    fn example_config_is_valid_and_all_comments() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("keywardd.toml");
        let text = read(path);
        keywardd::config::Config::from_toml("/s".into(), "/d".into(), &text).unwrap();
        let uncommented: Vec<_> = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .collect();
        assert!(uncommented.is_empty(), "{uncommented:?}");
        let example: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("# ").or(l.strip_prefix("#")))
            .filter(|l| l.contains(" = "))
            .map(|l| format!("{l}\n"))
            .collect();
        keywardd::config::Config::from_toml("/s".into(), "/d".into(), &example)
            .unwrap_or_else(|e| panic!("the commented-out settings do not parse: {e}\n{example}"));
    }
}
