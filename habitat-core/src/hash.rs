//! BLAKE2b with a 32-byte digest: the payload hash that origins sign, and the whole-file
//! checksum the depot keys artifacts by. Both are what `b2sum -l 256` prints.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;
use std::str::FromStr;

use blake2::Digest;
use blake2::digest::consts::U32;

use crate::error::{Error, IoContext, Result};

/// Read buffer for streaming hashes: large enough that syscalls do not dominate.
pub(crate) const BUF_SIZE: usize = 1 << 20;

/// A BLAKE2b-256 digest, displayed as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Blake2bHash([u8; 32]);

impl Blake2bHash {
    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest from raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Hashes a byte slice.
    pub fn digest(bytes: &[u8]) -> Self {
        let mut hasher = Hasher::new();
        hasher.update(bytes);
        hasher.finish()
    }

    /// Hashes everything a reader yields, in one pass with a fixed buffer.
    pub fn of_reader(mut reader: impl Read) -> io::Result<Self> {
        let mut hasher = Hasher::new();
        let mut buf = vec![0; BUF_SIZE];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return Ok(hasher.finish()),
                Ok(n) => hasher.update(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Hashes a whole file: the artifact "checksum" of the depot API.
    pub fn of_file(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).at("open", path)?;
        Self::of_reader(file).at("read", path)
    }

    /// Constant-time equality, for comparing a computed hash with a signed or stored one.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl fmt::Display for Blake2bHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Exactly `N` bytes from `2 * N` hex characters (either case); `None` for anything else.
pub fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

impl fmt::Debug for Blake2bHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blake2bHash({self})")
    }
}

impl FromStr for Blake2bHash {
    type Err = Error;
    /// Parses 64 hex characters (either case).
    fn from_str(s: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidValue {
            what: "BLAKE2b-256 hash",
            input: s.into(),
            reason,
        };
        if s.len() != 64 {
            return Err(invalid("expected 64 hex characters"));
        }
        from_hex(s).map(Self).ok_or_else(|| invalid("not hex"))
    }
}

/// An incremental BLAKE2b-256 hasher.
#[derive(Clone, Default)]
pub struct Hasher(blake2::Blake2b<U32>);

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Blake2bHash {
        Blake2bHash(self.0.finalize().into())
    }
}

/// A reader that hashes every byte it passes on, so that hashing and the reader's consumer
/// (a decompressor, a file copy) share one pass over the bytes.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps a reader.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Hasher::new(),
            count: 0,
        }
    }

    /// Reads the rest of the stream (hashing it) and returns the digest and the total count.
    pub fn finish(mut self) -> io::Result<(Blake2bHash, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((self.hasher.finish(), self.count))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that hashes every byte it passes on.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: io::Write> HashingWriter<W> {
    /// Wraps a writer.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// The digest of everything written, and the inner writer.
    pub fn finish(self) -> (Blake2bHash, W) {
        (self.hasher.finish(), self.inner)
    }
}

impl<W: io::Write> io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(
            Blake2bHash::digest(b"supercalifragilisticexpialadocious").to_string(),
            "2ca8ebafca7e189de2a36125b92a1db20f393d1e2708f5daa55e51cf05114437"
        );
        let ten: Vec<u8> = (0..10).collect();
        assert_eq!(
            Blake2bHash::digest(&ten).to_string(),
            "8b57a796a5d07cb04cc1614dfc2acb3f73edc712d7f433619ca3bbe66bb15f49"
        );
        assert_eq!(
            Blake2bHash::digest(b"foo\n").to_string(),
            "20590a52c4f00588c500328b16d466c982a26fabaa5fa4dcc83052dd0a84f233"
        );
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let h = Blake2bHash::digest(b"x");
        assert_eq!(h.to_string().parse::<Blake2bHash>().unwrap(), h);
        assert_eq!(
            h.to_string().to_uppercase().parse::<Blake2bHash>().unwrap(),
            h
        );
        assert!("abc".parse::<Blake2bHash>().is_err());
        assert!("zz".repeat(32).parse::<Blake2bHash>().is_err());
        assert!("é".repeat(32).parse::<Blake2bHash>().is_err());
    }

    #[test]
    fn hashing_reader_matches_one_shot() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let (h, n) = HashingReader::new(&data[..]).finish().unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(h, Blake2bHash::digest(&data));
        assert!(h.ct_eq(&Blake2bHash::digest(&data)));
        assert!(!h.ct_eq(&Blake2bHash::digest(b"other")));
    }
}
