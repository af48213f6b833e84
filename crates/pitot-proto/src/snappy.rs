/// Why a request body could not be turned into a message.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is empty.
    #[error("request body is empty")]
    Empty,
    /// The snappy block header or data is invalid.
    #[error("body is not valid snappy block format: {0}")]
    Snappy(String),
    /// The decompressed size announced in the snappy header exceeds the limit.
    #[error("decompressed body would be {size} bytes, above the limit of {limit} bytes")]
    TooLarge {
        /// Announced size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The gzip stream is invalid.
    #[error("body is not valid gzip: {0}")]
    Gzip(String),
    /// The JSON document is malformed or has the wrong shape; the message names the field.
    #[error("body is not a valid JSON push request: {0}")]
    Json(String),
    /// The protobuf message is malformed.
    #[error("body is not a valid protobuf {message}: {reason}")]
    Protobuf {
        /// The message type expected.
        message: &'static str,
        /// What the decoder said.
        reason: String,
    },
}

/// Decompresses a snappy *block* (not framed) body, refusing to allocate more than
/// `limit` bytes, so a tiny body cannot announce gigabytes.
pub fn decode_snappy(body: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    snappy_declared_len(body, limit)?;
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| BodyError::Snappy(e.to_string()))
}

/// Compresses with snappy block format, as remote-write clients do.
pub fn encode_snappy(data: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(data)
        .expect("snappy compression of an in-memory buffer cannot fail")
}

/// The decompressed size a snappy block body declares in its header, refused when above
/// `limit`: what a request is charged before it is decompressed.
pub fn snappy_declared_len(body: &[u8], limit: usize) -> Result<usize, BodyError> {
    if body.is_empty() {
        return Err(BodyError::Empty);
    }
    let size = snap::raw::decompress_len(body).map_err(|e| BodyError::Snappy(e.to_string()))?;
    if size > limit {
        return Err(BodyError::TooLarge { size, limit });
    }
    Ok(size)
}
