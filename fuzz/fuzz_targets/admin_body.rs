//! The admin API never panics on any body, method or path, answers every request with JSON
//! (or 204), and never stores anything a 4xx refused.
#![no_main]

use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use portway_cli::admin::Admin;

static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
});

static ADMIN: LazyLock<Arc<Admin>> = LazyLock::new(|| {
    let portway = portway::Portway::builder().build().unwrap();
    let gateway = portway.gateway().unwrap();
    Arc::new(Admin {
        portway,
        gateway,
        token: None,
    })
});

const ROUTES: [(&str, &str); 7] = [
    ("PUT", "/v1/sandboxes/box"),
    ("POST", "/v1/sandboxes/box/ports"),
    ("GET", "/v1/sandboxes/box/ports?hostname=localhost"),
    ("DELETE", "/v1/sandboxes/box/ports/8080"),
    ("DELETE", "/v1/sandboxes/box"),
    ("GET", "/v1/sandboxes"),
    ("PUT", "/v1/sandboxes/other"),
];

fuzz_target!(|input: (u8, &[u8])| {
    let (route, body) = input;
    let (method, path) = ROUTES[usize::from(route) % ROUTES.len()];
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    RT.block_on(async {
        let before = ADMIN.portway.sandboxes();
        let res = ADMIN.clone().handle(req).await.unwrap();
        let status = res.status().as_u16();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        if status != 204 {
            let v: serde_json::Value =
                serde_json::from_slice(&bytes).expect("the admin API answered invalid JSON");
            assert!(v.is_object(), "{status} {bytes:?}");
        }
        if (400..500).contains(&status) {
            assert_eq!(
                ADMIN.portway.sandboxes(),
                before,
                "a refused request changed the store"
            );
        }
    });
});
