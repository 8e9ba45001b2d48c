//! Where a chunked response body ends. The fast path passes chunked bodies through
//! unchanged to HTTP/1.1 clients; it only needs to know when the last chunk and the trailers
//! are over, so the upstream connection can be kept and the client's response is complete.
//! HTTP/2 clients get the chunks' data alone ([`ChunkedEnd::advance_data`]).

/// Malformed chunk framing: the response is cut off and neither connection is reused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunked body")]
pub struct ChunkError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Hex digits of a chunk size; `digits` seen so far.
    Size {
        size: u64,
        digits: u8,
    },
    /// After the size: spaces, then an optional `;extension`, up to CR.
    SizeRest,
    /// CR seen after the size line; LF expected.
    SizeLf {
        size: u64,
    },
    Data {
        left: u64,
    },
    DataCr,
    DataLf,
    /// At the start of a trailer line, or of the final empty line.
    TrailerStart,
    TrailerLine,
    TrailerLf,
    FinalLf,
    Done,
}

/// Follows chunk framing across reads.
#[derive(Debug)]
pub struct ChunkedEnd {
    state: State,
    /// The size of the chunk whose size line is being read.
    pending: u64,
}

impl Default for ChunkedEnd {
    fn default() -> Self {
        Self {
            state: State::Size { size: 0, digits: 0 },
            pending: 0,
        }
    }
}

impl ChunkedEnd {
    /// Consumes the next bytes of the body. `Ok(Some(n))`: the body ends after the first `n`
    /// of them (what follows belongs to no response); `Ok(None)`: more is to come.
    pub fn advance(&mut self, bytes: &[u8]) -> Result<Option<usize>, ChunkError> {
        self.advance_data(bytes, |_| {})
    }

    /// As [`Self::advance`], and `data` is given the range of `bytes` of each run of chunk
    /// data, in order.
    pub fn advance_data(
        &mut self,
        bytes: &[u8],
        mut data: impl FnMut(std::ops::Range<usize>),
    ) -> Result<Option<usize>, ChunkError> {
        let mut i = 0;
        while i < bytes.len() {
            if let State::Data { left } = self.state {
                // Skip chunk data in one step.
                let take = left.min((bytes.len() - i) as u64);
                data(i..i + take as usize);
                i += take as usize;
                self.state = if take == left {
                    State::DataCr
                } else {
                    State::Data { left: left - take }
                };
                continue;
            }
            let b = bytes[i];
            i += 1;
            self.state = match (self.state, b) {
                (State::Size { size, digits }, b) if b.is_ascii_hexdigit() => {
                    if digits >= 15 {
                        return Err(ChunkError); // larger than any real chunk; would overflow
                    }
                    let value = u64::from((b as char).to_digit(16).unwrap_or(0));
                    State::Size {
                        size: size * 16 + value,
                        digits: digits + 1,
                    }
                }
                (State::Size { size, digits }, b) if digits > 0 => {
                    self.pending = size;
                    match b {
                        b'\r' => State::SizeLf { size },
                        b' ' | b'\t' | b';' => State::SizeRest,
                        _ => return Err(ChunkError),
                    }
                }
                (State::SizeRest, b'\r') => State::SizeLf { size: self.pending },
                (State::SizeRest, b'\n') => return Err(ChunkError),
                (State::SizeRest, _) => State::SizeRest,
                (State::SizeLf { size: 0 }, b'\n') => State::TrailerStart,
                (State::SizeLf { size }, b'\n') => State::Data { left: size },
                (State::DataCr, b'\r') => State::DataLf,
                (State::DataLf, b'\n') => State::Size { size: 0, digits: 0 },
                (State::TrailerStart, b'\r') => State::FinalLf,
                (State::TrailerStart, b'\n') => return Err(ChunkError),
                (State::TrailerLine, b'\r') => State::TrailerLf,
                (State::TrailerLine, b'\n') => return Err(ChunkError),
                (State::TrailerStart | State::TrailerLine, _) => State::TrailerLine,
                (State::TrailerLf, b'\n') => State::TrailerStart,
                (State::FinalLf, b'\n') => {
                    self.state = State::Done;
                    return Ok(Some(i));
                }
                _ => return Err(ChunkError),
            };
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `body` in pieces of `step` bytes; returns where the body ended.
    fn end(body: &[u8], step: usize) -> Result<Option<usize>, ChunkError> {
        let mut scanner = ChunkedEnd::default();
        let mut offset = 0;
        for piece in body.chunks(step) {
            if let Some(n) = scanner.advance(piece)? {
                return Ok(Some(offset + n));
            }
            offset += piece.len();
        }
        Ok(None)
    }

    #[test]
    fn finds_the_end_however_the_body_is_split() {
        let body = b"5\r\nhello\r\n1a;name=value\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: 1\r\n\r\n";
        for step in 1..=body.len() {
            assert_eq!(end(body, step), Ok(Some(body.len())), "step {step}");
        }
    }

    #[test]
    fn the_data_is_the_chunks_without_their_framing() {
        let body = b"5\r\nhello\r\n1a;name=value\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: 1\r\n\r\n";
        for step in 1..=body.len() {
            let mut scanner = ChunkedEnd::default();
            let mut data = Vec::new();
            for piece in body.chunks(step) {
                scanner
                    .advance_data(piece, |r| data.extend_from_slice(&piece[r]))
                    .unwrap();
            }
            assert_eq!(data, b"helloabcdefghijklmnopqrstuvwxyz", "step {step}");
        }
    }

    #[test]
    fn bytes_after_the_end_are_not_part_of_the_body() {
        let body = b"2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n";
        assert_eq!(end(body, body.len()), Ok(Some(12)));
        assert_eq!(end(b"0\r\n\r\n", 5), Ok(Some(5)));
    }

    #[test]
    fn an_unfinished_body_needs_more() {
        for partial in [
            &b"5\r\nhel"[..],
            b"5\r\nhello\r\n",
            b"0\r\n",
            b"0\r\nx: 1\r\n",
            b"A",
        ] {
            assert_eq!(end(partial, partial.len()), Ok(None), "{partial:?}");
        }
    }

    #[test]
    fn malformed_framing_is_an_error() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloX\r\n",
            b"5\r\nhello\r\n0\r\n\n",
            b"10000000000000000\r\n",
            b"0\r\nbad\ntrailer\r\n\r\n",
        ] {
            assert_eq!(end(bad, bad.len()), Err(ChunkError), "{bad:?}");
        }
    }
}
