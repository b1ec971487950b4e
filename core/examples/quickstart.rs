//! The README's Rust example, compiled by `cargo test` so it cannot go stale.
//! Run it with `cargo run -p portway --example quickstart` next to a service on port 8000.

use portway::{ExposeOptions, Portway, WaitOptions};

#[tokio::main]
async fn main() -> portway::Result<()> {
    let portway = Portway::builder()
        .domains(["localhost"])
        .store_path("./portway.db") // or ":memory:"
        .build()?;
    let gateway = portway.serve("127.0.0.1:8080").await?;

    let sandbox = portway.sandbox("my-sandbox", "127.0.0.1")?;
    sandbox.wait_for_port(8000, WaitOptions::default()).await?;
    let exposed = sandbox
        .expose_port(8000, ExposeOptions::new("localhost:8080"))
        .await?;
    println!("{}", exposed.url); // http://8000-my-sandbox-<token>.localhost:8080/

    tokio::signal::ctrl_c().await.ok();
    gateway.close().await;
    Ok(())
}
