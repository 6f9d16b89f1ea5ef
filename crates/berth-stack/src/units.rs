//! Small value types the stack file and catalog are written in: names, contracts,
//! durations, sizes, versions and model sizes. Each is validated when read.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, $check:path) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps a name.
            pub fn new(value: impl Into<String>) -> Result<Self, String> {
                let value = value.into();
                $check(&value)?;
                Ok($name(value))
            }
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

fn check_dns_label(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{value}` is not a valid name: use 1-63 lowercase letters, digits and `-`, \
             starting with a letter and not ending with `-`"
        ))
    }
}

fn check_contract(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.split('/').all(|part| check_dns_label(part).is_ok())
        && value.split('/').count() <= 2;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{value}` is not a valid contract: use kebab-case words, optionally `family/kind` \
             (for example `openai-chat`, `vector-store/qdrant`)"
        ))
    }
}

string_newtype!(
    /// A component, stack, source, pipeline, app or model name: a DNS label, because it
    /// becomes a container, service and Kubernetes object name.
    Name,
    check_dns_label
);

string_newtype!(
    /// A typed contract a component provides or needs, e.g. `openai-chat` or
    /// `vector-store/qdrant`. A need for a family (`vector-store`) is met by any contract of
    /// that family.
    ContractId,
    check_contract
);

impl ContractId {
    /// Whether a provided contract satisfies this (needed) one.
    pub fn is_met_by(&self, provided: &ContractId) -> bool {
        self.0 == provided.0
            || (!self.0.contains('/')
                && provided.0.split_once('/').map(|(family, _)| family) == Some(self.0.as_str()))
    }

    /// The contract as an environment-variable fragment: `vector-store/qdrant` →
    /// `VECTOR_STORE_QDRANT`.
    pub fn env_fragment(&self) -> String {
        self.0
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// A duration written as `30s`, `10m`, `2h` or `1h30m`; stored as whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub u64);

impl FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a duration: write it like `30s`, `10m` or `1h30m`");
        let mut total: u64 = 0;
        let mut digits = String::new();
        let mut any = false;
        for c in s.trim().chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let n: u64 = digits.parse().map_err(|_| bad())?;
            digits.clear();
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                _ => return Err(bad()),
            };
            total = total
                .checked_add(n.checked_mul(unit).ok_or_else(bad)?)
                .ok_or_else(bad)?;
            any = true;
        }
        if !digits.is_empty() || !any {
            return Err(bad());
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.0 / 3600, (self.0 % 3600) / 60, self.0 % 60);
        let mut out = String::new();
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if m > 0 {
            out.push_str(&format!("{m}m"));
        }
        if s > 0 || out.is_empty() {
            out.push_str(&format!("{s}s"));
        }
        f.write_str(&out)
    }
}

/// A size in bytes written the Kubernetes way: `512Mi`, `16Gi`, `2G`, or plain bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(pub u64);

impl Quantity {
    /// The size in GiB, for messages and memory arithmetic.
    pub fn gib(&self) -> f64 {
        self.0 as f64 / (1u64 << 30) as f64
    }
}

impl FromStr for Quantity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a size: write it like `512Mi`, `16Gi` or `2G`");
        let t = s.trim();
        let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num.parse().map_err(|_| bad())?;
        let mult: f64 = match unit {
            "" => 1.0,
            "K" | "k" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            "T" => 1e12,
            "Ki" => 1024.0,
            "Mi" => 1024f64.powi(2),
            "Gi" => 1024f64.powi(3),
            "Ti" => 1024f64.powi(4),
            _ => return Err(bad()),
        };
        if !n.is_finite() || n < 0.0 {
            return Err(bad());
        }
        Ok(Quantity((n * mult).round() as u64))
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const GI: u64 = 1 << 30;
        const MI: u64 = 1 << 20;
        if self.0.is_multiple_of(GI) && self.0 > 0 {
            write!(f, "{}Gi", self.0 / GI)
        } else if self.0.is_multiple_of(MI) && self.0 > 0 {
            write!(f, "{}Mi", self.0 / MI)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// A dotted numeric version (`550.54.15`, `12.4`), compared part by part and shown as
/// written.
#[derive(Debug, Clone)]
pub struct Version {
    parts: Vec<u32>,
    text: String,
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.parts == other.parts
    }
}
impl Eq for Version {}

impl FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Result<Vec<u32>, _> = s.trim().split('.').map(str::parse).collect();
        match parts {
            Ok(p) if !p.is_empty() => Ok(Version {
                parts: p,
                text: s.trim().to_string(),
            }),
            _ => Err(format!(
                "`{s}` is not a version: write it like `12.4` or `550.54.15`"
            )),
        }
    }
}

impl Version {
    /// Compares with trailing zeros ignored (`12.4` == `12.4.0`).
    pub fn at_least(&self, min: &Version) -> bool {
        let n = self.parts.len().max(min.parts.len());
        let pad = |v: &Version| {
            let mut p = v.parts.clone();
            p.resize(n, 0);
            p
        };
        pad(self) >= pad(min)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

macro_rules! string_parsed {
    ($($name:ident),*) => {$(
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}
string_parsed!(Duration, Quantity, Version);

/// How many parameters a model has, read from a size like `7B`, `1.5B`, `135M` or
/// `8x7B`, or from a model name that contains one (`Qwen2.5-7B-Instruct`).
pub fn parse_param_count(text: &str) -> Option<f64> {
    fn size(tok: &str) -> Option<f64> {
        let t = tok.to_ascii_lowercase();
        let (body, mult) = if let Some(b) = t.strip_suffix('b') {
            (b, 1e9)
        } else if let Some(m) = t.strip_suffix('m') {
            (m, 1e6)
        } else if let Some(k) = t.strip_suffix('t') {
            (k, 1e12)
        } else {
            return None;
        };
        if let Some((experts, each)) = body.split_once('x') {
            let e: f64 = experts.parse().ok()?;
            let n: f64 = each.parse().ok()?;
            return Some(e * n * mult);
        }
        let n: f64 = body.parse().ok()?;
        (n > 0.0).then_some(n * mult)
    }
    if let Some(n) = size(text.trim()) {
        return Some(n);
    }
    // The last path segment of a model id, split into tokens on `-`, `_`, `:` and `.`
    // boundaries that are not inside a number.
    let name = text.rsplit('/').next().unwrap_or(text);
    name.split(['-', '_', ':'])
        .filter_map(size)
        .fold(None, |best: Option<f64>, n| {
            Some(best.map_or(n, |b| b.max(n)))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!("30s".parse::<Duration>().unwrap().0, 30);
        assert_eq!("1h30m".parse::<Duration>().unwrap().0, 5400);
        assert!("30".parse::<Duration>().is_err());
        assert!("5x".parse::<Duration>().is_err());
        assert_eq!(Duration(5400).to_string(), "1h30m");
    }

    #[test]
    fn quantities() {
        assert_eq!("16Gi".parse::<Quantity>().unwrap().0, 16 << 30);
        assert_eq!("2G".parse::<Quantity>().unwrap().0, 2_000_000_000);
        assert!("16GB".parse::<Quantity>().is_err());
        assert_eq!(Quantity(24 << 30).to_string(), "24Gi");
    }

    #[test]
    fn versions_compare_numerically() {
        let v = |s: &str| s.parse::<Version>().unwrap();
        assert!(v("550.54.15").at_least(&v("535")));
        assert!(!v("12.2").at_least(&v("12.4")));
        assert!(v("12.10").at_least(&v("12.4")));
        assert!(v("12.4").at_least(&v("12.4.0")));
        assert!("12.x".parse::<Version>().is_err());
        assert_eq!(v("550.40.07").to_string(), "550.40.07");
    }

    #[test]
    fn model_sizes_from_names() {
        assert_eq!(parse_param_count("Qwen/Qwen2.5-7B-Instruct"), Some(7e9));
        assert_eq!(
            parse_param_count("meta-llama/Llama-3.1-70B-Instruct"),
            Some(70e9)
        );
        assert_eq!(parse_param_count("mistralai/Mixtral-8x7B-v0.1"), Some(56e9));
        assert_eq!(parse_param_count("Qwen/Qwen2.5-0.5B"), Some(0.5e9));
        assert_eq!(parse_param_count("HuggingFaceTB/SmolLM2-135M"), Some(135e6));
        assert_eq!(parse_param_count("llama3.1:8b"), Some(8e9));
        assert_eq!(parse_param_count("1.5B"), Some(1.5e9));
        assert_eq!(parse_param_count("BAAI/bge-small-en-v1.5"), None);
    }

    #[test]
    fn names_and_contracts() {
        assert!(Name::new("llm-1").is_ok());
        assert!(Name::new("LLM").is_err());
        assert!(Name::new("1llm").is_err());
        let need = ContractId::new("vector-store").unwrap();
        assert!(need.is_met_by(&ContractId::new("vector-store/qdrant").unwrap()));
        assert!(!need.is_met_by(&ContractId::new("sql/postgres").unwrap()));
        assert_eq!(
            ContractId::new("vector-store/qdrant")
                .unwrap()
                .env_fragment(),
            "VECTOR_STORE_QDRANT"
        );
    }
}
