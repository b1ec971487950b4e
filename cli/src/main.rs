//! `portway`: the Portway gateway as a standalone server.
//!
//! - `portway serve`: the gateway, an embedded SQLite store and the admin API.
//! - `portway demo`: a sample sandbox service on a preview URL, ready for `curl`.

use std::io::Write;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use portway::{ExposeOptions, Portway};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use portway_cli::admin::{self, Admin};
use portway_cli::settings::ServeArgs;
use portway_cli::{demo, limits, webhooks};

/// Puts services running in sandboxes on preview URLs.
#[derive(Debug, Parser)]
#[command(name = "portway", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the gateway with an SQLite store and the admin API.
    Serve(Box<ServeArgs>),
    /// Starts a sample sandbox service, exposes it and prints its preview URL.
    Demo {
        /// The gateway's address; a free port is used if this one is taken.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "portway=info,portway_cli=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => fail(format!("cannot start the runtime: {e}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(*args).await,
            Command::Demo { listen } => run_demo(&listen).await,
        }
    });
    if let Err(e) = result {
        fail(e);
    }
}

fn fail(message: String) -> ! {
    eprintln!("portway: {message}");
    std::process::exit(1);
}

fn say(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let settings = args.resolve()?;
    settings.check()?;
    limits::raise_open_file_limit(settings.gateway.max_connections);
    let portway = settings.portway().map_err(|e| e.to_string())?;
    let mut hooks = portway::GatewayHooks::new();
    if let Some(url) = &settings.wake_url {
        hooks = hooks.wake(webhooks::WakeWebhook { url: url.clone() });
    }
    let gateway = portway
        .serve_with(&settings.listen, hooks)
        .await
        .map_err(|e| e.to_string())?;
    let admin = Arc::new(Admin {
        portway: portway.clone(),
        gateway: gateway.gateway().clone(),
        token: settings.admin_token.clone(),
    });
    let listener = TcpListener::bind(&settings.admin_listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {} for the admin API: {e}",
                settings.admin_listen
            )
        })?;
    let admin_addr = listener.local_addr().map_err(|e| e.to_string())?;
    // No exposure may point at the admin API (it would be public without its token).
    let _admin_is_own = portway.own_listeners().register(admin_addr);
    let stop = CancellationToken::new();
    let admin_task = tokio::spawn(admin::serve(listener, admin, stop.clone()));
    let events_task = settings.events_url.clone().map(|url| {
        tokio::spawn(webhooks::forward_events(
            portway.events(),
            url,
            stop.clone(),
        ))
    });
    say(format!("gateway listening on {}", gateway.local_addr()));
    say(format!("admin API listening on {admin_addr}"));
    tracing::info!(store = %settings.store, domains = ?settings.domains, "portway serving");
    stop_signal().await;
    tracing::info!("shutting down");
    stop.cancel();
    gateway.close().await;
    let _ = admin_task.await;
    if let Some(task) = events_task {
        let _ = task.await;
    }
    Ok(())
}

async fn run_demo(listen: &str) -> Result<(), String> {
    let service = demo::start_service()
        .await
        .map_err(|e| format!("cannot start the sample service: {e}"))?;
    let portway = Portway::builder()
        .domains(["localhost"])
        .build()
        .map_err(|e| e.to_string())?;
    let gateway = match portway.serve(listen).await {
        Ok(g) => g,
        Err(e) => {
            tracing::warn!("{e}; using a free port instead");
            portway
                .serve("127.0.0.1:0")
                .await
                .map_err(|e| e.to_string())?
        }
    };
    let sandbox = portway
        .sandbox("demo", "127.0.0.1")
        .map_err(|e| e.to_string())?;
    let hostname = format!("localhost:{}", gateway.local_addr().port());
    let exposed = sandbox
        .expose_port(service.port(), ExposeOptions::new(&hostname).name("demo"))
        .await
        .map_err(|e| e.to_string())?;
    let host = exposed
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/');
    say("Portway demo: a sample sandbox service on a preview URL.".into());
    say(String::new());
    say(format!(
        "  sandbox service  http://{service}  (HTTP, and a WebSocket echo at /ws)"
    ));
    say(format!("  preview URL      {}", exposed.url));
    say(String::new());
    say("Fetch it through the gateway (curl resolves *.localhost to 127.0.0.1):".into());
    say(format!("  curl {}", exposed.url));
    say("or, with any client, by Host header:".into());
    say(format!(
        "  curl -H 'Host: {host}' http://{}/",
        gateway.local_addr()
    ));
    say(String::new());
    say("Serving until Ctrl-C.".into());
    stop_signal().await;
    gateway.close().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
