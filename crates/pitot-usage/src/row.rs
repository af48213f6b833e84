//! One usage row and its aggregation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What one tenant used in one data source during one period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRow {
    /// Start of the period (Unix ms).
    #[serde(skip)]
    pub start_ms: i64,
    /// The data source's name.
    pub datasource: String,
    /// `metrics` or `logs`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `custom` (billed) or `managed` (free).
    pub origin: String,
    /// Samples stored.
    pub samples_ingested: u64,
    /// Highest number of active series seen.
    pub series_active_peak: u64,
    /// Raw log line bytes stored.
    pub log_bytes_ingested: u64,
    /// Log lines stored.
    pub log_lines_ingested: u64,
    /// Bytes of blocks held (highest seen in the period).
    pub bytes_stored: u64,
    /// Queries run.
    pub queries: u64,
    /// Samples read by queries.
    pub samples_scanned: u64,
    /// Log bytes read by queries.
    pub bytes_scanned: u64,
    /// Refused samples or lines, by reason.
    pub rejected: BTreeMap<String, u64>,
}

impl UsageRow {
    /// Adds `other` (same tenant, data source and period): sums, and maxima for peaks
    /// and stored bytes.
    pub fn add(&mut self, other: &UsageRow) {
        self.samples_ingested += other.samples_ingested;
        self.series_active_peak = self.series_active_peak.max(other.series_active_peak);
        self.log_bytes_ingested += other.log_bytes_ingested;
        self.log_lines_ingested += other.log_lines_ingested;
        self.bytes_stored = self.bytes_stored.max(other.bytes_stored);
        self.queries += other.queries;
        self.samples_scanned += other.samples_scanned;
        self.bytes_scanned += other.bytes_scanned;
        for (reason, n) in &other.rejected {
            *self.rejected.entry(reason.clone()).or_default() += n;
        }
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.samples_ingested == 0
            && self.series_active_peak == 0
            && self.log_bytes_ingested == 0
            && self.log_lines_ingested == 0
            && self.bytes_stored == 0
            && self.queries == 0
            && self.samples_scanned == 0
            && self.bytes_scanned == 0
            && self.rejected.is_empty()
    }
}

/// The period a usage report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// One row per hour.
    Hour,
    /// One row per UTC day.
    Day,
    /// One row per UTC month.
    Month,
}

impl Granularity {
    /// Parses `hour`, `day` or `month`.
    pub fn parse(s: &str) -> Option<Granularity> {
        match s {
            "hour" => Some(Granularity::Hour),
            "day" => Some(Granularity::Day),
            "month" => Some(Granularity::Month),
            _ => None,
        }
    }

    /// The name, as parsed.
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Hour => "hour",
            Granularity::Day => "day",
            Granularity::Month => "month",
        }
    }

    /// Start of the period holding `ms` (UTC).
    pub fn period_start(self, ms: i64) -> i64 {
        use chrono::{Datelike, TimeZone};
        match self {
            Granularity::Hour => hour_start(ms),
            Granularity::Day => ms.div_euclid(86_400_000) * 86_400_000,
            Granularity::Month => {
                let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
                chrono::Utc
                    .with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0)
                    .single()
                    .map_or(ms, |d| d.timestamp_millis())
            }
        }
    }
}

/// Start of the hour holding `ms`.
pub fn hour_start(ms: i64) -> i64 {
    ms.div_euclid(3_600_000) * 3_600_000
}

/// Sums hourly rows into rows per `granularity` period and data source, in time order.
pub fn aggregate(rows: &[UsageRow], granularity: Granularity) -> Vec<UsageRow> {
    let mut out: BTreeMap<(i64, String), UsageRow> = BTreeMap::new();
    for r in rows {
        let start = granularity.period_start(r.start_ms);
        let e = out
            .entry((start, r.datasource.clone()))
            .or_insert_with(|| UsageRow {
                start_ms: start,
                datasource: r.datasource.clone(),
                kind: r.kind.clone(),
                origin: r.origin.clone(),
                ..Default::default()
            });
        e.add(r);
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_by_day_and_month() {
        let h = 3_600_000;
        let row = |start_ms: i64, samples: u64, peak: u64| UsageRow {
            start_ms,
            datasource: "metrics".into(),
            kind: "metrics".into(),
            origin: "custom".into(),
            samples_ingested: samples,
            series_active_peak: peak,
            rejected: BTreeMap::from([("rate_limited".to_string(), 1)]),
            ..Default::default()
        };
        // 2026-11-01T00:00Z
        let nov1 = 1_793_491_200_000;
        let rows = vec![
            row(nov1, 10, 5),
            row(nov1 + h, 20, 7),
            row(nov1 + 25 * h, 1, 2),
        ];
        let days = aggregate(&rows, Granularity::Day);
        assert_eq!(days.len(), 2);
        assert_eq!(
            (days[0].samples_ingested, days[0].series_active_peak),
            (30, 7)
        );
        assert_eq!(days[0].rejected["rate_limited"], 2);
        let months = aggregate(&rows, Granularity::Month);
        assert_eq!(months.len(), 1);
        assert_eq!(months[0].start_ms, nov1);
        assert_eq!(months[0].samples_ingested, 31);
        assert_eq!(
            Granularity::Month.period_start(nov1 + 40 * 86_400_000),
            nov1 + 30 * 86_400_000
        );
    }
}
