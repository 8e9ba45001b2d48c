//! Where an upstream response's body ends, by its framing, and (for clients that frame
//! bodies themselves) a chunked body's data.

use super::chunked::{ChunkError, ChunkedEnd};
use super::response::Framing;

/// Where a response body ends.
pub enum Body {
    Empty,
    Length(u64),
    Chunked(ChunkedEnd),
    UntilClose,
}

impl Body {
    pub fn new(framing: Framing) -> Self {
        match framing {
            Framing::Empty => Self::Empty,
            Framing::Length(n) => Self::Length(n),
            Framing::Chunked => Self::Chunked(ChunkedEnd::default()),
            Framing::UntilClose => Self::UntilClose,
        }
    }

    /// Of the bytes `read`, how many belong to the body, and whether the body is complete.
    /// `decode`: set to the data of a chunked body's bytes among them, framing left out.
    pub fn accept(
        &mut self,
        read: &[u8],
        decode: Option<&mut Vec<u8>>,
    ) -> Result<(usize, bool), ChunkError> {
        Ok(match self {
            Self::Empty => (0, true),
            Self::Length(left) => {
                let take = (*left).min(read.len() as u64);
                *left -= take;
                (take as usize, *left == 0)
            }
            Self::Chunked(end) => {
                let ends = match decode {
                    Some(data) => {
                        data.clear();
                        end.advance_data(read, |r| data.extend_from_slice(&read[r]))?
                    }
                    None => end.advance(read)?,
                };
                match ends {
                    Some(n) => (n, true),
                    None => (read.len(), false),
                }
            }
            Self::UntilClose => (read.len(), false),
        })
    }

    pub fn is_chunked(&self) -> bool {
        matches!(self, Self::Chunked(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_end_where_their_framing_says() {
        let mut length = Body::new(Framing::Length(5));
        assert_eq!(length.accept(b"abc", None).unwrap(), (3, false));
        assert_eq!(length.accept(b"deXYZ", None).unwrap(), (2, true));
        assert_eq!(
            Body::new(Framing::Empty).accept(b"junk", None).unwrap(),
            (0, true)
        );
        let mut chunked = Body::new(Framing::Chunked);
        assert_eq!(chunked.accept(b"2\r\nok", None).unwrap(), (5, false));
        assert_eq!(
            chunked.accept(b"\r\n0\r\n\r\nmore", None).unwrap(),
            (7, true)
        );
        assert_eq!(
            Body::new(Framing::UntilClose).accept(b"all", None).unwrap(),
            (3, false)
        );
    }
}
