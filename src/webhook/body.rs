//! Stored bodies are LZ4-compressed: GitHub's JSON shrinks several times, and LZ4 costs little
//! CPU on the request path.

pub const ENCODING: &str = "lz4";

pub fn compress(body: &[u8]) -> Vec<u8> {
    lz4_flex::compress_prepend_size(body)
}

pub fn decompress(encoding: &str, stored: &[u8]) -> Result<Vec<u8>, String> {
    match encoding {
        ENCODING => lz4_flex::decompress_size_prepended(stored).map_err(|e| format!("stored body is corrupt: {e}")),
        "identity" => Ok(stored.to_vec()),
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
    }
}
