//! Deterministic synthetic file contents that compress like the parts of a real package.
//!
//! Three kinds of bytes, calibrated against `xz -6` on this machine:
//! - [`Kind::Code`]: literals from a skewed byte distribution mixed with short back-references,
//!   like machine code; compresses to about 0.32 of its size and decompresses at about the
//!   speed of real executables (a tar of `/usr/bin` compresses to 0.27).
//! - [`Kind::Opaque`]: uniformly random bytes, like already-compressed assets (jars, images,
//!   `.gz`); xz stores them.
//! - [`Kind::Text`]: lines built from a small vocabulary, like headers, docs and man pages;
//!   compresses to well under 0.2.

/// A xorshift64* generator: tiny, fast and deterministic; not for anything but test data.
#[derive(Clone, Debug)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator for `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        // Mix the seed so that nearby seeds give unrelated streams; the state must not be 0.
        let mixed = (seed ^ 0x9E37_79B9_7F4A_7C15).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        Self(mixed | 1)
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n` > 0; the tiny modulo bias does not matter here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A value in `lo..=hi`, log-uniformly distributed (many small, few large), for sizes.
    pub fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let (lo, hi) = (lo.max(1) as f64, hi.max(lo.max(1)) as f64);
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        (lo * (hi / lo).powf(unit)).round() as u64
    }
}

/// What a run of bytes looks like to a compressor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Machine-code-like bytes (xz ratio about 0.32).
    Code,
    /// Incompressible bytes (xz ratio 1.0).
    Opaque,
    /// Text (xz ratio under 0.2).
    Text,
}

/// Appends `len` bytes of `kind` to `out`.
pub fn extend(out: &mut Vec<u8>, kind: Kind, len: usize, rng: &mut XorShift64) {
    out.reserve(len);
    match kind {
        Kind::Code => extend_code(out, len, rng),
        Kind::Opaque => extend_opaque(out, len, rng),
        Kind::Text => extend_text(out, len, rng),
    }
}

/// `len` uniformly random bytes.
pub fn opaque_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    extend_opaque(&mut out, len, &mut XorShift64::new(seed));
    out
}

fn extend_opaque(out: &mut Vec<u8>, len: usize, rng: &mut XorShift64) {
    let end = out.len() + len;
    while out.len() + 8 <= end {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    let rest = end - out.len();
    out.extend_from_slice(&rng.next_u64().to_le_bytes()[..rest]);
}

/// Frequent x86-64 opcode and operand bytes.
const COMMON_BYTES: [u8; 16] = [
    0x00, 0xff, 0x48, 0x89, 0x8b, 0xe8, 0x0f, 0x24, 0x44, 0x01, 0x85, 0xc0, 0x74, 0x75, 0x83, 0x4c,
];
/// Percentage of steps that copy earlier bytes (calibrated: see the module docs).
const MATCH_PERCENT: u64 = 35;
/// Percentage of literals taken from [`COMMON_BYTES`].
const COMMON_PERCENT: u64 = 40;
/// How far back a copy may reach.
const MAX_DISTANCE: usize = 32 * 1024;
/// Copies are 3 to 62 bytes long.
const MAX_EXTRA_LENGTH: u64 = 60;

fn extend_code(out: &mut Vec<u8>, len: usize, rng: &mut XorShift64) {
    let start = out.len();
    let end = start + len;
    while out.len() < end {
        let written = out.len() - start;
        let v = rng.next_u64();
        if written > 64 && v % 100 < MATCH_PERCENT {
            // Distances skewed towards recent bytes, as in real code.
            let u = ((v >> 8) & 0xffff) as usize;
            let distance = (1 + ((u * u) >> 16) * written.min(MAX_DISTANCE) / 65536).min(written);
            let length = 3 + ((v >> 32) % MAX_EXTRA_LENGTH) as usize;
            let from = out.len() - distance;
            // Overlapping copies repeat the pattern, as LZ77 does.
            for i in 0..length {
                let byte = out[from + i];
                out.push(byte);
            }
        } else {
            for _ in 0..1 + (v >> 8) % 12 {
                let w = rng.next_u64();
                let byte = if w % 100 < COMMON_PERCENT {
                    COMMON_BYTES[((w >> 8) & 15) as usize]
                } else {
                    (w >> 16) as u8
                };
                out.push(byte);
            }
        }
    }
    out.truncate(end);
}

const WORDS: &[&str] = &[
    "the",
    "package",
    "install",
    "service",
    "config",
    "default",
    "return",
    "value",
    "error",
    "struct",
    "const",
    "static",
    "int",
    "char",
    "void",
    "size_t",
    "buffer",
    "length",
    "options",
    "path",
    "file",
    "directory",
    "user",
    "group",
    "port",
    "listen",
    "address",
    "timeout",
    "retry",
    "signal",
    "handler",
    "thread",
    "mutex",
    "lock",
    "unlock",
    "read",
    "write",
    "open",
    "close",
    "stream",
    "socket",
    "memory",
    "allocate",
    "free",
    "pointer",
    "index",
    "table",
    "entry",
    "key",
    "hash",
    "version",
    "release",
    "origin",
    "channel",
    "depot",
    "build",
    "plan",
    "hook",
    "run",
    "init",
    "health",
    "check",
    "status",
    "start",
    "stop",
    "reload",
    "supervisor",
    "ring",
    "member",
    "update",
    "strategy",
    "rolling",
    "leader",
    "follower",
    "election",
    "census",
    "gossip",
    "peer",
    "#define",
    "#include",
    "typedef",
    "extern",
    "inline",
    "unsigned",
    "long",
    "if",
    "else",
    "for",
    "while",
    "switch",
    "case",
    "break",
    "{",
    "}",
    "(",
    ")",
    ";",
    "=",
    "==",
    "->",
    "*",
    "&",
];

fn extend_text(out: &mut Vec<u8>, len: usize, rng: &mut XorShift64) {
    let end = out.len() + len;
    while out.len() < end {
        let indent = rng.below(4) as usize * 4;
        out.extend(std::iter::repeat_n(b' ', indent));
        for i in 0..3 + rng.below(10) {
            if i > 0 {
                out.push(b' ');
            }
            let v = rng.next_u64();
            if v.is_multiple_of(10) {
                out.extend_from_slice(format!("{}", (v >> 8) % 65536).as_bytes());
            } else {
                out.extend_from_slice(WORDS[((v >> 8) % WORDS.len() as u64) as usize].as_bytes());
            }
        }
        out.push(b'\n');
    }
    out.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_are_deterministic_and_exact() {
        for kind in [Kind::Code, Kind::Opaque, Kind::Text] {
            for len in [0, 1, 7, 8, 9, 1000, 100_003] {
                let mut a = Vec::new();
                let mut b = vec![1, 2, 3];
                extend(&mut a, kind, len, &mut XorShift64::new(7));
                extend(&mut b, kind, len, &mut XorShift64::new(7));
                assert_eq!(a.len(), len, "{kind:?}");
                assert_eq!(&b[3..], &a[..], "{kind:?}");
            }
        }
    }

    #[test]
    fn log_uniform_stays_in_range() {
        let mut rng = XorShift64::new(1);
        for _ in 0..10_000 {
            let v = rng.log_uniform(10, 1000);
            assert!((10..=1000).contains(&v), "{v}");
        }
    }
}
