//! The chunk scanner (`serve::h1::chunked::ChunkedEnd`): where a chunked response body ends.
//!
//! Input: two bytes (little-endian) choosing where to split the body, then the body bytes
//! as the upstream sent them.
//!
//! Checked besides "no panic": the body fed in one piece, in two pieces split at the chosen
//! point, and one byte at a time gives the same answer (the same end, or an error, or "more
//! to come"); an end lies within the input, after a line end; and the body cut just before
//! its end needs more.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_proxy::serve::h1::chunked::{ChunkError, ChunkedEnd};

fuzz_target!(|data: &[u8]| {
    let Some((split, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let split = usize::from(u16::from_le_bytes(*split)) % (body.len() + 1);

    let whole = feed(body, [body.len()]);
    let two = feed(body, [split, body.len()]);
    assert_eq!(whole, two, "split at {split}");
    let bytes = feed(body, 1..=body.len());
    assert_eq!(whole, bytes, "one byte at a time");

    if let Ok(Some(end)) = whole {
        assert!(
            end >= 5 && end <= body.len(),
            "the end is past the input: {end}"
        );
        assert!(body[..end].ends_with(b"\r\n"));
        assert_eq!(feed(body, [end]), Ok(Some(end)));
        assert_eq!(feed(body, [end - 1]), Ok(None));
    }
});

/// Feeds `body` cut at each of `cuts` (increasing offsets); where the body ended, as an
/// offset into `body`.
fn feed(body: &[u8], cuts: impl IntoIterator<Item = usize>) -> Result<Option<usize>, ChunkError> {
    let mut scanner = ChunkedEnd::default();
    let mut from = 0;
    for to in cuts {
        if let Some(n) = scanner.advance(&body[from..to])? {
            assert!(n > 0 && n <= to - from, "an end outside the bytes given");
            return Ok(Some(from + n));
        }
        from = to;
    }
    Ok(None)
}
