//! `appreg completions SHELL` and `appreg man`: shell completions and manual pages, generated from
//! the same command-line definition the binary parses with, so they can never list a flag that
//! does not exist. Writes only to stdout, or to the directory `man --dir` names.

use std::path::{Path, PathBuf};

use super::{EXIT_ERROR, EXIT_OK};

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for. Load it with, for example, `source <(appreg completions bash)`
    /// or `appreg completions fish > ~/.config/fish/completions/appreg.fish`.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write appreg.1 and one page per command (appreg-plan.1, ...) into DIR; without it, print
    /// appreg.1 to stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn completions(args: &CompletionsArgs) -> u8 {
    use clap_complete::Shell as Target;
    let shell = match args.shell {
        Shell::Bash => Target::Bash,
        Shell::Zsh => Target::Zsh,
        Shell::Fish => Target::Fish,
        Shell::Powershell => Target::PowerShell,
    };
    let mut command = super::command();
    let mut text = Vec::new();
    clap_complete::generate(shell, &mut command, "appreg", &mut text);
    write_stdout(&text)
}

pub fn man(args: &ManArgs) -> u8 {
    let command = super::command();
    match &args.dir {
        None => {
            let mut page = Vec::new();
            if let Err(e) = clap_mangen::Man::new(command).render(&mut page) {
                return super::run::fail(format!("cannot render the manual page: {e}"));
            }
            write_stdout(&page)
        }
        Some(dir) => match write_pages(command, dir) {
            Ok(count) => {
                eprintln!("appreg: {count} manual pages written to {}", dir.display());
                EXIT_OK
            }
            Err(e) => super::run::fail(format!(
                "cannot write manual pages to {}: {e}",
                dir.display()
            )),
        },
    }
}

/// appreg.1 and appreg-COMMAND.1 for each command (and appreg-sandbox-serve.1 for nested ones).
fn write_pages(command: clap::Command, dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut command = command;
    command.build();
    let mut count = 0;
    let mut pending = vec![("appreg".to_string(), command)];
    while let Some((name, command)) = pending.pop() {
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            let sub_name = format!("{name}-{}", sub.get_name());
            // clap names commands with &'static str (without its `string` feature); a handful of
            // page names live until the process ends anyway.
            let page_name: &'static str = Box::leak(sub_name.clone().into_boxed_str());
            pending.push((sub_name, sub.clone().name(page_name)));
        }
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page)?;
        std::fs::write(dir.join(format!("{name}.1")), page)?;
        count += 1;
    }
    Ok(count)
}

/// Writes generated text to stdout; a closed pipe is the reader's choice, not an error.
fn write_stdout(bytes: &[u8]) -> u8 {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Ok(()) => EXIT_OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => {
            eprintln!("error: cannot write: {e}");
            EXIT_ERROR
        }
    }
}
