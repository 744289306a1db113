//! Loading from disk names the file in every error, and reports unreadable files.

use std::io::Write;

use handoff::config::{Config, ConfigLoadError};

#[test]
fn errors_carry_the_path_as_given() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(file, "[sbc]\nio = \"poll\"\n").expect("write");
    let path = file.path().display().to_string();
    match Config::load(file.path()) {
        Err(ConfigLoadError::Invalid(errors)) => assert_eq!(
            errors.to_string(),
            format!("{path}:2:6: sbc.io: \"poll\" is not one of \"auto\", \"uring\", \"epoll\"")
        ),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("absent.toml");
    match Config::load(&path) {
        Err(error @ ConfigLoadError::Read { .. }) => {
            let message = error.to_string();
            assert!(
                message.starts_with(&format!("{}: cannot read config file: ", path.display())),
                "{message}"
            );
        }
        other => panic!("expected a read error, got {other:?}"),
    }
}

#[test]
fn valid_file_loads() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(file, "[sbc]\nio = \"epoll\"\n").expect("write");
    let config = Config::load(file.path()).expect("valid");
    assert_eq!(config.sbc.io, handoff::config::IoBackend::Epoll);
}
