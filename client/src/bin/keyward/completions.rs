//! `keyward completions SHELL`: the shell completion script, generated from the clap
//! definition, so it never offers a flag the parser lacks.

use crate::cli::Cli;
use clap::CommandFactory;
use clap_complete::Shell;
use std::io::Write;

/// Writes the completion script for `shell` to `out`.
pub(crate) fn write(shell: Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), "keyward", out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each shell's script names the binary and its subcommands.
    #[test]
    fn scripts_name_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut out = Vec::new();
            write(shell, &mut out);
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains("keyward"), "{shell}");
            assert!(text.contains("revoke-sessions"), "{shell}");
        }
    }
}
