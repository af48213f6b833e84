//! Per-stream and per-entry validation of Loki pushes, as Loki's distributor does it.

use pitot_core::{is_valid_label_name, Label, Labels};
use pitot_proto::loki_push::{PushEntry, StreamLabels};
use pitot_storage_api::LogEntry;

use super::stream_labels::parse_stream_labels;
use super::{LogDiscardReason, LogValidationLimits};

/// A refused stream or entry, phrased for the client.
#[derive(Debug, Clone)]
pub struct LogRefusal {
    /// Why.
    pub reason: LogDiscardReason,
    /// The message, naming the stream and the rule.
    pub message: String,
}

impl LogRefusal {
    /// A refusal whose message is only written when `verbose` (a response lists the
    /// first few refusals; phrasing millions it never shows cost seconds of CPU).
    fn lazy(verbose: bool, reason: LogDiscardReason, message: impl FnOnce() -> String) -> Self {
        if verbose {
            Self::new(reason, message())
        } else {
            LogRefusal {
                reason,
                message: String::new(),
            }
        }
    }

    fn new(reason: LogDiscardReason, message: String) -> Self {
        let message = match reason.setting() {
            Some(s) => format!("{message} (limit: {s})"),
            None => message,
        };
        LogRefusal { reason, message }
    }
}

/// Renders a stream as sent, truncated for messages.
pub(crate) fn describe_stream(labels: &StreamLabels) -> String {
    let mut s = match labels {
        StreamLabels::Selector(s) => s.clone(),
        StreamLabels::Pairs(pairs) => {
            let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            format!("{{{}}}", inner.join(", "))
        }
    };
    if s.len() > 200 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Validates a stream's labels and builds its canonical label set: sorted, empty values
/// dropped, `service_name` discovered when configured.
#[cfg(test)]
pub(crate) fn validate_stream_labels(
    labels: &StreamLabels,
    limits: &LogValidationLimits,
) -> Result<Labels, LogRefusal> {
    check_stream_labels(labels, limits, true)
}

/// [`validate_stream_labels`], writing the refusal's message only when `verbose`.
pub(crate) fn check_stream_labels(
    labels: &StreamLabels,
    limits: &LogValidationLimits,
    verbose: bool,
) -> Result<Labels, LogRefusal> {
    let stream = || describe_stream(labels);
    let pairs = match labels {
        StreamLabels::Selector(text) => parse_stream_labels(text).map_err(|e| {
            LogRefusal::lazy(verbose, LogDiscardReason::InvalidLabels, || {
                format!("error parsing labels '{}': {e}", stream())
            })
        })?,
        StreamLabels::Pairs(p) => p.clone(),
    };
    let mut out: Vec<Label> = Vec::with_capacity(pairs.len() + 1);
    for (name, value) in pairs {
        if !is_valid_label_name(&name) {
            return Err(LogRefusal::lazy(
                verbose,
                LogDiscardReason::InvalidLabels,
                || format!("stream '{}' has an invalid label name: {name:?}", stream()),
            ));
        }
        if name.len() > limits.max_label_name_length {
            return Err(LogRefusal::lazy(
                verbose,
                LogDiscardReason::LabelNameTooLong,
                || {
                    format!(
                        "stream '{}' has label name too long: {} bytes, limit {}",
                        stream(),
                        name.len(),
                        limits.max_label_name_length
                    )
                },
            ));
        }
        if value.len() > limits.max_label_value_length {
            return Err(LogRefusal::lazy(
                verbose,
                LogDiscardReason::LabelValueTooLong,
                || {
                    format!(
                    "stream '{}' has label value too long: label {name:?} is {} bytes, limit {}",
                    stream(),
                    value.len(),
                    limits.max_label_value_length
                )
                },
            ));
        }
        if value.is_empty() {
            continue;
        }
        out.push(Label::new(name, value));
    }
    if out.is_empty() {
        return Err(LogRefusal::lazy(
            verbose,
            LogDiscardReason::MissingLabels,
            || {
                format!(
                    "stream '{}': at least one label pair is required per stream",
                    stream()
                )
            },
        ));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = out.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(LogRefusal::lazy(
            verbose,
            LogDiscardReason::DuplicateLabelNames,
            || {
                format!(
                    "stream '{}' has duplicate label name {:?}",
                    stream(),
                    w[0].name
                )
            },
        ));
    }
    if !limits.discover_service_name.is_empty() && !out.iter().any(|l| l.name == "service_name") {
        let found = limits
            .discover_service_name
            .iter()
            .find_map(|n| out.iter().find(|l| l.name == n).map(|l| l.value.clone()));
        out.push(Label::new(
            "service_name",
            found.unwrap_or_else(|| "unknown_service".into()),
        ));
    }
    if out.len() > limits.max_label_names_per_series {
        return Err(LogRefusal::lazy(
            verbose,
            LogDiscardReason::MaxLabelNamesPerSeries,
            || {
                format!(
                    "stream '{}' has {} label names, limit {}",
                    stream(),
                    out.len(),
                    limits.max_label_names_per_series
                )
            },
        ));
    }
    Ok(Labels::from_unsorted(out))
}

/// The accepted time window of entries, in Unix nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeWindow {
    pub now: i64,
    pub min: i64,
    pub max: i64,
}

/// Validates one entry; on success returns it ready for storage (a too-long line is
/// truncated when so configured).
#[cfg(test)]
pub(crate) fn validate_entry(
    entry: PushEntry,
    stream: &Labels,
    window: TimeWindow,
    limits: &LogValidationLimits,
) -> Result<LogEntry, LogRefusal> {
    check_entry(entry, stream, window, limits, true)
}

/// [`validate_entry`], writing the refusal's message only when `verbose`.
pub(crate) fn check_entry(
    entry: PushEntry,
    stream: &Labels,
    window: TimeWindow,
    limits: &LogValidationLimits,
    verbose: bool,
) -> Result<LogEntry, LogRefusal> {
    let PushEntry {
        ts,
        mut line,
        metadata,
    } = entry;
    if ts < window.min {
        return Err(LogRefusal::lazy(
            verbose,
            LogDiscardReason::GreaterThanMaxSampleAge,
            || {
                format!(
                "entry for stream '{stream}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                rfc3339(ts),
                rfc3339(window.min)
            )
            },
        ));
    }
    if ts > window.max {
        return Err(LogRefusal::lazy(
            verbose,
            LogDiscardReason::TooFarInFuture,
            || {
                format!(
                    "entry for stream '{stream}' has timestamp too new: {}, now is {}",
                    rfc3339(ts),
                    rfc3339(window.now)
                )
            },
        ));
    }
    if limits.max_line_size > 0 && line.len() > limits.max_line_size {
        if limits.max_line_size_truncate {
            let mut cut = limits.max_line_size;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
        } else {
            return Err(LogRefusal::lazy(
                verbose,
                LogDiscardReason::LineTooLong,
                || {
                    format!(
                    "max entry size '{}' bytes exceeded for stream '{stream}' while adding an entry with length '{}' bytes",
                    limits.max_line_size,
                    line.len()
                )
                },
            ));
        }
    }
    if metadata.len() > limits.max_structured_metadata_entries_count {
        return Err(LogRefusal::lazy(
            verbose,
            LogDiscardReason::StructuredMetadataTooMany,
            || {
                format!(
                    "entry for stream '{stream}' has {} structured metadata entries, limit {}",
                    metadata.len(),
                    limits.max_structured_metadata_entries_count
                )
            },
        ));
    }
    let size: usize = metadata.iter().map(|(n, v)| n.len() + v.len()).sum();
    if size > limits.max_structured_metadata_size {
        return Err(LogRefusal::lazy(
            verbose,
            LogDiscardReason::StructuredMetadataTooLarge,
            || {
                format!(
                    "entry for stream '{stream}' has {size} bytes of structured metadata, limit {}",
                    limits.max_structured_metadata_size
                )
            },
        ));
    }
    let mut meta: Vec<Label> = Vec::with_capacity(metadata.len());
    for (name, value) in metadata {
        if !is_valid_label_name(&name) {
            return Err(LogRefusal::lazy(
                verbose,
                LogDiscardReason::InvalidLabels,
                || {
                    format!(
                    "entry for stream '{stream}' has an invalid structured metadata name: {name:?}"
                )
                },
            ));
        }
        if meta.iter().any(|m| m.name == name) {
            return Err(LogRefusal::lazy(
                verbose,
                LogDiscardReason::DuplicateLabelNames,
                || {
                    format!(
                    "entry for stream '{stream}' has duplicate structured metadata name {name:?}"
                )
                },
            ));
        }
        meta.push(Label::new(name, value));
    }
    Ok(LogEntry {
        ts,
        line,
        metadata: meta,
    })
}

/// Formats Unix nanoseconds as RFC 3339 for messages.
pub(crate) fn rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    match chrono::DateTime::from_timestamp(secs, nanos) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => format!("{ns}ns"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> StreamLabels {
        StreamLabels::Pairs(
            p.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn service_name_is_discovered_like_loki() {
        let l = LogValidationLimits::default();
        let labels = validate_stream_labels(&pairs(&[("app", "api"), ("env", "")]), &l).unwrap();
        assert_eq!(labels.get("service_name"), Some("api"));
        assert_eq!(labels.get("env"), None);
        let labels = validate_stream_labels(&pairs(&[("team", "x")]), &l).unwrap();
        assert_eq!(labels.get("service_name"), Some("unknown_service"));
        let off = LogValidationLimits {
            discover_service_name: vec![],
            ..Default::default()
        };
        assert_eq!(
            validate_stream_labels(&pairs(&[("team", "x")]), &off)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn label_rules_name_the_stream() {
        let l = LogValidationLimits::default();
        let err = validate_stream_labels(&pairs(&[("1x", "a")]), &l).unwrap_err();
        assert_eq!(err.reason, LogDiscardReason::InvalidLabels);
        assert!(err.message.contains("1x"), "{}", err.message);
        let err =
            validate_stream_labels(&StreamLabels::Selector("{a=\"1\"".into()), &l).unwrap_err();
        assert_eq!(err.reason, LogDiscardReason::InvalidLabels);
        let err = validate_stream_labels(&pairs(&[]), &l).unwrap_err();
        assert_eq!(err.reason, LogDiscardReason::MissingLabels);
        let err = validate_stream_labels(&StreamLabels::Selector("{a=\"1\", a=\"2\"}".into()), &l)
            .unwrap_err();
        assert_eq!(err.reason, LogDiscardReason::DuplicateLabelNames);
        let many: Vec<(String, String)> = (0..15).map(|i| (format!("l{i}"), "v".into())).collect();
        let err = validate_stream_labels(&StreamLabels::Pairs(many), &l).unwrap_err();
        assert_eq!(err.reason, LogDiscardReason::MaxLabelNamesPerSeries);
        assert!(
            err.message.contains("16 label names, limit 15"),
            "{}",
            err.message
        );
        let long = "v".repeat(2049);
        let err = validate_stream_labels(&pairs(&[("a", &long)]), &l).unwrap_err();
        assert_eq!(err.reason, LogDiscardReason::LabelValueTooLong);
    }

    #[test]
    fn entry_rules() {
        let l = LogValidationLimits {
            max_line_size: 10,
            ..Default::default()
        };
        let stream = Labels::from_pairs([("app", "a")]);
        let now = 1_800_000_000_000_000_000;
        let w = TimeWindow {
            now,
            min: now - 1_000_000_000,
            max: now + 1_000_000_000,
        };
        let e = |ts, line: &str| PushEntry {
            ts,
            line: line.into(),
            metadata: vec![],
        };
        assert!(validate_entry(e(now, "short"), &stream, w, &l).is_ok());
        let err = validate_entry(e(now, "much too long"), &stream, w, &l).unwrap_err();
        assert_eq!(err.reason, LogDiscardReason::LineTooLong);
        assert!(err.message.contains("'10' bytes"), "{}", err.message);
        let t = LogValidationLimits {
            max_line_size_truncate: true,
            ..l.clone()
        };
        assert_eq!(
            validate_entry(e(now, "ééééééé"), &stream, w, &t)
                .unwrap()
                .line,
            "ééééé"
        );
        assert_eq!(
            validate_entry(e(w.min - 1, "x"), &stream, w, &l)
                .unwrap_err()
                .reason,
            LogDiscardReason::GreaterThanMaxSampleAge
        );
        assert_eq!(
            validate_entry(e(w.max + 1, "x"), &stream, w, &l)
                .unwrap_err()
                .reason,
            LogDiscardReason::TooFarInFuture
        );
        let mut m = e(now, "x");
        m.metadata = vec![("trace id".into(), "1".into())];
        assert_eq!(
            validate_entry(m, &stream, w, &l).unwrap_err().reason,
            LogDiscardReason::InvalidLabels
        );
    }
}
