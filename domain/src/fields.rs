//! Reads a JSON object field by field, collecting every bad field instead of stopping at the first.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::validation::FieldError;

/// A JSON object being read into a typed value, with the errors found so far.
pub struct FieldReader<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
    errors: Vec<FieldError>,
}

impl<'a> FieldReader<'a> {
    /// Reads `value`, which must be an object.
    pub fn new(value: &'a Value) -> Result<Self, Vec<FieldError>> {
        match value.as_object() {
            Some(map) => Ok(Self { map, prefix: String::new(), errors: Vec::new() }),
            None => Err(vec![FieldError::new("body", "must be a JSON object")]),
        }
    }

    fn path(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A required field.
    pub fn required<T: DeserializeOwned>(&mut self, name: &str) -> Option<T> {
        match self.map.get(name) {
            None | Some(Value::Null) => {
                self.error(name, "is required");
                None
            }
            Some(v) => self.convert(name, v),
        }
    }

    /// An optional field: absent and `null` are both `None`.
    pub fn optional<T: DeserializeOwned>(&mut self, name: &str) -> Option<T> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => self.convert(name, v),
        }
    }

    /// An optional field with a default.
    pub fn or<T: DeserializeOwned>(&mut self, name: &str, default: T) -> T {
        self.optional(name).unwrap_or(default)
    }

    /// Reads a list of objects, each with `read`, naming errors `name[i].field`.
    pub fn list<T>(&mut self, name: &str, max: usize, read: impl Fn(&mut FieldReader) -> Option<T>) -> Vec<T> {
        let items = match self.map.get(name) {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.error(name, "must be a list");
                return Vec::new();
            }
        };
        if items.len() > max {
            self.error(name, &format!("must have at most {max} entries"));
            return Vec::new();
        }
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let prefix = format!("{}{name}[{i}].", self.prefix);
            let Some(map) = item.as_object() else {
                self.errors.push(FieldError::new(format!("{}{name}[{i}]", self.prefix), "must be an object"));
                continue;
            };
            let mut inner = FieldReader { map, prefix, errors: Vec::new() };
            let value = read(&mut inner);
            let had_errors = !inner.errors.is_empty();
            self.errors.append(&mut inner.errors);
            if let (Some(v), false) = (value, had_errors) {
                out.push(v);
            }
        }
        out
    }

    /// Reads a required nested object with `read`, naming errors `name.field`.
    pub fn object<T>(&mut self, name: &str, read: impl FnOnce(&mut FieldReader) -> Option<T>) -> Option<T> {
        let map = match self.map.get(name) {
            None | Some(Value::Null) => {
                self.error(name, "is required");
                return None;
            }
            Some(Value::Object(map)) => map,
            Some(_) => {
                self.error(name, "must be an object");
                return None;
            }
        };
        let mut inner = FieldReader { map, prefix: format!("{}{name}.", self.prefix), errors: Vec::new() };
        let value = read(&mut inner);
        let ok = inner.errors.is_empty();
        self.errors.append(&mut inner.errors);
        value.filter(|_| ok)
    }

    /// Records an error on a field.
    pub fn error(&mut self, name: &str, message: &str) {
        let path = self.path(name);
        if !self.errors.iter().any(|e| e.field == path) {
            self.errors.push(FieldError::new(path, message));
        }
    }

    /// Checks a parsed value; records `message` on `name` when the check fails.
    pub fn check<T>(&mut self, name: &str, value: Option<T>, ok: impl Fn(&T) -> bool, message: &str) -> Option<T> {
        match value {
            Some(v) if ok(&v) => Some(v),
            Some(_) => {
                self.error(name, message);
                None
            }
            None => None,
        }
    }

    /// Whether any error has been recorded.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The value when every field was good, else every error.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, Vec<FieldError>> {
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ if !self.errors.is_empty() => Err(self.errors),
            _ => Err(vec![FieldError::new("body", "is incomplete")]),
        }
    }

    fn convert<T: DeserializeOwned>(&mut self, name: &str, v: &Value) -> Option<T> {
        match serde_json::from_value::<T>(v.clone()) {
            Ok(t) => Some(t),
            Err(e) => {
                self.error(name, &friendly(&e.to_string()));
                None
            }
        }
    }
}

/// serde's messages, reworded for the person reading the app's error.
fn friendly(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let expected = rest.split_once("expected ").map(|(_, e)| e).unwrap_or("");
        let options = expected.replace("one of ", "").replace(" or ", ", ").replace('`', "");
        return format!("must be one of: {options}");
    }
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        let expected = message.split_once("expected ").map(|(_, e)| e).unwrap_or("another type");
        return format!("must be {expected}");
    }
    if message.contains("premature end of input") || message.contains("input contains invalid characters") {
        return "must be an RFC 3339 date-time such as 2027-01-01T07:30:00Z".into();
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Side {
        Left,
        Right,
    }

    #[test]
    fn every_bad_field_is_named_not_just_the_first() {
        let body = json!({"side": "middle", "count": -1, "when": "yesterday"});
        let mut r = FieldReader::new(&body).unwrap();
        let side: Option<Side> = r.required("side");
        let count: Option<u8> = r.required("count");
        let when: Option<chrono::DateTime<chrono::Utc>> = r.required("when");
        let missing: Option<String> = r.required("missing");
        assert!(side.is_none() && count.is_none() && when.is_none() && missing.is_none());
        let errors = r.finish(Some(())).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["side", "count", "when", "missing"]);
        assert_eq!(errors[0].message, "must be one of: left, right");
        assert_eq!(errors[3].message, "is required");
    }

    #[test]
    fn list_items_are_named_with_their_index() {
        let body = json!({"spots": [{"side": "left"}, {"side": "up"}, 3]});
        let mut r = FieldReader::new(&body).unwrap();
        let spots = r.list("spots", 10, |s| s.required::<Side>("side"));
        assert_eq!(spots, vec![Side::Left]);
        let errors = r.finish(Some(())).unwrap_err();
        assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), vec!["spots[1].side", "spots[2]"]);
    }

    #[test]
    fn optional_fields_accept_absence_and_null() {
        let body = json!({"a": null});
        let mut r = FieldReader::new(&body).unwrap();
        assert_eq!(r.optional::<String>("a"), None);
        assert_eq!(r.or("b", 7u8), 7);
        assert!(r.finish(Some(())).is_ok());
        assert!(FieldReader::new(&json!([1])).is_err());
    }
}
