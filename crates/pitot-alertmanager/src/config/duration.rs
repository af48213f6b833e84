//! Alertmanager timings (`group_wait`, `repeat_interval`, `resolve_timeout`, receiver
//! timeouts) are Prometheus durations, parsed and printed by Pitot's one parser.

pub use pitot_core::{format_duration, parse_duration};

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn parses_compound_durations() {
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5x")
            .unwrap_err()
            .to_string()
            .contains("expected numbers"));
        assert!(parse_duration("m").is_err());
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
    }
}
