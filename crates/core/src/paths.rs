//! Where lifeboat keeps its own files (XDG base directories).

use std::path::PathBuf;

/// The user's home directory (`$HOME`).
pub fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

fn xdg(var: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(fallback)))
}

/// `~/.config/lifeboat/config.toml`, or under `$XDG_CONFIG_HOME`.
pub fn default_config() -> Option<PathBuf> {
    xdg("XDG_CONFIG_HOME", ".config").map(|d| d.join("lifeboat").join("config.toml"))
}

/// `~/.local/state/lifeboat`, or under `$XDG_STATE_HOME`: journal and sandbox registry.
pub fn state_dir() -> PathBuf {
    xdg("XDG_STATE_HOME", ".local/state")
        .unwrap_or_else(std::env::temp_dir)
        .join("lifeboat")
}

/// The default audit journal.
pub fn default_journal() -> PathBuf {
    state_dir().join("journal.jsonl")
}
