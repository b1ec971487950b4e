//! URL building never panics, and every URL it builds parses back to its parts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, &str, &str, &str)| {
    let (port, id, token, hostname) = input;
    if let Ok(url) = portway::build_preview_url(port, id, token, hostname) {
        let authority = url
            .split_once("://")
            .expect("a scheme")
            .1
            .trim_end_matches('/');
        let route = portway::parse_preview_host(authority).expect("a built URL parses");
        assert_eq!(route.port, port);
        assert_eq!(route.sandbox_id, id);
        assert_eq!(route.token, token);
        assert!(url.len() <= 8 + 253 + 7);
    }
});
