//! Validation collects every problem in one pass and lists them in file order.

use handoff::config::{Config, ConfigError};

#[test]
fn all_errors_in_file_order() {
    let text = r#"[sbc]
listen = "127.0.0.1:99999"
io = "kqueue"
media_ports = [20001, 20000]

[[trunk]]
name = "a"
peer = "not-an-address"
country_code = "x"
codecs = ["SPEEX"]

[[trunk]]
name = "a"
peer = "10.0.0.2:5060"
country_code = "44"

[[route]]
to = "b"
"#;
    let errors = Config::from_toml_str(text, "many.toml").expect_err("invalid");
    let locations: Vec<(usize, usize)> = errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(
        locations,
        vec![
            (2, 10),
            (3, 6),
            (4, 15),
            (8, 8),
            (9, 16),
            (10, 10),
            (10, 11),
            (13, 8),
            (18, 6)
        ]
    );
    assert!(errors.iter().all(|e: &ConfigError| e.file == "many.toml"));
    // Display puts one error per line.
    assert_eq!(errors.to_string().lines().count(), 9);
}
