//! The shutdown future both doors stop on: SIGINT or SIGTERM.

use std::future::Future;

use crate::error::{Error, Result};

/// The shutdown future for [`Server::run`](crate::server::Server::run): completes on SIGINT (Ctrl-C) or SIGTERM. The
/// handlers are installed when this is called (inside a tokio runtime), so a signal that
/// arrives before the server first polls the future is not lost.
pub fn shutdown_signal() -> Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let install = |kind| signal(kind).map_err(|e| Error::system("installing a signal handler", e));
    let mut int = install(SignalKind::interrupt())?;
    let mut term = install(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}
