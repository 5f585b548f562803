//! `completions SHELL`: a completion script for the whole `ollama-dash` command.

use crate::error::Result;
use crate::output;

/// Arguments of `completions`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write the script for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Writes the script for `app` (the binary's whole clap command) to stdout.
pub(crate) fn completions(args: &CompletionsArgs, app: clap::Command) -> Result<()> {
    let mut app = app;
    let name = app.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut app, name, &mut script);
    output::print(&String::from_utf8_lossy(&script))
}
