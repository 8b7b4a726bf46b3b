//! The arithmetic every part shares: percentiles (nearest rank), percentages and rounding.

/// The nearest-rank percentile `p` (0 to 100) of `values`: the smallest value that at least `p` %
/// of the values do not exceed (the p50 of 10, 20, 30, 40 is 20; their p95 is 40). `None` without
/// values.
pub fn percentile(values: &[i64], p: u32) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (p as usize * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

/// `part` out of `whole` in percent, one decimal; `None` when `whole` is 0.
pub fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| round1(part as f64 * 100.0 / whole as f64))
}

/// One decimal.
pub fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Two decimals.
pub fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Seconds as minutes, one decimal.
pub fn minutes(seconds: i64) -> f64 {
    round1(seconds as f64 / 60.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 95), Some(7));
        assert_eq!(percentile(&[40, 10, 30, 20], 50), Some(20));
        assert_eq!(percentile(&[40, 10, 30, 20], 95), Some(40));
        let hundred: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&hundred, 95), Some(95));
        assert_eq!(percentile(&hundred, 50), Some(50));
        assert_eq!(percentile(&[5, 1, 3], 50), Some(3));
    }

    #[test]
    fn percentages_round_to_one_decimal() {
        assert_eq!(percent(2, 3), Some(66.7));
        assert_eq!(percent(0, 0), None);
        assert_eq!(minutes(90), 1.5);
        assert_eq!(round2(1.0 / 3.0), 0.33);
    }
}
