//! Opening what commands read: the repository (location, passphrase, S3 settings) and
//! archived binlogs.

use std::io::IsTerminal;
use std::path::PathBuf;

use lifeboat_core::Error;
use lifeboat_repo::Repository;

use crate::args::shared::{ArchivedArgs, RepoArg};
use crate::context::{Ctx, Failure, usage};

fn repo_location(ctx: &Ctx, arg: &RepoArg) -> Result<String, Failure> {
    let config = ctx.config()?;
    arg.repo.clone().or(config.repo).ok_or_else(|| Failure {
        message: "no repository given".into(),
        hint: Some("pass --repo DIR, set LIFEBOAT_REPO, or `repo = \"DIR\"` in the config".into()),
        code: 2,
    })
}

/// The repository passphrase: file, environment, or terminal prompt (twice when `confirm`).
fn passphrase(arg: &RepoArg, location: &str, confirm: bool) -> Result<String, Failure> {
    if let Some(f) = &arg.passphrase_file {
        let (p, warning) =
            lifeboat_server::credentials::read_password_file(f).map_err(|e| Failure {
                message: e.to_string(),
                hint: None,
                code: 1,
            })?;
        if let Some(w) = warning {
            eprintln!("warning: {}", w.replace("password file", "passphrase file"));
        }
        return Ok(p.expose().to_owned());
    }
    if let Ok(p) = std::env::var("LIFEBOAT_PASSPHRASE") {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password(format!("Passphrase for repository {location}: "))
            .unwrap_or_default();
        if confirm {
            let again = rpassword::prompt_password("Repeat the passphrase: ").unwrap_or_default();
            if again != p {
                return Err(usage("the passphrases differ".into()));
            }
        }
        if p.is_empty() {
            return Err(usage("an empty passphrase is refused".into()));
        }
        return Ok(p);
    }
    Err(Error::from(lifeboat_repo::Error::NeedPassphrase(location.to_owned())).into())
}

/// S3 settings from the config file (`[s3]`); unset ones fall back to the environment.
fn store_options(ctx: &Ctx) -> Result<lifeboat_repo::StoreOptions, Failure> {
    let config = ctx.config()?;
    let Some(s3) = config.s3 else {
        return Ok(Default::default());
    };
    let secret = match &s3.secret_access_key_file {
        Some(f) => {
            let (p, warning) =
                lifeboat_server::credentials::read_password_file(f).map_err(|e| Failure {
                    message: e.to_string().replace("password file", "secret key file"),
                    hint: None,
                    code: 1,
                })?;
            if let Some(w) = warning {
                eprintln!("warning: {}", w.replace("password file", "secret key file"));
            }
            Some(p.expose().to_owned())
        }
        None => None,
    };
    Ok(lifeboat_repo::StoreOptions {
        endpoint: s3.endpoint,
        region: s3.region,
        access_key_id: s3.access_key_id,
        secret_access_key: secret,
    })
}

/// Creates a repository (`repo init`); `encrypt` asks for a new passphrase.
pub async fn init_repo(
    ctx: &Ctx,
    arg: &RepoArg,
    encrypt: bool,
) -> Result<(String, Repository), Failure> {
    let loc = repo_location(ctx, arg)?;
    let pass = if encrypt {
        Some(passphrase(arg, &loc, true)?)
    } else {
        None
    };
    let so = store_options(ctx)?;
    let r = Repository::init_with(&loc, pass.as_deref(), &so)
        .await
        .map_err(Error::from)?;
    Ok((loc, r))
}

/// Opens a repository for writing or listing: an encrypted one needs no passphrase.
pub async fn open_repo_to_write(ctx: &Ctx, arg: &RepoArg) -> Result<Repository, Failure> {
    let loc = repo_location(ctx, arg)?;
    let so = store_options(ctx)?;
    Ok(Repository::open_with(&loc, &so)
        .await
        .map_err(Error::from)?)
}

/// Opens a repository to read it: an encrypted one also with its key.
pub async fn open_repo(ctx: &Ctx, arg: &RepoArg) -> Result<Repository, Failure> {
    let mut repo = open_repo_to_write(ctx, arg).await?;
    if repo.needs_passphrase() {
        let loc = repo.location().to_owned();
        let pass = passphrase(arg, &loc, false)?;
        repo.open_key(&pass).await.map_err(Error::from)?;
    }
    Ok(repo)
}

/// The repository at `loc` and the server whose archive `a` names (or the only one).
pub async fn archived_server(
    ctx: &Ctx,
    a: &ArchivedArgs,
    loc: &str,
) -> Result<(Repository, String), Failure> {
    let arg = RepoArg {
        repo: Some(loc.to_owned()),
        passphrase_file: a.passphrase_file.clone(),
    };
    let r = open_repo(ctx, &arg).await?;
    let servers = r.binlog_servers().await.map_err(Error::from)?;
    let server = match (&a.server, servers.as_slice()) {
        (Some(s), _) => lifeboat_repo::server_key(s),
        (None, [one]) => one.clone(),
        (None, []) => return Err(usage(format!("{loc} has no archived binlogs"))),
        (None, _) => {
            return Err(usage(format!(
                "{loc} archives several servers ({}); name one with --archived-server",
                servers.join(", ")
            )));
        }
    };
    Ok((r, server))
}

/// With `--repo`: the named archived files written out (under their own names) to a
/// temporary directory, as the server has them; without: the paths as given.
pub async fn materialize(
    ctx: &Ctx,
    a: &ArchivedArgs,
    files: &[PathBuf],
) -> Result<(Option<tempfile::TempDir>, Vec<PathBuf>), Failure> {
    let Some(loc) = &a.repo else {
        return Ok((None, files.to_vec()));
    };
    let (r, server) = archived_server(ctx, a, loc).await?;
    let dir = tempfile::tempdir().map_err(|e| Error::in_file(&std::env::temp_dir(), e))?;
    let mut paths = Vec::new();
    for f in files {
        let name = f.to_string_lossy().into_owned();
        let path = dir.path().join(&name);
        let mut out = std::fs::File::create(&path).map_err(|e| Error::in_file(&path, e))?;
        let n =
            lifeboat_core::protect::archive::read_archived(&r, &server, &name, &mut out).await?;
        if n == 0 {
            return Err(usage(format!(
                "{name} is not in the archive of {server} (see `lifeboat binlogs`)"
            )));
        }
        paths.push(path);
    }
    Ok((Some(dir), paths))
}
