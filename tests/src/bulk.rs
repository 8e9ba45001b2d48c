//! Many API requests at once, as a bulk `kubectl apply` or a busy cluster makes them.

use futures::{StreamExt, TryStreamExt};

/// Requests in flight at once.
const IN_FLIGHT: usize = 32;

/// Runs `request` for every item, [`IN_FLIGHT`] at a time; fails with the first error.
pub async fn in_parallel<T, F, Fut>(
    items: impl IntoIterator<Item = T>,
    request: F,
) -> anyhow::Result<()>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    futures::stream::iter(items)
        .map(request)
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<()>()
        .await
}
