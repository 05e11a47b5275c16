use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

use davd::cli::{Cli, Command, UserAction};
use davd::{App, StartError, serve};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::User {
        action: UserAction::Add { name, users },
    }) = &cli.command
    {
        return add_user(name, users);
    }
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{},sled=warn", cli.log_level)));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let settings = match cli.settings() {
        Ok(settings) => settings,
        Err(e) => {
            error!("{}", StartError::Config(e));
            return ExitCode::FAILURE;
        }
    };
    // With connection threads, this runtime only accepts connections, sweeps expired locks
    // and waits for signals: one thread does. Without them it serves every connection.
    let mut builder = if settings.connection_threads == 0 {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `davd user add NAME --users FILE`.
fn add_user(name: &str, users: &std::path::Path) -> ExitCode {
    use std::io::{BufRead, IsTerminal};
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {name}: "));
        let second = rpassword::prompt_password("Again: ");
        match (first, second) {
            (Ok(a), Ok(b)) if a == b => a,
            (Ok(_), Ok(_)) => {
                eprintln!("the passwords differ; nothing was changed");
                return ExitCode::FAILURE;
            }
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("cannot read the password: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        let mut line = String::new();
        if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
            eprintln!("cannot read the password from standard input: {e}");
            return ExitCode::FAILURE;
        }
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    match davd::auth::add_user(users, name, &password) {
        Ok(()) => {
            eprintln!("{name} added to {}", users.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: davd::Settings) -> Result<(), StartError> {
    let listen = settings.listen;
    let (root, state) = (settings.root.clone(), settings.state.clone());
    let settings_tls = settings.tls.is_some();
    let app = Arc::new(App::build(settings).await?);
    // Before the address is announced: whoever waits for it finds the stores recovered.
    app.recover().await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: listen.to_string(),
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(listen);
    let shutdown = shutdown_signal().map_err(|source| StartError::Listen {
        addr: addr.to_string(),
        source,
    })?;
    let scheme = if settings_tls { "https" } else { "http" };
    info!(
        "davd serving {scheme}://{addr}/ from {} (state in {})",
        root.display(),
        state.display()
    );
    serve(listener, app, shutdown)
        .await
        .map_err(|source| StartError::Listen {
            addr: addr.to_string(),
            source,
        })?;
    info!("davd stopped");
    Ok(())
}

/// A future that resolves on SIGINT or SIGTERM. The handlers are installed before it is
/// returned, so a signal that arrives right after startup is not lost.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
