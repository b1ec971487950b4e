//! Properties of the URL rules and of generated tokens.

use std::collections::HashSet;

use proptest::prelude::*;

fn port() -> impl Strategy<Value = u16> {
    (1024u16..=65535).prop_filter("reserved", |p| *p != 3000)
}

fn sandbox_id() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?"
        .prop_filter("reserved", |id| portway::validate_sandbox_id(id).is_ok())
}

fn token() -> impl Strategy<Value = String> {
    "[a-z0-9_]{1,16}"
}

fn hostname() -> impl Strategy<Value = String> {
    let label = "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?";
    (
        prop::collection::vec(label, 1..4),
        prop::option::of(1u16..=65535),
    )
        .prop_map(|(labels, port)| {
            let host = labels.join(".") + ".example";
            match port {
                Some(p) => format!("{host}:{p}"),
                None => host,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn build_then_parse_gives_the_route_back(port in port(), id in sandbox_id(), token in token(), host in hostname()) {
        let url = portway::build_preview_url(port, &id, &token, &host).unwrap();
        let authority = url.split_once("://").unwrap().1.trim_end_matches('/');
        let route = portway::parse_preview_host(authority).unwrap();
        prop_assert_eq!(route.port, port);
        prop_assert_eq!(route.sandbox_id, id);
        prop_assert_eq!(route.token, token);
    }

    #[test]
    fn parse_never_panics(host in ".{0,300}") {
        let _ = portway::parse_preview_host(&host);
        let _ = portway::Rules::default().route_preview_host(&host);
    }

    #[test]
    fn parse_never_panics_on_near_misses(host in "[0-9]{0,6}-[a-zA-Z0-9_.:-]{0,80}(\\.[a-z]{1,5})?(:[0-9]{0,6})?") {
        if let Some(route) = portway::parse_preview_host(&host) {
            // Whatever parses is a valid route.
            prop_assert!(portway::validate_port(route.port.into()).is_ok());
            prop_assert!(portway::validate_sandbox_id(&route.sandbox_id).is_ok());
            prop_assert!(portway::is_token_format(&route.token));
        }
    }

    #[test]
    fn locate_agrees_with_parse(host in "[0-9]{3,6}-[a-zA-Z0-9_.:\u{e9}\u{212a}-]{0,70}(\\.[a-zA-Z\u{e9}]{1,5})?(:[0-9]{0,6})?") {
        locate_agrees_with_parse_on(&host)?;
    }

    #[test]
    fn locate_agrees_with_parse_on_any_text(host in ".{0,80}") {
        locate_agrees_with_parse_on(&host)?;
    }

    #[test]
    fn build_never_panics(port in any::<u16>(), id in ".{0,70}", token in ".{0,20}", host in ".{0,80}") {
        let _ = portway::build_preview_url(port, &id, &token, &host);
    }
}

/// `locate_preview_route` finds a route exactly when `parse_preview_host` does, and its
/// spans, lowercased, are that route, counted in bytes or in UTF-16 units alike.
fn locate_agrees_with_parse_on(host: &str) -> Result<(), TestCaseError> {
    let rules = portway::Rules::default();
    let parsed = rules.parse_preview_host(host);
    let spans = rules.locate_preview_route(host);
    prop_assert_eq!(parsed.is_some(), spans.is_some());
    if let (Some(route), Some(spans)) = (parsed, spans) {
        prop_assert_eq!(spans.port, route.port);
        prop_assert_eq!(
            host[spans.sandbox_id.clone()].to_ascii_lowercase(),
            route.sandbox_id.clone()
        );
        prop_assert_eq!(
            host[spans.token.clone()].to_ascii_lowercase(),
            route.token.clone()
        );
        let utf16: Vec<u16> = host.encode_utf16().collect();
        let id16 = String::from_utf16(&utf16[spans.sandbox_id]).unwrap();
        prop_assert_eq!(id16.to_lowercase(), route.sandbox_id);
        let token16 = String::from_utf16(&utf16[spans.token]).unwrap();
        prop_assert_eq!(token16.to_lowercase(), route.token);
    }
    Ok(())
}

#[test]
fn generated_tokens_are_valid() {
    for _ in 0..10_000 {
        let t = portway::generate_token();
        assert_eq!(t.len(), 16);
        portway::validate_token(&t).unwrap();
        assert!(!t.contains('_'));
    }
}

#[test]
fn generated_tokens_are_unique_and_uniform() {
    const N: usize = 100_000;
    let mut seen = HashSet::with_capacity(N);
    let mut counts = [0u64; 36];
    for _ in 0..N {
        let t = portway::generate_token();
        for b in t.bytes() {
            let i = if b.is_ascii_digit() {
                26 + (b - b'0')
            } else {
                b - b'a'
            } as usize;
            counts[i] += 1;
        }
        assert!(seen.insert(t), "duplicate token");
    }
    // Chi-square against the uniform distribution, 35 degrees of freedom. The 99.99th
    // percentile is about 72; a modulo bias of 256 % 36 = 4 extra values would push the
    // statistic past 1000 with 1.6 million characters.
    let total = (N * 16) as f64;
    let expected = total / 36.0;
    let chi2: f64 = counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    assert!(
        chi2 < 80.0,
        "chi-square {chi2:.1} over 35 degrees of freedom; counts {counts:?}"
    );
}
