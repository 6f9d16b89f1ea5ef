//! PostgreSQL binary values → [`Value`]: every type decodes to something JSON can carry.

use std::error::Error as StdError;

use tokio_postgres::types::{FromSql, Kind, Type};

use crate::value::Value;

type BoxError = Box<dyn StdError + Sync + Send>;

/// A cell of any type, decoded from the binary wire format.
pub(crate) struct AnyValue(pub Value);

impl<'a> FromSql<'a> for AnyValue {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<AnyValue, BoxError> {
        decode(ty, raw).map(AnyValue)
    }

    fn from_sql_null(_: &Type) -> Result<AnyValue, BoxError> {
        Ok(AnyValue(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn be<const N: usize>(raw: &[u8], at: usize) -> Result<[u8; N], BoxError> {
    raw.get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| "value shorter than its type".into())
}

fn i16_at(raw: &[u8], at: usize) -> Result<i16, BoxError> {
    Ok(i16::from_be_bytes(be::<2>(raw, at)?))
}
fn i32_at(raw: &[u8], at: usize) -> Result<i32, BoxError> {
    Ok(i32::from_be_bytes(be::<4>(raw, at)?))
}
fn i64_at(raw: &[u8], at: usize) -> Result<i64, BoxError> {
    Ok(i64::from_be_bytes(be::<8>(raw, at)?))
}

pub(crate) fn decode(ty: &Type, raw: &[u8]) -> Result<Value, BoxError> {
    if let Kind::Array(elem) = ty.kind() {
        return decode_array(elem, raw);
    }
    if let Kind::Domain(inner) = ty.kind() {
        return decode(inner, raw);
    }
    Ok(match *ty {
        Type::BOOL => Value::Bool(raw.first().copied().unwrap_or(0) != 0),
        Type::INT2 => Value::Int(i64::from(i16_at(raw, 0)?)),
        Type::INT4 => Value::Int(i64::from(i32_at(raw, 0)?)),
        Type::INT8 => Value::Int(i64_at(raw, 0)?),
        Type::OID | Type::XID | Type::CID => {
            Value::Int(i64::from(u32::from_be_bytes(be::<4>(raw, 0)?)))
        }
        Type::FLOAT4 => Value::Float(f64::from(f32::from_be_bytes(be::<4>(raw, 0)?))),
        Type::FLOAT8 => Value::Float(f64::from_be_bytes(be::<8>(raw, 0)?)),
        Type::NUMERIC => Value::Text(numeric(raw)?),
        Type::MONEY => {
            let cents = i64_at(raw, 0)?;
            let sign = if cents < 0 { "-" } else { "" };
            let c = cents.unsigned_abs();
            Value::Text(format!("{sign}{}.{:02}", c / 100, c % 100))
        }
        Type::DATE => Value::Text(date(i32_at(raw, 0)?)),
        Type::TIME => Value::Text(time(i64_at(raw, 0)?)),
        Type::TIMETZ => {
            let t = time(i64_at(raw, 0)?);
            // The offset is stored in seconds west of UTC.
            Value::Text(format!("{t}{}", offset(-i32_at(raw, 8)?)))
        }
        Type::TIMESTAMP => Value::Text(timestamp(i64_at(raw, 0)?)),
        Type::TIMESTAMPTZ => Value::Text(format!("{}+00", timestamp(i64_at(raw, 0)?))),
        Type::INTERVAL => Value::Text(interval(i64_at(raw, 0)?, i32_at(raw, 8)?, i32_at(raw, 12)?)),
        Type::UUID => {
            let b = raw.get(..16).ok_or("short uuid")?;
            let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
            Value::Text(format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            ))
        }
        Type::JSONB => {
            Value::Text(String::from_utf8_lossy(raw.get(1..).unwrap_or(&[])).into_owned())
        }
        Type::BYTEA => Value::Bytes(raw.to_vec()),
        Type::CHAR => Value::Text(String::from_utf8_lossy(raw).into_owned()),
        _ => match std::str::from_utf8(raw) {
            // text, varchar, bpchar, name, json, xml, citext, enums: text on the wire.
            Ok(s) => Value::Text(s.to_string()),
            Err(_) => Value::Bytes(raw.to_vec()),
        },
    })
}

fn decode_array(elem: &Type, raw: &[u8]) -> Result<Value, BoxError> {
    let ndim = i32_at(raw, 0)?;
    if ndim == 0 {
        return Ok(Value::Array(Vec::new()));
    }
    let mut dims = Vec::new();
    for d in 0..ndim as usize {
        dims.push(i32_at(raw, 12 + d * 8)?.max(0) as usize);
    }
    let mut at = 12 + ndim as usize * 8;
    let total: usize = dims.iter().product();
    let mut flat = Vec::with_capacity(total.min(1 << 16));
    for _ in 0..total {
        let len = i32_at(raw, at)?;
        at += 4;
        if len < 0 {
            flat.push(Value::Null);
        } else {
            let len = len as usize;
            let bytes = raw.get(at..at + len).ok_or("array element past the end")?;
            flat.push(decode(elem, bytes)?);
            at += len;
        }
    }
    // Nest by dimensions, innermost last.
    let mut level = flat;
    for &d in dims.iter().skip(1).rev() {
        let d = d.max(1);
        let mut next = Vec::new();
        let mut it = level.into_iter().peekable();
        while it.peek().is_some() {
            next.push(Value::Array(it.by_ref().take(d).collect()));
        }
        level = next;
    }
    Ok(Value::Array(level))
}

/// NUMERIC's base-10000 digits → decimal text with its display scale.
fn numeric(raw: &[u8]) -> Result<String, BoxError> {
    let ndigits = i16_at(raw, 0)?.max(0) as usize;
    let weight = i16_at(raw, 2)? as i32;
    let sign = u16::from_be_bytes(be::<2>(raw, 4)?);
    let dscale = i16_at(raw, 6)?.max(0) as usize;
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let mut digits = Vec::with_capacity(ndigits);
    for i in 0..ndigits {
        digits.push(i16_at(raw, 8 + i * 2)?);
    }
    let mut int_part = String::new();
    for w in 0..=weight.max(-1) {
        let d = digits.get(w as usize).copied().unwrap_or(0);
        if int_part.is_empty() {
            if d != 0 || w == weight {
                int_part.push_str(&d.to_string());
            }
        } else {
            int_part.push_str(&format!("{d:04}"));
        }
    }
    if int_part.is_empty() {
        int_part.push('0');
    }
    let mut frac = String::new();
    if dscale > 0 {
        let mut i = weight + 1;
        while frac.len() < dscale {
            let d = if i < 0 {
                0
            } else {
                digits.get(i as usize).copied().unwrap_or(0)
            };
            frac.push_str(&format!("{d:04}"));
            i += 1;
        }
        frac.truncate(dscale);
    }
    let neg = if sign == 0x4000 { "-" } else { "" };
    Ok(if frac.is_empty() {
        format!("{neg}{int_part}")
    } else {
        format!("{neg}{int_part}.{frac}")
    })
}

/// Days since 2000-01-01 → `YYYY-MM-DD` (proleptic Gregorian).
fn date(days: i32) -> String {
    if days == i32::MAX {
        return "infinity".into();
    }
    if days == i32::MIN {
        return "-infinity".into();
    }
    let (y, m, d) = civil(i64::from(days) + 10_957);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn time(micros: i64) -> String {
    let s = micros.div_euclid(1_000_000);
    let us = micros.rem_euclid(1_000_000);
    let base = format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
    if us == 0 {
        base
    } else {
        format!("{base}.{}", format!("{us:06}").trim_end_matches('0'))
    }
}

fn timestamp(micros: i64) -> String {
    if micros == i64::MAX {
        return "infinity".into();
    }
    if micros == i64::MIN {
        return "-infinity".into();
    }
    let days = micros.div_euclid(86_400_000_000);
    let rest = micros.rem_euclid(86_400_000_000);
    let (y, m, d) = civil(days + 10_957);
    format!("{y:04}-{m:02}-{d:02} {}", time(rest))
}

fn offset(seconds_east: i32) -> String {
    let sign = if seconds_east < 0 { '-' } else { '+' };
    let s = seconds_east.unsigned_abs();
    if s.is_multiple_of(3600) {
        format!("{sign}{:02}", s / 3600)
    } else {
        format!("{sign}{:02}:{:02}", s / 3600, (s / 60) % 60)
    }
}

/// PostgreSQL's default interval style: `1 year 2 mons 3 days 04:05:06`.
fn interval(micros: i64, days: i32, months: i32) -> String {
    let mut parts = Vec::new();
    let (y, mo) = (months / 12, months % 12);
    let unit =
        |n: i64, one: &str, many: &str| format!("{n} {}", if n.abs() == 1 { one } else { many });
    if y != 0 {
        parts.push(unit(i64::from(y), "year", "years"));
    }
    if mo != 0 {
        parts.push(unit(i64::from(mo), "mon", "mons"));
    }
    if days != 0 {
        parts.push(unit(i64::from(days), "day", "days"));
    }
    if micros != 0 || parts.is_empty() {
        let sign = if micros < 0 { "-" } else { "" };
        parts.push(format!("{sign}{}", time(micros.abs())));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(ndigits: i16, weight: i16, sign: u16, dscale: i16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(ndigits.to_be_bytes());
        v.extend(weight.to_be_bytes());
        v.extend(sign.to_be_bytes());
        v.extend(dscale.to_be_bytes());
        for d in digits {
            v.extend(d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_render_like_postgres() {
        assert_eq!(numeric(&num(2, 0, 0, 2, &[12, 3400])).unwrap(), "12.34");
        assert_eq!(numeric(&num(1, 1, 0x4000, 0, &[5])).unwrap(), "-50000");
        assert_eq!(numeric(&num(1, -1, 0, 4, &[50])).unwrap(), "0.0050");
        assert_eq!(numeric(&num(0, 0, 0, 2, &[])).unwrap(), "0.00");
        assert_eq!(numeric(&num(2, 1, 0, 0, &[1, 0])).unwrap(), "10000");
        assert_eq!(numeric(&num(0, 0, 0xC000, 0, &[])).unwrap(), "NaN");
    }

    #[test]
    fn dates_and_times_render_like_postgres() {
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(-1), "1999-12-31");
        assert_eq!(date(8_825), "2024-02-29");
        assert_eq!(
            timestamp(86_400_000_000 + 3_723_500_000),
            "2000-01-02 01:02:03.5"
        );
        assert_eq!(
            interval(3_600_000_000, 3, 14),
            "1 year 2 mons 3 days 01:00:00"
        );
        assert_eq!(interval(0, 0, 0), "00:00:00");
        assert_eq!(offset(-5 * 3600), "-05");
    }
}
