/// Why a log stream or entry was refused before reaching storage. The IDs are Loki's
/// `discarded_samples_total` reasons, so dashboards built for Loki read Pitot's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogDiscardReason {
    /// The stream's label text does not parse, or a label name is invalid.
    InvalidLabels,
    /// The stream has no labels.
    MissingLabels,
    /// Two labels share a name.
    DuplicateLabelNames,
    /// More labels than allowed.
    MaxLabelNamesPerSeries,
    /// A label name is too long.
    LabelNameTooLong,
    /// A label value is too long.
    LabelValueTooLong,
    /// A line is longer than allowed.
    LineTooLong,
    /// An entry is older than the accepted age.
    GreaterThanMaxSampleAge,
    /// An entry is too far in the future.
    TooFarInFuture,
    /// An entry's structured metadata is too large.
    StructuredMetadataTooLarge,
    /// An entry has too many structured-metadata pairs.
    StructuredMetadataTooMany,
    /// Storage refused the entry: older than its stream accepts.
    TooFarBehind,
}

impl LogDiscardReason {
    /// Stable ID: the `reason` label of the discard counters and part of messages.
    pub fn id(self) -> &'static str {
        match self {
            LogDiscardReason::InvalidLabels => "invalid_labels",
            LogDiscardReason::MissingLabels => "missing_labels",
            LogDiscardReason::DuplicateLabelNames => "duplicate_label_names",
            LogDiscardReason::MaxLabelNamesPerSeries => "max_label_names_per_series",
            LogDiscardReason::LabelNameTooLong => "label_name_too_long",
            LogDiscardReason::LabelValueTooLong => "label_value_too_long",
            LogDiscardReason::LineTooLong => "line_too_long",
            LogDiscardReason::GreaterThanMaxSampleAge => "greater_than_max_sample_age",
            LogDiscardReason::TooFarInFuture => "too_far_in_future",
            LogDiscardReason::StructuredMetadataTooLarge => "structured_metadata_too_large",
            LogDiscardReason::StructuredMetadataTooMany => "structured_metadata_too_many",
            LogDiscardReason::TooFarBehind => "too_far_behind",
        }
    }

    /// The configuration key that raises the limit, for limit reasons.
    pub fn setting(self) -> Option<&'static str> {
        match self {
            LogDiscardReason::MaxLabelNamesPerSeries => Some("logs.max_label_names_per_series"),
            LogDiscardReason::LabelNameTooLong => Some("logs.max_label_name_length"),
            LogDiscardReason::LabelValueTooLong => Some("logs.max_label_value_length"),
            LogDiscardReason::LineTooLong => Some("logs.max_line_size"),
            LogDiscardReason::GreaterThanMaxSampleAge => Some("logs.reject_old_samples_max_age"),
            LogDiscardReason::TooFarInFuture => Some("logs.creation_grace_period"),
            LogDiscardReason::StructuredMetadataTooLarge => {
                Some("logs.max_structured_metadata_size")
            }
            LogDiscardReason::StructuredMetadataTooMany => {
                Some("logs.max_structured_metadata_entries_count")
            }
            LogDiscardReason::TooFarBehind => Some("storage.logs_out_of_order_window"),
            _ => None,
        }
    }
}
