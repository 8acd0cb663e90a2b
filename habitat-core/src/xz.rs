//! xz streams, multi-threaded both ways: Habitat's artifacts are multi-block, so liblzma can
//! decode their blocks on several threads.

use std::io::{Read, Write};

use liblzma::stream::{Check, MtStreamBuilder, Stream};

use crate::error::{Error, Result};

/// Memory no decoder may exceed, whatever the stream declares (its dictionary size): a stream
/// needing more is refused. Habitat's preset 6 needs 9 MiB on one thread.
const DECODER_MEMORY_STOP: u64 = 1 << 30;

fn threads() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8) as u32)
}

/// A decoder over an xz stream, decoding blocks in parallel where the stream allows it and
/// `threading_memory` suffices.
pub(crate) fn decoder<R: Read>(input: R, threading_memory: u64) -> Result<impl Read> {
    let stream: Stream = MtStreamBuilder::new()
        .threads(threads())
        .memlimit_threading(threading_memory.min(DECODER_MEMORY_STOP))
        .memlimit_stop(DECODER_MEMORY_STOP)
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
