//! Reading a request body as the API document describes it.
//!
//! serde's derived structs also accept a JSON *array* of their fields in
//! order (`[]` is a `ModelPolicies` with every default), at any depth; no
//! JSON Schema object allows that, and schemathesis found the top-level case.
//! [`from_value`] types a parsed body like `serde_json::from_value`, except
//! that a struct or map is read only from a JSON object. Everything else is
//! serde_json's `Value` deserializer's behaviour: numbers, strings, options,
//! sequences, enums (externally tagged as a string or a one-key object,
//! internally tagged through `deserialize_any`) — with one addition: an
//! integer field reads a number with no fractional part written as a float
//! (`3.0`), which JSON Schema and every JavaScript client call an integer.
//! Fields typed `Value` (a model's inputs, free-form params) keep the
//! number exactly as it was sent.
//!
//! Limit: the part of a struct under `#[serde(flatten)]` is buffered by
//! serde itself and read with serde's own rules (a struct from an array
//! included); `FeatureProfile`'s shape is the one such part in a body. Its
//! integer fields are covered by [`integral_floats_as_integers`], which the
//! reference profile's route applies first (that body has no field typed
//! `Value`, so no number there must keep its spelling).

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess,
    SeqAccess, VariantAccess, Visitor,
};
use serde_json::{Map, Value};

/// `value` as a `T`, objects only where `T` has a struct or a map.
/// The integer a float with no fractional part within the 64-bit ranges
/// stands for; `None` for integers already, fractions and floats beyond.
fn integral(n: &serde_json::Number) -> Option<serde_json::Number> {
    let x = n.as_f64().filter(|x| n.is_f64() && x.fract() == 0.0)?;
    // 2^64 and -2^63 are exact doubles: the bounds are exact.
    if (0.0..18_446_744_073_709_551_616.0).contains(&x) {
        Some((x as u64).into())
    } else if (-9_223_372_036_854_775_808.0..0.0).contains(&x) {
        Some((x as i64).into())
    } else {
        None
    }
}

/// Rewrites every float with no fractional part within the 64-bit integer
/// ranges as that integer, at any depth: what [`from_value`] does for
/// integer fields, for bodies whose integers serde reads from a buffer
/// (`#[serde(flatten)]`). Only for bodies without `Value`-typed fields.
pub fn integral_floats_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(integer) = integral(n) {
                *n = integer;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, serde_json::Error> {
    T::deserialize(Strict(value))
}

struct Strict<'a>(&'a Value);

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'de> Deserializer<'de> for Strict<'_> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_str(s),
            Value::Array(items) => visitor.visit_seq(Items(items.iter())),
            Value::Object(map) => visitor.visit_map(Entries::new(map)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(Entries::new(map)),
            other => Err(de::Error::custom(format!(
                "expected an object for {name}, found {}",
                kind(other)
            ))),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(Entries::new(map)),
            other => Err(de::Error::custom(format!(
                "expected an object, found {}",
                kind(other)
            ))),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::String(variant) => visitor.visit_enum(variant.as_str().into_deserializer()),
            Value::Object(map) if map.len() == 1 => {
                let Some((variant, value)) = map.iter().next() else {
                    return Err(de::Error::custom("expected a one-key object for an enum"));
                };
                visitor.visit_enum(Variant { variant, value })
            }
            other => Err(de::Error::custom(format!(
                "expected a string or a one-key object for an enum, found {}",
                kind(other)
            ))),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.integer(v)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.integer(v)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.integer(v)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.integer(v)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.integer(v)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.integer(v)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.integer(v)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.integer(v)
    }

    serde::forward_to_deserialize_any! {
        bool i128 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct identifier ignored_any
    }
}

impl<'de> Strict<'_> {
    /// An integer field: a float with no fractional part within the 64-bit
    /// ranges is that integer (the visitor then checks its own range).
    fn integer<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
        if let Value::Number(n) = self.0
            && let Some(integer) = integral(n)
        {
            if let Some(u) = integer.as_u64() {
                return visitor.visit_u64(u);
            }
            if let Some(i) = integer.as_i64() {
                return visitor.visit_i64(i);
            }
        }
        self.deserialize_any(visitor)
    }
}

struct Items<'a>(std::slice::Iter<'a, Value>);

impl<'de> SeqAccess<'de> for Items<'_> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0
            .next()
            .map(|value| seed.deserialize(Strict(value)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Entries<'a> {
    entries: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
}

impl<'a> Entries<'a> {
    fn new(map: &'a Map<String, Value>) -> Self {
        Entries {
            entries: map.iter(),
            value: None,
        }
    }
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(key.as_str().into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(Strict(value)),
            None => Err(de::Error::custom("a value without its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct Variant<'a> {
    variant: &'a str,
    value: &'a Value,
}

impl<'de, 'a> EnumAccess<'de> for Variant<'a> {
    type Error = serde_json::Error;
    type Variant = Strict<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Self::Error> {
        let variant = seed.deserialize(self.variant.into_deserializer())?;
        Ok((variant, Strict(self.value)))
    }
}

impl<'de> VariantAccess<'de> for Strict<'_> {
    type Error = serde_json::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        match self.0 {
            Value::Null => Ok(()),
            other => Err(de::Error::custom(format!(
                "expected null for a unit variant, found {}",
                kind(other)
            ))),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_any(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_map(visitor)
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use outpost_core::api::{ModelPolicies, RegisterVersionRequest, RolloutRequest};
    use serde_json::json;

    #[test]
    fn a_profile_takes_integral_floats_under_its_flattened_shape() {
        let mut body = json!({"rows": 4.0, "features": [{
            "name": "amount", "count": 4.0, "missing": 0, "kind": "numerical",
            "edges": [1.5], "histogram": [2.0, 2], "median": 1.5, "sample": [1.0, 2.0],
            "summary": {"count": 4.0, "sum": 6.0, "sum_squares": 10.0, "min": 1.0, "max": 2.0}
        }]});
        assert!(
            from_value::<outpost_core::profile::ReferenceProfile>(&body).is_err(),
            "serde's buffer"
        );
        integral_floats_as_integers(&mut body);
        let profile: outpost_core::profile::ReferenceProfile = from_value(&body).unwrap();
        assert_eq!(profile.rows, 4);
        // Floats keep their value where a float is expected, and a fraction
        // stays a float (refused where an integer is expected).
        assert_eq!(body["features"][0]["edges"], json!([1.5]));
        let mut fraction = json!({"histogram": [2.5]});
        integral_floats_as_integers(&mut fraction);
        assert_eq!(fraction, json!({"histogram": [2.5]}));
    }

    #[test]
    fn structs_come_only_from_objects_at_every_depth() {
        assert!(serde_json::from_value::<ModelPolicies>(json!([])).is_ok()); // serde's own
        assert!(from_value::<ModelPolicies>(&json!([])).is_err());
        assert!(from_value::<ModelPolicies>(&json!({"promotion": []})).is_err());
        assert!(from_value::<RolloutRequest>(&json!({"canary": ["1.0.0", 100]})).is_err());
        let rollout: RolloutRequest =
            from_value(&json!({"canary": {"version": "1.0.0", "weight": 100}, "reason": "r"}))
                .unwrap();
        assert_eq!(rollout.canary.unwrap().weight, 100);
    }

    #[test]
    fn everything_else_reads_as_serde_json_reads_it() {
        let body = json!({
            "bump": "patch",
            "digest": outpost_core::Digest::of(b"m"),
            "size": 3,
            "metrics": {"f1": 0.5, "n": 2},
            "params": {"depth": [1, {"a": null}], "name": "x"},
            "tags": ["a", "b"],
            "format": "onnx",
            "parent_version": null,
        });
        let strict: RegisterVersionRequest = from_value(&body).unwrap();
        let lax: RegisterVersionRequest = serde_json::from_value(body).unwrap();
        assert_eq!(strict, lax);
        for bad in [
            json!({"bump": "sideways", "digest": "x", "size": 3}),
            json!({"size": -1}),
        ] {
            assert!(from_value::<RegisterVersionRequest>(&bad).is_err());
        }
        // Internally tagged enums and values of any shape.
        let policies: ModelPolicies = from_value(&json!({
            "promotion": {"rules": []},
            "retention": {"keep_last": 3},
        }))
        .unwrap();
        assert_eq!(
            policies,
            serde_json::from_value(
                json!({"promotion": {"rules": []}, "retention": {"keep_last": 3}})
            )
            .unwrap()
        );
        assert_eq!(
            from_value::<Value>(&json!([1, "a", null])).unwrap(),
            json!([1, "a", null])
        );
        // Integers written as floats read as integers; values keep what was
        // sent.
        let tokens: outpost_core::api::CreateTokenRequest =
            from_value(&json!({"name": "ci", "role": "viewer", "expires_in": 3600.0})).unwrap();
        assert_eq!(tokens.expires_in, Some(3600));
        for bad in [json!(3600.5), json!(-1.0), json!(1.9e19)] {
            assert!(
                from_value::<outpost_core::api::CreateTokenRequest>(
                    &json!({"name": "ci", "role": "viewer", "expires_in": bad})
                )
                .is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            from_value::<Value>(&json!({"X": [[1.0]]})).unwrap(),
            json!({"X": [[1.0]]})
        );
    }
}
