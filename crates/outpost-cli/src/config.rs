//! Connection settings: flags (and their environment variables, which clap
//! folds in) override the profile file. The merge is pure and tested; reading
//! and writing the file is the only I/O here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};

use crate::cli::ConnArgs;

/// One named set of connection settings in the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `config.toml`: `[profiles.NAME]` tables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

pub const DEFAULT_PROFILE: &str = "default";

/// Settings after merging; each command asks for what it needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub url: Option<String>,
    pub org: Option<String>,
    pub token: Option<String>,
}

/// Flags win over the profile, field by field.
pub fn merge(flags: &ConnArgs, profile: Option<&Profile>) -> Settings {
    let from_profile =
        |pick: fn(&Profile) -> &Option<String>| profile.and_then(|p| pick(p).clone());
    Settings {
        url: flags.url.clone().or_else(|| from_profile(|p| &p.url)),
        org: flags.org.clone().or_else(|| from_profile(|p| &p.org)),
        token: flags.token.clone().or_else(|| from_profile(|p| &p.token)),
    }
}

impl Settings {
    pub fn url(&self) -> Result<&str> {
        self.url.as_deref().ok_or_else(|| {
            anyhow!("no registry URL: pass --url, set OUTPOST_URL, or save a profile with `outpost admin init --save-profile default`")
        })
    }

    pub fn org(&self) -> Result<&str> {
        self.org.as_deref().ok_or_else(|| {
            anyhow!("no organisation: pass --org, set OUTPOST_ORG, or add `org` to your profile")
        })
    }

    pub fn token(&self) -> Result<&str> {
        self.token.as_deref().ok_or_else(|| {
            anyhow!("no API token: pass --token, set OUTPOST_TOKEN, or add `token` to your profile (an admin creates one with `outpost token create`)")
        })
    }
}

pub fn config_path() -> PathBuf {
    if let Some(path) = std::env::var_os("OUTPOST_CONFIG") {
        return PathBuf::from(path);
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("outpost").join("config.toml")
}

pub fn load_file() -> Result<ConfigFile> {
    let path = config_path();
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).with_context(|| {
            format!(
                "{} is not a valid Outpost config file; fix or delete it",
                path.display()
            )
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// Resolves the settings for this invocation.
pub fn resolve(flags: &ConnArgs) -> Result<Settings> {
    let file = load_file()?;
    let name = flags.profile.as_deref().unwrap_or(DEFAULT_PROFILE);
    let profile = file.profiles.get(name);
    if profile.is_none() && flags.profile.is_some() {
        return Err(anyhow!(
            "no profile `{name}` in {}; create it with `outpost admin init --save-profile {name}` or edit the file",
            config_path().display()
        ));
    }
    Ok(merge(flags, profile))
}

/// Writes a profile, keeping the others. The file holds tokens: owner-only.
pub fn save_profile(name: &str, profile: Profile) -> Result<PathBuf> {
    let path = config_path();
    let mut file = load_file()?;
    file.profiles.insert(name.to_owned(), profile);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = toml::to_string_pretty(&file)?;
    write_private(&path, text.as_bytes())?;
    Ok(path)
}

#[cfg(unix)]
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

#[cfg(not(unix))]
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_profile_field_by_field() {
        let profile = Profile {
            url: Some("http://profile".into()),
            org: Some("acme".into()),
            token: Some("opt_profile".into()),
        };
        let flags = ConnArgs {
            url: Some("http://flag".into()),
            ..ConnArgs::default()
        };
        let settings = merge(&flags, Some(&profile));
        assert_eq!(settings.url.as_deref(), Some("http://flag"));
        assert_eq!(settings.org.as_deref(), Some("acme"));
        assert_eq!(settings.token.as_deref(), Some("opt_profile"));
        let bare = merge(&ConnArgs::default(), None);
        assert!(bare.url().unwrap_err().to_string().contains("OUTPOST_URL"));
        assert!(
            bare.token()
                .unwrap_err()
                .to_string()
                .contains("OUTPOST_TOKEN")
        );
    }

    #[test]
    fn config_files_round_trip() {
        let mut file = ConfigFile::default();
        file.profiles.insert(
            "default".into(),
            Profile {
                url: Some("u".into()),
                ..Profile::default()
            },
        );
        let text = toml::to_string_pretty(&file).unwrap();
        assert!(text.contains("[profiles.default]"), "{text}");
        assert_eq!(toml::from_str::<ConfigFile>(&text).unwrap(), file);
    }
}
