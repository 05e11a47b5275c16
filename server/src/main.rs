use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tracing::{error, info};

use davd::cli::{Cli, Command, UserAction};
use davd::{App, StartError, serve};

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::User {
            action: UserAction::Add { name, users },
        }) => return add_user(name, users),
        Some(Command::CheckConfig { config }) => return check_config(config),
        None => {}
    }
    davd::logging::init(&cli.log_level, cli.log_format);

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

/// `davd check-config --config FILE`: every problem on standard error, exit 1 if any.
fn check_config(path: &std::path::Path) -> ExitCode {
    let report = davd::check_config::check(path);
    for problem in &report.problems {
        eprintln!("error: {problem}");
    }
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    if report.problems.is_empty() {
        let served = report.served.unwrap_or_default();
        eprintln!(
            "{}: the configuration is valid (serving {served})",
            path.display()
        );
        ExitCode::SUCCESS
    } else {
        let n = report.problems.len();
        let plural = if n == 1 { "" } else { "s" };
        eprintln!("{}: {n} problem{plural}", path.display());
        ExitCode::FAILURE
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
    let state = settings.state.clone();
    let settings_tls = settings.tls.is_some();
    let metrics_listen = settings.metrics_listen;
    // The recorder goes in before the stores open, so that nothing they count is lost.
    let metrics = match metrics_listen {
        Some(_) => Some(davd::metrics::install().map_err(StartError::Config)?),
        None => None,
    };
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
    // Bound before the server says it serves, so that a port in use stops startup.
    let metrics = match (metrics_listen, metrics) {
        (Some(addr), Some(handle)) => {
            let listener =
                davd::metrics::bind(addr)
                    .await
                    .map_err(|source| StartError::Listen {
                        addr: addr.to_string(),
                        source,
                    })?;
            Some((listener, handle))
        }
        _ => None,
    };
    reopen_logs_on_hangup(app.clone()).map_err(|source| StartError::Listen {
        addr: addr.to_string(),
        source,
    })?;
    let scheme = if settings_tls { "https" } else { "http" };
    info!(
        "davd serving {scheme}://{addr}/ from {} (state in {})",
        app.served,
        state.display()
    );
    // Said after the line above, which is the first that names a URL: whoever reads the log
    // for where davd serves finds that one first.
    if let Some((metrics_listener, handle)) = metrics {
        if let Ok(bound) = metrics_listener.local_addr() {
            info!("metrics served at {bound}/metrics");
        }
        tokio::spawn(davd::metrics::serve(metrics_listener, handle, app.clone()));
    }
    serve(listener, app, shutdown)
        .await
        .map_err(|source| StartError::Listen {
            addr: addr.to_string(),
            source,
        })?;
    info!("davd stopped");
    Ok(())
}

/// SIGHUP reopens the access log (logrotate's `postrotate`), and no longer ends the process.
fn reopen_logs_on_hangup(app: Arc<App>) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            info!("SIGHUP: reopening the access log");
            app.reopen_logs();
        }
    });
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
