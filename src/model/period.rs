//! Calendar periods for secret lifetimes and rotation windows: `30d`, `12w`, `6mo`, `2y`, or ISO-8601
//! durations of whole days such as `P1Y6M`.

use chrono::{DateTime, Days, Months, Utc};

/// A span of calendar time. Months and years are calendar months and years, so a secret created on
/// 31 January with lifetime `1mo` expires on the last day of February, as Graph would compute it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    pub years: u32,
    pub months: u32,
    pub days: u32,
}

impl Period {
    pub const fn days(days: u32) -> Period {
        Period {
            years: 0,
            months: 0,
            days,
        }
    }

    pub fn is_zero(&self) -> bool {
        self.years == 0 && self.months == 0 && self.days == 0
    }

    /// `start` plus this period; None only past the year 262,000.
    pub fn after(&self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let months = self.years.checked_mul(12)?.checked_add(self.months)?;
        start
            .checked_add_months(Months::new(months))?
            .checked_add_days(Days::new(u64::from(self.days)))
    }

    /// Parses the manifest notation. The error says what is accepted.
    pub fn parse(text: &str) -> Result<Period, String> {
        let text = text.trim();
        let parsed = if let Some(iso) = text.strip_prefix('P').or_else(|| text.strip_prefix('p')) {
            parse_iso(iso)
        } else {
            parse_short(text)
        };
        if text.ends_with('m')
            && text[..text.len() - 1].chars().all(|c| c.is_ascii_digit())
            && text.len() > 1
        {
            return Err(format!(
                "`{text}` is ambiguous (minutes or months?); write `{}o` for months",
                text
            ));
        }
        parsed.ok_or_else(|| {
            format!("`{text}` is not a duration; write a number and a unit (30d, 12w, 6mo, 2y) or ISO-8601 such as P1Y")
        })
    }
}

fn parse_short(text: &str) -> Option<Period> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u32 = number.parse().ok()?;
    match unit {
        "d" => Some(Period::days(n)),
        "w" => Some(Period::days(n.checked_mul(7)?)),
        "mo" => Some(Period {
            years: 0,
            months: n,
            days: 0,
        }),
        "y" => Some(Period {
            years: n,
            months: 0,
            days: 0,
        }),
        _ => None,
    }
}

/// `1Y2M3D`, `2W`: date components only; appreg's periods are whole days.
fn parse_iso(mut text: &str) -> Option<Period> {
    let mut period = Period::days(0);
    let mut seen = String::new();
    if text.is_empty() {
        return None;
    }
    while !text.is_empty() {
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let n: u32 = text[..split].parse().ok()?;
        let unit = text[split..].chars().next()?.to_ascii_uppercase();
        // Components must come in order Y, M, W, D, each once.
        if seen.chars().any(|u| "YMWD".find(u) >= "YMWD".find(unit)) {
            return None;
        }
        match unit {
            'Y' => period.years = n,
            'M' => period.months = n,
            'W' => period.days = period.days.checked_add(n.checked_mul(7)?)?,
            'D' => period.days = period.days.checked_add(n)?,
            _ => return None,
        }
        seen.push(unit);
        text = &text[split + 1..];
    }
    Some(period)
}

impl std::fmt::Display for Period {
    /// The canonical manifest notation; parsing it gives the same period back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.years, self.months, self.days) {
            (0, 0, d) => write!(f, "{d}d"),
            (0, m, 0) => write!(f, "{m}mo"),
            (y, 0, 0) => write!(f, "{y}y"),
            (y, m, d) => write!(f, "P{y}Y{m}M{d}D"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_notations() {
        let cases = [
            ("30d", Some(Period::days(30))),
            ("12w", Some(Period::days(84))),
            (
                "6mo",
                Some(Period {
                    years: 0,
                    months: 6,
                    days: 0,
                }),
            ),
            (
                "2y",
                Some(Period {
                    years: 2,
                    months: 0,
                    days: 0,
                }),
            ),
            (
                "P1Y",
                Some(Period {
                    years: 1,
                    months: 0,
                    days: 0,
                }),
            ),
            (
                "P1Y6M",
                Some(Period {
                    years: 1,
                    months: 6,
                    days: 0,
                }),
            ),
            ("P2W", Some(Period::days(14))),
            // `m` alone is ambiguous (minutes or months): refused.
            ("6m", None),
            // Time components are not whole days.
            ("PT12H", None),
            // Out-of-order ISO components are a typo, not a period.
            ("P1D1Y", None),
            ("", None),
            ("P", None),
            ("-5d", None),
            ("99999999999d", None),
        ];
        for (text, expected) in cases {
            assert_eq!(Period::parse(text).ok(), expected, "{text}");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["30d", "6mo", "2y", "P1Y6M0D", "0d"] {
            let period = Period::parse(text).unwrap();
            assert_eq!(
                Period::parse(&period.to_string()).unwrap(),
                period,
                "{text}"
            );
        }
    }

    #[test]
    fn months_clamp_to_the_end_of_shorter_months() {
        let start = "2026-01-31T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let one_month = Period::parse("1mo").unwrap().after(start).unwrap();
        assert_eq!(one_month.to_rfc3339(), "2026-02-28T00:00:00+00:00");
    }
}
