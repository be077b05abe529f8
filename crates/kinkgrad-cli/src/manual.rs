//! `kinkgrad completions SHELL` and `kinkgrad man`: shell completion scripts (`clap_complete`) and
//! the manual pages (`clap_mangen`), generated from the same command definition as the parser, on
//! stdout or into a folder (`--out DIR`, each file written atomically).

use clap_complete::Shell;
use std::path::{Path, PathBuf};

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    kinkgrad::io::atomic::write_atomic(path, |w| w.write_all(bytes)).map_err(|e| e.to_string())
}

/// Arguments of `kinkgrad completions`.
#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
    /// Write the script into this folder (under the shell's usual file name) instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Arguments of `kinkgrad man`.
#[derive(clap::Args)]
pub struct ManArgs {
    /// Write kinkgrad.1 and one page per subcommand (kinkgrad-SUB.1) into this folder instead of
    /// printing kinkgrad.1 on stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The completion script for `a.shell`: the text for stdout, or a line naming the file written.
pub fn completions(a: &CompletionsArgs, mut cmd: clap::Command) -> Result<String, String> {
    let mut buf = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "kinkgrad", &mut buf);
    let text = String::from_utf8(buf).map_err(|e| format!("completion script: {e}"))?;
    match &a.out {
        None => Ok(text),
        Some(dir) => {
            let path = dir.join(clap_complete::Generator::file_name(&a.shell, "kinkgrad"));
            write_atomic(&path, text.as_bytes())?;
            Ok(format!("wrote {}\n", path.display()))
        }
    }
}

/// The manual: kinkgrad.1 on stdout, or every page into `a.out`.
pub fn man(a: &ManArgs, cmd: clap::Command) -> Result<String, String> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let render = |c: &clap::Command| -> Result<Vec<u8>, String> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c.clone()).render(&mut buf).map_err(|e| format!("manual page: {e}"))?;
        Ok(buf)
    };
    let Some(dir) = &a.out else {
        return String::from_utf8(render(&cmd)?).map_err(|e| format!("manual page: {e}"));
    };
    // pages named after the command path, e.g. kinkgrad-hybrid-train.1
    let mut todo = vec![(String::from("kinkgrad"), cmd)];
    let mut written = Vec::new();
    while let Some((name, c)) = todo.pop() {
        let page = c.clone().display_name(name.clone());
        let path = dir.join(format!("{name}.1"));
        write_atomic(&path, &render(&page)?)?;
        written.push(path.display().to_string());
        for sub in c.get_subcommands().filter(|s| !s.is_hide_set()) {
            todo.push((format!("{name}-{}", sub.get_name()), sub.clone()));
        }
    }
    written.sort();
    Ok(format!("wrote {} manual pages: {}\n", written.len(), written.join(", ")))
}
