//! A small JSON-Schema checker (the subset RunPod's OpenAPI uses for CreatePodRequest:
//! $ref, allOf, anyOf, not, if/then, type, properties, required, additional/unevaluated
//! properties, items, enum, minimum, minLength) run against the real `openapi-v2.json`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

pub fn openapi_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runpod/openapi-v2.json")
}

pub struct OpenApi(Value);

impl OpenApi {
    pub fn load() -> Self {
        let text = std::fs::read_to_string(openapi_path()).expect("openapi-v2.json fixture");
        Self(serde_json::from_str(&text).expect("openapi-v2.json parses"))
    }

    pub fn schema(&self, name: &str) -> &Value {
        &self.0["components"]["schemas"][name]
    }

    /// Every violation of `components.schemas.<name>` by `value` (empty = valid).
    pub fn validate(&self, name: &str, value: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        self.check(value, self.schema(name), "$", &mut errs);
        errs
    }

    fn resolve<'a>(&'a self, mut s: &'a Value) -> &'a Value {
        while let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let name = r.trim_start_matches("#/components/schemas/");
            s = self.schema(name);
        }
        s
    }

    /// Properties and required names merged over `allOf` (recursively).
    fn collect(&self, s: &Value, props: &mut Map<String, Value>, required: &mut Vec<String>) {
        let s = self.resolve(s);
        if let Some(p) = s.get("properties").and_then(Value::as_object) {
            for (k, v) in p {
                props.insert(k.clone(), v.clone());
            }
        }
        if let Some(r) = s.get("required").and_then(Value::as_array) {
            required.extend(r.iter().filter_map(Value::as_str).map(str::to_string));
        }
        for part in s
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.collect(part, props, required);
        }
    }

    fn matches(&self, value: &Value, s: &Value) -> bool {
        let mut errs = Vec::new();
        self.check(value, s, "$", &mut errs);
        errs.is_empty()
    }

    fn check(&self, value: &Value, schema: &Value, path: &str, errs: &mut Vec<String>) {
        let s = self.resolve(schema);
        if let Some(t) = s.get("type") {
            let types: Vec<&str> = match t {
                Value::String(t) => vec![t.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if !types.iter().any(|t| type_matches(value, t)) {
                errs.push(format!("{path}: expected {types:?}, got {value}"));
                return;
            }
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            if !e.contains(value) {
                errs.push(format!("{path}: {value} not in {e:?}"));
            }
        }
        if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), value.as_f64()) {
            if n < min {
                errs.push(format!("{path}: {n} < minimum {min}"));
            }
        }
        if let (Some(min), Some(v)) = (s.get("minLength").and_then(Value::as_u64), value.as_str()) {
            if (v.chars().count() as u64) < min {
                errs.push(format!("{path}: shorter than {min}"));
            }
        }
        for part in s
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.check(value, part, path, errs);
        }
        if let Some(not) = s.get("not") {
            if self.matches(value, not) {
                errs.push(format!("{path}: matches a 'not' schema"));
            }
        }
        if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
            if !any.iter().any(|a| self.matches(value, a)) {
                errs.push(format!("{path}: matches no anyOf branch"));
            }
        }
        if let (Some(cond), Some(then)) = (s.get("if"), s.get("then")) {
            if self.matches(value, cond) {
                self.check(value, then, path, errs);
            }
        }
        if let (Some(items), Some(arr)) = (s.get("items"), value.as_array()) {
            for (i, v) in arr.iter().enumerate() {
                self.check(v, items, &format!("{path}[{i}]"), errs);
            }
        }
        let Some(obj) = value.as_object() else { return };
        let mut props = Map::new();
        let mut required = Vec::new();
        self.collect(s, &mut props, &mut required);
        for r in &required {
            if !obj.contains_key(r) {
                errs.push(format!("{path}: missing required '{r}'"));
            }
        }
        let closed = s.get("unevaluatedProperties") == Some(&Value::Bool(false))
            || s.get("additionalProperties") == Some(&Value::Bool(false));
        let extra = s.get("additionalProperties").filter(|a| a.is_object());
        for (k, v) in obj {
            let p = format!("{path}.{k}");
            match (props.get(k), extra) {
                (Some(ps), _) => self.check(v, ps, &p, errs),
                (None, Some(a)) => self.check(v, a, &p, errs),
                (None, None) if closed => errs.push(format!("{p}: not a property of the schema")),
                (None, None) => {}
            }
        }
    }
}

fn type_matches(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        _ => true,
    }
}
