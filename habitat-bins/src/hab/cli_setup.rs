//! `hab cli setup`: asks for the depot URL, the default origin and the auth token, and writes
//! them to cli.toml (docs/commands.md, "Settings"); offers to generate the origin's signing key.
//!
//! Questions go to stderr, answers come from stdin one line each, so the command also runs
//! from a script (`printf 'URL\nORIGIN\nTOKEN\nn\n' | hab cli setup`). An empty answer keeps
//! the current value.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use habitat_core::OriginName;

use crate::{say, settings};

/// `hab cli setup`.
pub(super) fn run() -> Result<ExitCode> {
    let path = settings::cli_toml_path()
        .context("HOME is not set: cli.toml lives at ~/.hab/etc/cli.toml")?;
    let mut table = read_table(&path)?;
    let current = |table: &toml::Table, key: &str| {
        table
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .filter(|v| !v.is_empty())
    };
    let mut input = std::io::stdin().lock();
    say!("Settings for hab, saved in {}", path.display());

    let url = ask(
        &mut input,
        "Depot URL",
        current(&table, "bldr_url").as_deref(),
    )?;
    if let Some(url) = url {
        url.parse::<habitat_depot_client::DepotUrl>()
            .with_context(|| format!("`{url}` is not a depot URL"))?;
        table.insert("bldr_url".into(), url.into());
    }

    let origin = ask(
        &mut input,
        "Default origin",
        current(&table, "origin").as_deref(),
    )?;
    if let Some(origin) = &origin {
        origin
            .parse::<OriginName>()
            .with_context(|| format!("`{origin}` is not an origin name"))?;
        table.insert("origin".into(), origin.clone().into());
    }

    // The token is never shown, only whether one is set.
    let has_token = current(&table, "auth_token").is_some();
    let token = ask(
        &mut input,
        "Auth token",
        has_token.then_some("keep the current one"),
    )?;
    if let Some(token) = token {
        habitat_depot_client::Token::new(token.trim()).context("the auth token")?;
        table.insert("auth_token".into(), token.trim().to_owned().into());
    }

    write_table(&path, &table)?;
    say!("Saved {}", path.display());

    if let Some(origin) = current(&table, "origin") {
        let origin: OriginName = origin.parse()?;
        let keys = settings::key_cache(None)?;
        if keys.latest_secret(origin.as_str()).is_err() {
            let answer = ask(
                &mut input,
                &format!("Generate a signing key for {origin}? [Y/n]"),
                None,
            )?;
            if !matches!(answer.as_deref(), Some("n" | "N" | "no")) {
                super::key::generate(&origin, &keys)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks one question; `None` for an empty answer (keep what is there).
fn ask(input: &mut impl BufRead, question: &str, current: Option<&str>) -> Result<Option<String>> {
    let mut stderr = std::io::stderr();
    match current {
        Some(current) => write!(stderr, "{question} [{current}]: ")?,
        None => write!(stderr, "{question}: ")?,
    }
    stderr.flush()?;
    let mut line = String::new();
    if input
        .read_line(&mut line)
        .context("cannot read an answer from stdin")?
        == 0
    {
        // End of input: keep everything as it is.
        writeln!(stderr)?;
        return Ok(None);
    }
    let answer = line.trim();
    Ok((!answer.is_empty()).then(|| answer.to_owned()))
}

fn read_table(path: &Path) -> Result<toml::Table> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .parse()
            .with_context(|| format!("`{}` is not valid TOML", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(toml::Table::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    }
}

/// Writes the file atomically, readable by its owner only (it may hold a token).
fn write_table(path: &Path, table: &toml::Table) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let Some(dir) = path.parent() else {
        bail!("`{}` has no parent directory", path.display());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let text = toml::to_string(table).context("cannot write the settings as TOML")?;
    let tmp = dir.join(".cli.toml.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write `{}`", tmp.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(())
}
