//! Any text as a config file: loading never panics, and every error names a place in the file
//! (`file:line:col`) so the operator can find it.
#![no_main]

use handoff::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = Config::from_toml_str(text, "fuzz.toml") {
        assert!(errors.iter().next().is_some(), "an error list is never empty");
        let lines = text.split('\n').count();
        for error in errors.iter() {
            assert_eq!(error.file, "fuzz.toml");
            assert!(
                (1..=lines).contains(&error.line) && error.column >= 1,
                "an error outside the file ({lines} lines): {error}"
            );
        }
    }
});
