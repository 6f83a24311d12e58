//! Readers for the JSON fields OpenStack sends: tolerant of what is missing or unknown,
//! strict on types. A field of the wrong type is a [`ParseError`] for the whole kind,
//! so nothing is ever deleted on the strength of a misread answer.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::Kind;

/// An answer that does not have the shape the API documents.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unexpected {kind} data: field `{field}`: {problem}")]
pub struct ParseError {
    /// The kind being read.
    pub kind: Kind,
    /// The offending field.
    pub field: String,
    /// What was wrong with it.
    pub problem: String,
}

/// One JSON object of a given kind, read field by field.
#[derive(Clone, Copy)]
pub(crate) struct Obj<'a> {
    kind: Kind,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// Wraps `value`, which must be an object.
    pub(crate) fn new(kind: Kind, value: &'a Value) -> Result<Self, ParseError> {
        match value {
            Value::Object(map) => Ok(Obj { kind, map }),
            other => Err(ParseError {
                kind,
                field: "(item)".into(),
                problem: format!("expected an object, got {}", type_name(other)),
            }),
        }
    }

    fn error(&self, field: &str, problem: String) -> ParseError {
        ParseError {
            kind: self.kind,
            field: field.into(),
            problem,
        }
    }

    fn wrong(&self, field: &str, expected: &str, got: &Value) -> ParseError {
        self.error(
            field,
            format!("expected {expected}, got {}", type_name(got)),
        )
    }

    /// The raw value of `field`, `None` when missing or null.
    pub(crate) fn raw(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    /// A required, non-empty string (identifiers).
    pub(crate) fn required(&self, field: &str) -> Result<String, ParseError> {
        match self.str(field)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(self.error(field, "missing".into())),
        }
    }

    /// An optional string; missing or null is `None`.
    pub(crate) fn str(&self, field: &str) -> Result<Option<String>, ParseError> {
        match self.raw(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong(field, "a string", other)),
        }
    }

    /// A string that may be missing (then empty).
    pub(crate) fn string(&self, field: &str) -> Result<String, ParseError> {
        Ok(self.str(field)?.unwrap_or_default())
    }

    /// An optional boolean.
    pub(crate) fn bool(&self, field: &str) -> Result<Option<bool>, ParseError> {
        match self.raw(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(field, "a boolean", other)),
        }
    }

    /// A list of strings; missing or null is empty. Heat sends tags as one
    /// comma-separated string in older releases, so a string is split on commas.
    pub(crate) fn strings(&self, field: &str) -> Result<Vec<String>, ParseError> {
        match self.raw(field) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.wrong(field, "a list of strings", other)),
                })
                .collect(),
            Some(other) => Err(self.wrong(field, "a list", other)),
        }
    }

    /// A nested object, `None` when missing or null.
    pub(crate) fn obj(&self, field: &str) -> Result<Option<Obj<'a>>, ParseError> {
        match self.raw(field) {
            None => Ok(None),
            Some(value @ Value::Object(_)) => Obj::new(self.kind, value).map(Some),
            Some(other) => Err(self.wrong(field, "an object", other)),
        }
    }

    /// A list of objects; missing or null is empty.
    pub(crate) fn objs(&self, field: &str) -> Result<Vec<Obj<'a>>, ParseError> {
        match self.raw(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| Obj::new(self.kind, item).map_err(|e| self.error(field, e.problem)))
                .collect(),
            Some(other) => Err(self.wrong(field, "a list", other)),
        }
    }

    /// A string-to-string map (Nova/Cinder metadata). Scalar values are kept as text.
    pub(crate) fn string_map(&self, field: &str) -> Result<BTreeMap<String, String>, ParseError> {
        match self.raw(field) {
            None => Ok(BTreeMap::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match scalar_text(v) {
                    Some(text) => Ok((k.clone(), text)),
                    None => Err(self.wrong(field, "string values", v)),
                })
                .collect(),
            Some(other) => Err(self.wrong(field, "an object", other)),
        }
    }

    /// Every top-level scalar field not in `known`: Glance image properties.
    pub(crate) fn extra_scalars(&self, known: &[&str]) -> BTreeMap<String, String> {
        self.map
            .iter()
            .filter(|(k, _)| !known.contains(&k.as_str()))
            .filter_map(|(k, v)| scalar_text(v).map(|text| (k.clone(), text)))
            .collect()
    }

    /// A timestamp: RFC 3339, or (Cinder, Nova keypairs) without a zone, meaning UTC.
    pub(crate) fn time(&self, field: &str) -> Result<Option<Timestamp>, ParseError> {
        match self.str(field)? {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(None),
            Some(s) => parse_time(&s)
                .map(Some)
                .ok_or_else(|| self.error(field, format!("not a timestamp: {s:?}"))),
        }
    }
}

/// Parses an OpenStack timestamp; a missing zone means UTC.
pub(crate) fn parse_time(s: &str) -> Option<Timestamp> {
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Some(ts);
    }
    // Some services separate date and time with a space.
    let civil = s.replacen(' ', "T", 1);
    let dt: jiff::civil::DateTime = civil.parse().ok()?;
    dt.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Cinder's zone-less timestamps are read as UTC, RFC 3339 ones as given.
    #[test]
    fn timestamps_with_and_without_zone() {
        let a = parse_time("2026-11-22T06:14:46.000000").unwrap();
        let b = parse_time("2026-11-22T06:14:46Z").unwrap();
        assert_eq!(a, b);
        assert!(parse_time("yesterday").is_none());
    }

    /// A field of the wrong type is an error, never a silent default.
    #[test]
    fn wrong_types_are_errors() {
        let v = json!({"id": 5, "tags": "a, b", "metadata": {"k": [1]}});
        let o = Obj::new(Kind::Port, &v).unwrap();
        assert!(o.required("id").is_err());
        assert_eq!(o.strings("tags").unwrap(), vec!["a", "b"]);
        assert!(o.string_map("metadata").is_err());
        assert!(Obj::new(Kind::Port, &json!([1])).is_err());
    }
}
