//! xz streams, multi-threaded both ways: Habitat's artifacts are multi-block, so liblzma can
//! decode their blocks on several threads.

use std::io::{Read, Write};

use liblzma::stream::{Check, MtStreamBuilder, Stream};

use crate::error::{Error, Result};

/// Memory the decoder may use for parallel decoding before it falls back to one thread.
const DECODER_THREADING_MEMLIMIT: u64 = 512 << 20;

fn threads() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8) as u32)
}

/// A decoder over an xz stream, decoding blocks in parallel where the stream allows it.
pub(crate) fn decoder<R: Read>(input: R) -> Result<impl Read> {
    let stream: Stream = MtStreamBuilder::new()
        .threads(threads())
        .memlimit_threading(DECODER_THREADING_MEMLIMIT)
        .memlimit_stop(u64::MAX)
        .decoder()
        .map_err(|e| Error::CorruptPayload(e.into()))?;
    Ok(liblzma::read::XzDecoder::new_stream(input, stream))
}

/// An encoder with Habitat's settings: preset 6, CRC64, multi-threaded (so multi-block).
pub(crate) fn encoder<W: Write>(output: W) -> Result<liblzma::write::XzEncoder<W>> {
    let stream = MtStreamBuilder::new()
        .threads(threads())
        .preset(6)
        .check(Check::Crc64)
        .encoder()
        .map_err(|e| Error::CorruptPayload(e.into()))?;
    Ok(liblzma::write::XzEncoder::new_stream(output, stream))
}
