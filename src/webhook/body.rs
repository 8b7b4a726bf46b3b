//! Stored bodies are LZ4-compressed: GitHub's JSON shrinks several times, and LZ4 costs little
//! CPU on the request path.

pub const ENCODING: &str = "lz4";

/// `lz4_flex::compress_prepend_size`'s format (the body's length, little-endian, then the block),
/// compressed through a buffer each thread keeps: the stored copy is allocated at its compressed
/// size, not at the worst case for the body's (several times larger, and held until the batch
/// is committed).
pub fn compress(body: &[u8]) -> Vec<u8> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with_borrow_mut(|scratch| {
        let bound = lz4_flex::block::get_maximum_output_size(body.len());
        if scratch.len() < bound {
            scratch.resize(bound, 0);
        }
        let size = lz4_flex::block::compress_into(body, scratch).expect("the buffer holds the worst case");
        let mut stored = Vec::with_capacity(4 + size);
        stored.extend_from_slice(&(body.len() as u32).to_le_bytes());
        stored.extend_from_slice(&scratch[..size]);
        if scratch.len() > 4 * 1024 * 1024 {
            // A rare huge body does not keep its buffer for the thread's life.
            *scratch = Vec::new();
        }
        stored
    })
}

/// The stored body, decompressed. The size it says it has is checked before anything is allocated
/// for it: a body larger than GitHub sends (`receive::MAX_BODY`) was never stored by ccm, and a
/// corrupt size would otherwise ask for up to 4 GiB.
pub fn decompress(encoding: &str, stored: &[u8]) -> Result<Vec<u8>, String> {
    match encoding {
        ENCODING => {
            let size = stored
                .first_chunk::<4>()
                .map(|prefix| u32::from_le_bytes(*prefix) as usize)
                .ok_or("stored body is corrupt: shorter than its size prefix")?;
            if size > super::receive::MAX_BODY {
                return Err(format!(
                    "stored body is corrupt: it says it is {size} bytes, more than the {} a delivery can be",
                    super::receive::MAX_BODY
                ));
            }
            lz4_flex::block::decompress(&stored[4..], size).map_err(|e| format!("stored body is corrupt: {e}"))
        }
        "identity" => Ok(stored.to_vec()),
        crate::domain::retention::PRUNED_BODY_ENCODING => {
            Err("the body was pruned: it was older than CCM_RETAIN_BODIES (the delivery's summary stays)".into())
        }
        other => Err(format!("unknown body encoding {other}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_and_shrinks_json() {
        let body = serde_json::json!({"url": "https://api.github.com/repos/o/r/actions/runs/1", "items": vec!["https://api.github.com/repos/o/r"; 50]}).to_string();
        let stored = super::compress(body.as_bytes());
        assert!(stored.len() * 3 < body.len(), "{} -> {}", body.len(), stored.len());
        assert_eq!(super::decompress("lz4", &stored).unwrap(), body.as_bytes());
        assert!(super::decompress("lz4", b"junk").is_err());
        assert_eq!(stored, lz4_flex::compress_prepend_size(body.as_bytes()), "the format lz4_flex writes");
        assert_eq!(super::decompress("lz4", &super::compress(b"")).unwrap(), b"");
    }

    #[test]
    fn a_corrupt_size_is_refused_before_anything_is_allocated() {
        let mut stored = super::compress(b"{}");
        stored[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = super::decompress("lz4", &stored).unwrap_err();
        assert!(err.contains("4294967295 bytes"), "{err}");
        let at_most = (crate::webhook::receive::MAX_BODY as u32 + 1).to_le_bytes();
        stored[..4].copy_from_slice(&at_most);
        assert!(super::decompress("lz4", &stored).is_err());
        assert!(super::decompress("lz4", &[1, 0]).unwrap_err().contains("shorter than its size prefix"));
    }
}
