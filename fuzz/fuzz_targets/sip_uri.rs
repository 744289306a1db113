//! Any text: URI parsing never panics, and a parsed URI re-serialises byte-exactly.
#![no_main]

use handoff::sip::{Uri, escape_uri_header_value, unescape};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = unescape(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(uri) = Uri::parse(text) else { return };
    let _ = (
        uri.scheme(),
        uri.user(),
        uri.password(),
        uri.host(),
        uri.port(),
        uri.user_unescaped(),
    );
    let _ = (uri.params().count(), uri.headers().count(), uri.param("lr"));
    assert_eq!(uri.to_buf().to_string(), text);
    if let Some(value) = uri.header_value_unescaped("Replaces") {
        let mut buf = uri.to_buf();
        buf.set_header_unescaped("Replaces", &value);
        let rebuilt = buf.to_string();
        let reparsed = Uri::parse(&rebuilt).expect("rebuilt URI parses");
        assert_eq!(
            reparsed.header_value_unescaped("Replaces").as_deref(),
            Some(&*value)
        );
        let _ = escape_uri_header_value(&value);
    }
});
