//! Spotting integrations that leak request ids into environment slugs.
//!
//! An environment is an end-customer, so slugs are few and long-lived. An integration that
//! passes a request id, a trace id or a timestamp instead creates a new environment on every
//! call and soon hits the cap. This module recognises such slugs and, when the pattern is
//! clear, says in one sentence what the integration is probably doing. The environments API
//! and the cap e-mail both use it, so they always agree.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

/// What the diagnosis needs to know of one registered slug.
#[derive(Debug, Clone)]
pub struct SlugStat {
    pub slug: String,
    /// Executions ever recorded with this slug.
    pub executions: i64,
}

/// Why a slug looks leaked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pattern {
    Uuid,
    HexId,
    Timestamp,
    LongNumber,
    SingleUseBurst,
}

/// A slug that looks like it carries a per-request value.
#[derive(Debug, Clone)]
pub struct Suspicion {
    pub slug: String,
    pub pattern: Pattern,
    /// A sentence saying what it looks like.
    pub why: String,
}

/// The verdict over a tenant's slugs.
#[derive(Debug, Clone, Default)]
pub struct Diagnosis {
    pub suspicious: Vec<Suspicion>,
    /// One sentence on the probable bug, when the pattern is clear.
    pub likely_cause: Option<String>,
}

/// Fewer suspicious slugs than this is noise, not a pattern worth naming a cause for.
const CLEAR_PATTERN: usize = 5;
/// Slugs sharing a stem needed before a burst of single-use ones is suspicious.
const BURST: usize = 10;

static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9a-f]{8}_?[0-9a-f]{4}_?[0-9a-f]{4}_?[0-9a-f]{4}_?[0-9a-f]{12}").unwrap()
});
static HEX_RUN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[0-9a-f]{12,}").unwrap());
static DIGIT_RUN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[0-9]+").unwrap());
/// The stem of a slug: what is left when a trailing number or id is cut off.
static STEM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(.*?)_?[0-9a-f]*[0-9][0-9a-f]*$").unwrap());

/// Judges one slug on its own.
fn judge(slug: &str) -> Option<(Pattern, String)> {
    if UUID.is_match(slug) {
        return Some((
            Pattern::Uuid,
            "contains a UUID, like a request or trace id".to_string(),
        ));
    }

    for run in DIGIT_RUN.find_iter(slug).map(|m| m.as_str()) {
        if looks_like_timestamp(run) {
            return Some((
                Pattern::Timestamp,
                format!("contains '{run}', which looks like a timestamp"),
            ));
        }
    }

    let hex = HEX_RUN.find_iter(slug).map(|m| m.as_str()).find(|run| {
        run.chars().any(|c| c.is_ascii_digit()) && run.chars().any(|c| c.is_ascii_alphabetic())
    });
    if let Some(run) = hex {
        return Some((
            Pattern::HexId,
            format!("contains the hexadecimal id '{run}'"),
        ));
    }

    let tail = DIGIT_RUN
        .find_iter(slug)
        .last()
        .filter(|m| m.end() == slug.len());
    if let Some(tail) = tail.filter(|m| m.as_str().len() >= 6) {
        return Some((
            Pattern::LongNumber,
            format!(
                "ends with the long number '{}', like a request or order id",
                tail.as_str()
            ),
        ));
    }
    None
}

/// Unix seconds or milliseconds between 2001 and 2100, or a compact date(-time) such as
/// 20261203 or 20261203191100.
fn looks_like_timestamp(digits: &str) -> bool {
    let Ok(n) = digits.parse::<u64>() else {
        return false;
    };
    match digits.len() {
        10 => (1_000_000_000..4_102_444_800).contains(&n),
        13 => (1_000_000_000_000..4_102_444_800_000).contains(&n),
        8 | 12 | 14 => {
            let year = n / 10u64.pow(digits.len() as u32 - 4);
            let month = n / 10u64.pow(digits.len() as u32 - 6) % 100;
            let day = n / 10u64.pow(digits.len() as u32 - 8) % 100;
            (2000..2100).contains(&year) && (1..=12).contains(&month) && (1..=31).contains(&day)
        }
        _ => false,
    }
}

/// Diagnoses a tenant's registered slugs.
pub fn diagnose(slugs: &[SlugStat]) -> Diagnosis {
    let mut suspicious: Vec<Suspicion> = Vec::new();
    for stat in slugs {
        if let Some((pattern, why)) = judge(&stat.slug) {
            suspicious.push(Suspicion {
                slug: stat.slug.clone(),
                pattern,
                why,
            });
        }
    }

    // Many slugs that differ only in a trailing number, nearly all used once: the slug is being
    // built from something that changes on every request.
    let mut stems: BTreeMap<String, Vec<&SlugStat>> = BTreeMap::new();
    for stat in slugs {
        if let Some(stem) = STEM.captures(&stat.slug).and_then(|c| c.get(1)) {
            stems
                .entry(stem.as_str().to_string())
                .or_default()
                .push(stat);
        }
    }
    for (stem, members) in &stems {
        let single_use: Vec<&&SlugStat> = members.iter().filter(|s| s.executions <= 1).collect();
        if members.len() < BURST || single_use.len() * 5 < members.len() * 4 {
            continue;
        }
        for stat in single_use {
            if suspicious.iter().any(|s| s.slug == stat.slug) {
                continue;
            }
            suspicious.push(Suspicion {
                slug: stat.slug.clone(),
                pattern: Pattern::SingleUseBurst,
                why: format!(
                    "one of {} slugs starting with '{stem}' that were each used at most once",
                    members.len()
                ),
            });
        }
    }

    let likely_cause = likely_cause(&suspicious, slugs.len());
    suspicious.sort_by(|a, b| a.slug.cmp(&b.slug));
    Diagnosis {
        suspicious,
        likely_cause,
    }
}

fn likely_cause(suspicious: &[Suspicion], total: usize) -> Option<String> {
    if suspicious.len() < CLEAR_PATTERN {
        return None;
    }
    let mut counts: BTreeMap<Pattern, usize> = BTreeMap::new();
    for s in suspicious {
        *counts.entry(s.pattern).or_default() += 1;
    }
    let (pattern, n) = counts.into_iter().max_by_key(|(_, n)| *n)?;
    let what = match pattern {
        Pattern::Uuid => "a UUID (a request or trace id)",
        Pattern::HexId => "a hexadecimal id (a request, session or trace id)",
        Pattern::Timestamp => "a timestamp",
        Pattern::LongNumber => "a long number (a request or order id)",
        Pattern::SingleUseBurst => "a value that changes on every request",
    };
    Some(format!(
        "{n} of {total} environments look like they were named after {what}: the integration \
         probably sends that as environmentSlug instead of a stable customer id"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(slugs: &[&str]) -> Vec<SlugStat> {
        slugs
            .iter()
            .map(|s| SlugStat {
                slug: s.to_string(),
                executions: 1,
            })
            .collect()
    }

    #[test]
    fn ordinary_customer_slugs_are_not_suspicious() {
        let d = diagnose(&stats(&[
            "acme_corp",
            "globex",
            "customer_123",
            "initech_2024",
        ]));
        assert!(d.suspicious.is_empty(), "{:?}", d.suspicious);
        assert!(d.likely_cause.is_none());
    }

    #[test]
    fn request_ids_are_recognised() {
        assert_eq!(
            judge("req_9f1c2e7a_4b3d_4e5f_8a9b_0c1d2e3f4a5b").unwrap().0,
            Pattern::Uuid
        );
        assert_eq!(judge("t_1764789000").unwrap().0, Pattern::Timestamp);
        assert_eq!(judge("order_4810937").unwrap().0, Pattern::LongNumber);
        assert_eq!(judge("trace_5f3a9c2b1d7e").unwrap().0, Pattern::HexId);
    }
}
