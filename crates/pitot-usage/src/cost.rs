//! Prices and cost: what a month of usage costs under a price plan, to date and
//! projected to the month's end.
//!
//! # How the projection works
//!
//! Ingest charges (samples, log bytes) of the days still to come are estimated from the
//! average daily ingest of the last complete days of the month (up to 7; when the month
//! is younger than a day, from the hours so far), so a tenant that just grew sees its new
//! rate, not the month's average. Storage is charged per GB-month on the highest stored
//! bytes of each day, so the days to come are projected at the latest day's level. Free
//! allowances apply to the month's totals before prices; managed data sources are free.
//!
//! # Retention tiers
//!
//! Samples kept longer cost more to store, so a plan may price samples by the retention
//! of the data source they went to: the first tier (in the plan's order) whose
//! `max_retention_days` covers the data source's retention sets its price per million.
//! Data sources on the server's default retention, or longer than every tier, pay
//! `per_million_samples`.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::{aggregate, Granularity, UsageRow};

/// A price plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PricePlan {
    /// Currency code shown with every figure.
    pub currency: String,
    /// Price per million samples ingested.
    pub per_million_samples: f64,
    /// Price per GB (10^9 bytes) of log lines ingested.
    pub per_gb_logs: f64,
    /// Price per GB-month of stored blocks.
    pub per_gb_month_stored: f64,
    /// Samples a month that cost nothing.
    pub free_samples_per_month: u64,
    /// Log bytes a month that cost nothing.
    pub free_log_bytes_per_month: u64,
    /// Sample prices by data source retention (see the module docs).
    pub retention_tiers: Vec<RetentionTier>,
}

/// The price of samples in data sources kept at most `max_retention_days`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionTier {
    /// Longest retention (days) this tier covers.
    pub max_retention_days: f64,
    /// Price per million samples ingested into such data sources.
    pub per_million_samples: f64,
}

impl PricePlan {
    /// The price per million samples of a data source kept `retention_days` (`None`:
    /// the server's default retention).
    pub fn sample_price(&self, retention_days: Option<f64>) -> f64 {
        retention_days
            .and_then(|days| {
                self.retention_tiers
                    .iter()
                    .find(|t| days <= t.max_retention_days)
            })
            .map_or(self.per_million_samples, |t| t.per_million_samples)
    }
}

impl Default for PricePlan {
    fn default() -> Self {
        PricePlan {
            currency: "USD".into(),
            per_million_samples: 0.10,
            per_gb_logs: 0.50,
            per_gb_month_stored: 0.03,
            free_samples_per_month: 0,
            free_log_bytes_per_month: 0,
            retention_tiers: Vec::new(),
        }
    }
}

/// The cost of one month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthCost {
    /// `YYYY-MM`.
    pub month: String,
    /// The plan's currency.
    pub currency: String,
    /// Cost of usage so far.
    pub to_date: f64,
    /// Cost at month end if the recent rate goes on.
    pub projected_month_end: f64,
    /// Per data source.
    pub by_datasource: Vec<DatasourceCost>,
    /// Per day so far.
    pub by_day: Vec<DayCost>,
}

/// One data source's share.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasourceCost {
    /// Its name.
    pub datasource: String,
    /// Cost so far.
    pub to_date: f64,
    /// Projected at month end.
    pub projected_month_end: f64,
}

/// One day's cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayCost {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Its cost.
    pub cost: f64,
}

/// Parses `YYYY-MM` into the month's first day.
pub fn parse_month(s: &str) -> Option<NaiveDate> {
    let (y, m) = s.split_once('-')?;
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)
}

/// First and one-past-last millisecond of `month`.
pub fn month_bounds(month: NaiveDate) -> (i64, i64) {
    let next = if month.month() == 12 {
        NaiveDate::from_ymd_opt(month.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(month.year(), month.month() + 1, 1)
    }
    .unwrap_or(month);
    let ms = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp_millis())
    };
    (ms(month), ms(next))
}

/// Ingest and storage quantities of one day of one data source.
#[derive(Debug, Clone, Copy, Default)]
struct Day {
    samples: u64,
    log_bytes: u64,
    stored: u64,
}

/// Computes the cost of `month` from its hourly usage rows, as of `now_ms`, with every
/// data source on the server's default retention.
pub fn month_cost(plan: &PricePlan, month: NaiveDate, rows: &[UsageRow], now_ms: i64) -> MonthCost {
    month_cost_with_retention(plan, month, rows, now_ms, &|_| None)
}

/// [`month_cost`] with each data source's retention in days (`None`: the default), for
/// plans with retention tiers.
pub fn month_cost_with_retention(
    plan: &PricePlan,
    month: NaiveDate,
    rows: &[UsageRow],
    now_ms: i64,
    retention_days: &dyn Fn(&str) -> Option<f64>,
) -> MonthCost {
    let (start, end) = month_bounds(month);
    let days_in_month = ((end - start) / 86_400_000).max(1) as usize;
    let elapsed_ms = (now_ms.clamp(start, end) - start).max(0);
    let billed: Vec<UsageRow> = rows
        .iter()
        .filter(|r| r.origin != "managed" && r.start_ms >= start && r.start_ms < end)
        .cloned()
        .collect();
    // Per data source, per day of the month.
    let mut per_ds: BTreeMap<String, Vec<Day>> = BTreeMap::new();
    for r in aggregate(&billed, Granularity::Day) {
        let idx = ((r.start_ms - start) / 86_400_000) as usize;
        let days = per_ds
            .entry(r.datasource.clone())
            .or_insert_with(|| vec![Day::default(); days_in_month]);
        if let Some(d) = days.get_mut(idx) {
            d.samples += r.samples_ingested;
            d.log_bytes += r.log_bytes_ingested;
            d.stored = d.stored.max(r.bytes_stored);
        }
    }
    let elapsed_days = elapsed_ms as f64 / 86_400_000.0;
    let remaining_days = (days_in_month as f64 - elapsed_days).max(0.0);
    let full_days = elapsed_days.floor() as usize;
    // Totals to date and projected quantities, before allowances.
    let mut ds_quant: Vec<(String, f64, f64, f64, f64, f64, f64)> = Vec::new();
    for (ds, days) in &per_ds {
        let samples: u64 = days.iter().map(|d| d.samples).sum();
        let log_bytes: u64 = days.iter().map(|d| d.log_bytes).sum();
        let stored_gb_days: f64 = days.iter().map(|d| d.stored as f64 / 1e9).sum();
        // Recent daily rate: the last up-to-7 complete days, else the partial day.
        let (rate_samples, rate_logs) = if full_days >= 1 {
            let from = full_days.saturating_sub(7);
            let n = (full_days - from) as f64;
            (
                days[from..full_days].iter().map(|d| d.samples).sum::<u64>() as f64 / n,
                days[from..full_days]
                    .iter()
                    .map(|d| d.log_bytes)
                    .sum::<u64>() as f64
                    / n,
            )
        } else if elapsed_days > 0.0 {
            (
                samples as f64 / elapsed_days,
                log_bytes as f64 / elapsed_days,
            )
        } else {
            (0.0, 0.0)
        };
        let latest_stored = days[..(full_days + 1).min(days.len())]
            .iter()
            .rev()
            .find(|d| d.stored > 0)
            .map_or(0.0, |d| d.stored as f64 / 1e9);
        ds_quant.push((
            ds.clone(),
            samples as f64,
            log_bytes as f64,
            stored_gb_days,
            samples as f64 + rate_samples * remaining_days,
            log_bytes as f64 + rate_logs * remaining_days,
            stored_gb_days + latest_stored * remaining_days,
        ));
    }
    // Allowances are shared by the tenant's data sources in proportion to their use.
    let price =
        |ds: &str, samples: f64, logs: f64, gb_days: f64, total_samples: f64, total_logs: f64| {
            let free_s = plan.free_samples_per_month as f64;
            let free_l = plan.free_log_bytes_per_month as f64;
            let billable_s = if total_samples > 0.0 {
                samples * ((total_samples - free_s).max(0.0) / total_samples)
            } else {
                0.0
            };
            let billable_l = if total_logs > 0.0 {
                logs * ((total_logs - free_l).max(0.0) / total_logs)
            } else {
                0.0
            };
            billable_s / 1e6 * plan.sample_price(retention_days(ds))
                + billable_l / 1e9 * plan.per_gb_logs
                + gb_days / days_in_month as f64 * plan.per_gb_month_stored
        };
    let (ts, tl): (f64, f64) = ds_quant
        .iter()
        .map(|q| (q.1, q.2))
        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    let (ps, pl): (f64, f64) = ds_quant
        .iter()
        .map(|q| (q.4, q.5))
        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    let by_datasource: Vec<DatasourceCost> = ds_quant
        .iter()
        .map(|q| DatasourceCost {
            datasource: q.0.clone(),
            to_date: round(price(&q.0, q.1, q.2, q.3, ts, tl)),
            projected_month_end: round(price(&q.0, q.4, q.5, q.6, ps, pl)),
        })
        .collect();
    // By day: each day priced without allowances, then scaled so the days add up to
    // the cost to date.
    let to_date: f64 = by_datasource.iter().map(|d| d.to_date).sum();
    let mut by_day = Vec::new();
    let mut raw_days = Vec::new();
    for i in 0..(full_days + 1).min(days_in_month) {
        if start + i as i64 * 86_400_000 > now_ms {
            break;
        }
        let mut cost = 0.0;
        for (ds, days) in &per_ds {
            let d = days[i];
            cost += d.samples as f64 / 1e6 * plan.sample_price(retention_days(ds))
                + d.log_bytes as f64 / 1e9 * plan.per_gb_logs
                + d.stored as f64 / 1e9 / days_in_month as f64 * plan.per_gb_month_stored;
        }
        raw_days.push(cost);
    }
    let raw_total: f64 = raw_days.iter().sum();
    for (i, c) in raw_days.iter().enumerate() {
        let scaled = if raw_total > 0.0 {
            c * to_date / raw_total
        } else {
            0.0
        };
        let day = month + chrono::Duration::days(i as i64);
        by_day.push(DayCost {
            day: day.format("%Y-%m-%d").to_string(),
            cost: round(scaled),
        });
    }
    MonthCost {
        month: month.format("%Y-%m").to_string(),
        currency: plan.currency.clone(),
        to_date: round(to_date),
        projected_month_end: round(by_datasource.iter().map(|d| d.projected_month_end).sum()),
        by_datasource,
        by_day,
    }
}

/// Rounds money to 1/10,000 of the currency unit (sub-cent prices add up).
fn round(x: f64) -> f64 {
    let rounded = (x * 10_000.0).round() / 10_000.0;
    // A sum of nothing is -0.0 in Rust, and so is a tiny negative rounding error
    // rounded; a month without data costs 0, not "-0.0000 USD".
    if rounded == 0.0 {
        0.0
    } else {
        rounded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_costs_a_positive_zero() {
        let empty: f64 = std::iter::empty::<f64>().sum();
        assert!(round(empty).is_sign_positive());
        assert!(round(-1e-9).is_sign_positive());
        assert_eq!(round(1.23456), 1.2346);
    }

    fn row(start_ms: i64, ds: &str, samples: u64, log_bytes: u64, origin: &str) -> UsageRow {
        UsageRow {
            start_ms,
            datasource: ds.into(),
            kind: if ds == "logs" { "logs" } else { "metrics" }.into(),
            origin: origin.into(),
            samples_ingested: samples,
            log_bytes_ingested: log_bytes,
            ..Default::default()
        }
    }

    #[test]
    fn hand_computed_month() {
        // November 2026: 30 days. Plan: 1.0 per million samples, 2.0 per GB of logs,
        // 1 million samples free.
        let plan = PricePlan {
            currency: "EUR".into(),
            per_million_samples: 1.0,
            per_gb_logs: 2.0,
            per_gb_month_stored: 0.0,
            free_samples_per_month: 1_000_000,
            free_log_bytes_per_month: 0,
            retention_tiers: Vec::new(),
        };
        let month = parse_month("2026-11").unwrap();
        let (start, _) = month_bounds(month);
        let day = 86_400_000;
        // Days 1 and 2: 2M samples a day; day 2 also 0.5 GB of logs; managed data is free.
        let rows = vec![
            row(start, "metrics", 2_000_000, 0, "custom"),
            row(start + day, "metrics", 2_000_000, 0, "custom"),
            row(start + day, "logs", 0, 500_000_000, "custom"),
            row(start + day, "managed-metrics", 9_000_000, 0, "managed"),
        ];
        // Now: the start of day 3 (two complete days).
        let c = month_cost(&plan, month, &rows, start + 2 * day);
        // To date: (4M - 1M free) x 1.0/M = 3.0; logs 0.5 GB x 2.0 = 1.0.
        assert_eq!(c.to_date, 4.0);
        // Projected: samples 4M + 2M/day x 28 = 60M -> 59M billable = 59.0;
        // logs 0.5 GB + 0.25 GB/day x 28 = 7.5 GB = 15.0.
        assert_eq!(c.projected_month_end, 74.0);
        assert_eq!(c.currency, "EUR");
        assert_eq!(
            c.by_datasource.len(),
            2,
            "managed is not billed: {:?}",
            c.by_datasource
        );
        assert_eq!(c.by_day.len(), 3);
        let sum: f64 = c.by_day.iter().map(|d| d.cost).sum();
        assert!((sum - 4.0).abs() < 1e-3, "{:?}", c.by_day);
        assert_eq!(c.by_day[0].day, "2026-11-01");
    }

    #[test]
    fn retention_tiers_price_samples_by_their_data_source() {
        // 1M samples into each of three data sources: 7 days, 90 days, default retention.
        let plan = PricePlan {
            per_million_samples: 1.0,
            per_gb_logs: 0.0,
            per_gb_month_stored: 0.0,
            retention_tiers: vec![
                RetentionTier {
                    max_retention_days: 14.0,
                    per_million_samples: 0.5,
                },
                RetentionTier {
                    max_retention_days: 400.0,
                    per_million_samples: 3.0,
                },
            ],
            ..PricePlan::default()
        };
        let month = parse_month("2026-11").unwrap();
        let (start, _) = month_bounds(month);
        let rows = vec![
            row(start, "short", 1_000_000, 0, "custom"),
            row(start, "long", 1_000_000, 0, "custom"),
            row(start, "metrics", 1_000_000, 0, "custom"),
        ];
        let retention = |ds: &str| match ds {
            "short" => Some(7.0),
            "long" => Some(90.0),
            _ => None,
        };
        let c = month_cost_with_retention(&plan, month, &rows, start + 86_400_000, &retention);
        let of = |name: &str| {
            c.by_datasource
                .iter()
                .find(|d| d.datasource == name)
                .unwrap()
                .to_date
        };
        assert_eq!(of("short"), 0.5);
        assert_eq!(of("long"), 3.0);
        assert_eq!(of("metrics"), 1.0);
        assert_eq!(c.to_date, 4.5);
    }

    #[test]
    fn months_parse() {
        assert_eq!(
            month_bounds(parse_month("2026-12").unwrap()).1
                - month_bounds(parse_month("2026-12").unwrap()).0,
            31 * 86_400_000
        );
        assert!(parse_month("2026-13").is_none());
        assert!(parse_month("nov").is_none());
    }
}
