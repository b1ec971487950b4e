//! Host parsing never panics, and whatever parses is a valid route that builds back to the
//! same host.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(host) = std::str::from_utf8(data) else {
        return;
    };
    let rules = portway::Rules::default();
    let _ = rules.route_preview_host(host);
    if let Some(route) = portway::parse_preview_host(host) {
        assert!(rules.is_valid_port(route.port));
        assert!(portway::validate_sandbox_id(&route.sandbox_id).is_ok());
        assert!(portway::is_token_format(&route.token));
        let url =
            portway::build_preview_url(route.port, &route.sandbox_id, &route.token, "example.com")
                .expect("a parsed route builds");
        let again =
            portway::parse_preview_host(url.split_once("://").unwrap().1.trim_end_matches('/'));
        assert_eq!(again.as_ref(), Some(&route));
    }
});
