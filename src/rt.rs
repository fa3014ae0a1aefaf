//! Futures that may be dropped unfinished while their thread shuts down.
//!
//! Actor futures live in actix's `LocalSet`, which is dropped before its tokio runtime, so
//! an unfinished future is dropped with no runtime entered. sqlx and the MongoDB driver
//! return connections and close cursors from `Drop` by spawning a task, which panics without
//! a runtime (and a second such panic while unwinding aborts the process). [`guarded`]
//! drops the inner future inside the runtime it was created in.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::runtime::Handle;

/// A future that is dropped inside the tokio runtime it was created in.
pub struct Guarded<F> {
    inner: Option<Pin<Box<F>>>,
    handle: Option<Handle>,
}

/// Wraps `future` so that dropping it unfinished enters the current runtime first.
pub fn guarded<F: Future>(future: F) -> Guarded<F> {
    Guarded {
        inner: Some(Box::pin(future)),
        handle: Handle::try_current().ok(),
    }
}

impl<F: Future> Future for Guarded<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.inner.as_mut() {
            Some(inner) => {
                let output = inner.as_mut().poll(cx);
                if output.is_ready() {
                    self.inner = None;
                }
                output
            }
            // Polled again after completion: stay pending, as fused futures do.
            None => Poll::Pending,
        }
    }
}

impl<F> Drop for Guarded<F> {
    fn drop(&mut self) {
        if let (Some(inner), Some(handle)) = (self.inner.take(), self.handle.as_ref()) {
            let _entered = handle.enter();
            drop(inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct SpawnsOnDrop;

    impl Drop for SpawnsOnDrop {
        fn drop(&mut self) {
            // What sqlx's PoolConnection does: this panics when no runtime is entered.
            tokio::spawn(async {});
        }
    }

    #[test]
    fn an_unfinished_future_is_dropped_inside_its_runtime() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let entered = runtime.enter();
        let held = SpawnsOnDrop;
        let future = guarded(async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        drop(entered);
        // Dropped with no runtime entered: without the guard this would panic.
        drop(future);
    }
}
