//! OTLP attribute values as the strings Prometheus labels and Loki structured metadata
//! hold.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

/// The text of an attribute value: strings as they are, numbers and booleans as
/// written in JSON, arrays and maps as JSON, bytes as base64; an absent value is empty.
pub fn value_text(value: Option<&AnyValue>) -> String {
    value_str(value).into_owned()
}

/// [`value_text`], borrowing a string value instead of copying it.
pub fn value_str(value: Option<&AnyValue>) -> std::borrow::Cow<'_, str> {
    match value.and_then(|v| v.value.as_ref()) {
        None => std::borrow::Cow::Borrowed(""),
        Some(Value::StringValue(s)) => std::borrow::Cow::Borrowed(s),
        Some(other) => std::borrow::Cow::Owned(json_of(other).to_string()),
    }
}

/// The JSON form of a value (a string stays a JSON string here).
fn json_of(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::StringValue(s) => J::String(s.clone()),
        Value::BoolValue(b) => J::Bool(*b),
        Value::IntValue(i) => J::from(*i),
        Value::DoubleValue(d) => serde_json::Number::from_f64(*d)
            .map(J::Number)
            .unwrap_or_else(|| J::String(d.to_string())),
        Value::ArrayValue(a) => J::Array(
            a.values
                .iter()
                .map(|v| v.value.as_ref().map_or(J::Null, json_of))
                .collect(),
        ),
        Value::KvlistValue(kv) => J::Object(
            kv.values
                .iter()
                .map(|kv| {
                    let v = kv.value.as_ref().and_then(|v| v.value.as_ref());
                    (kv.key.clone(), v.map_or(J::Null, json_of))
                })
                .collect(),
        ),
        Value::BytesValue(b) => {
            use base64::Engine;
            J::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Value::StringValueStrindex(i) => J::from(*i),
    }
}

/// The value of the attribute `key` among `attributes`, if set.
pub fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn any(v: Value) -> AnyValue {
        AnyValue { value: Some(v) }
    }

    #[test]
    fn values_are_written_as_text() {
        assert_eq!(
            value_text(Some(&any(Value::StringValue("a b".into())))),
            "a b"
        );
        assert_eq!(value_text(Some(&any(Value::IntValue(-3)))), "-3");
        assert_eq!(value_text(Some(&any(Value::DoubleValue(1.5)))), "1.5");
        assert_eq!(value_text(Some(&any(Value::BoolValue(true)))), "true");
        assert_eq!(
            value_text(Some(&any(Value::BytesValue(b"hi!?".to_vec())))),
            "\"aGkhPw==\""
        );
        let array = any(Value::ArrayValue(ArrayValue {
            values: vec![any(Value::IntValue(1)), any(Value::StringValue("x".into()))],
        }));
        assert_eq!(value_text(Some(&array)), r#"[1,"x"]"#);
        let map = any(Value::KvlistValue(KeyValueList {
            values: vec![KeyValue {
                key: "k".into(),
                value: Some(any(Value::BoolValue(false))),
                ..Default::default()
            }],
        }));
        assert_eq!(value_text(Some(&map)), r#"{"k":false}"#);
        assert_eq!(value_text(None), "");
    }
}
