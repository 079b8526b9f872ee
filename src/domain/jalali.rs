//! The Jalali (Solar Hijri) calendar and the date, wait and number spellings the agent view shows.
//!
//! Conversion is the arithmetic 33-year-cycle algorithm with the break table of jalaali-js
//! (after Borkowski): it matches the official Iranian calendar for Jalali years -61..3177 and
//! keeps extrapolating the plain 33-year cycle outside them, so every `NaiveDate` converts.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

use super::digits::to_persian_digits;
use super::ticket::Language;

/// Persian names of the twelve Jalali months, Farvardin first.
pub const JALALI_MONTHS_FA: [&str; 12] = [
    "فروردین",
    "اردیبهشت",
    "خرداد",
    "تیر",
    "مرداد",
    "شهریور",
    "مهر",
    "آبان",
    "آذر",
    "دی",
    "بهمن",
    "اسفند",
];

/// A day in the Jalali calendar: `month` is 1–12, `day` 1–31.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JalaliDate {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl JalaliDate {
    pub fn new(year: i32, month: u32, day: u32) -> Self {
        JalaliDate { year, month, day }
    }

    /// The Persian name of this date's month, or `None` when the month is out of 1–12.
    pub fn month_name_fa(self) -> Option<&'static str> {
        jalali_month_name_fa(self.month)
    }
}

/// `1405-09-10`, with ASCII digits.
impl fmt::Display for JalaliDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The Persian name of a Jalali month (1 = فروردین … 12 = اسفند).
pub fn jalali_month_name_fa(month: u32) -> Option<&'static str> {
    let index = usize::try_from(month.checked_sub(1)?).ok()?;
    JALALI_MONTHS_FA.get(index).copied()
}

/// True when Esfand of `year` has 30 days.
pub fn is_leap_jalali_year(year: i32) -> bool {
    let year = i64::from(year);
    nowruz_day(year + 1) - nowruz_day(year) == 366
}

/// Days in a Jalali month: 31 for the first six, 30 for the next five, 29 or 30 for Esfand.
/// `None` when the month is out of 1–12.
pub fn jalali_month_length(year: i32, month: u32) -> Option<u32> {
    match month {
        1..=6 => Some(31),
        7..=11 => Some(30),
        12 if is_leap_jalali_year(year) => Some(30),
        12 => Some(29),
        _ => None,
    }
}

/// The Jalali date of a Gregorian one.
pub fn to_jalali(date: NaiveDate) -> JalaliDate {
    let day = i64::from(date.num_days_from_ce());
    let mut year = i64::from(date.year()) - 621;
    let mut start = nowruz_day(year);
    if day < start {
        year -= 1;
        start = nowruz_day(year);
    }
    let day_of_year = day - start; // 0-based, 0..=365
    let (month, day) = if day_of_year < 186 {
        (day_of_year / 31 + 1, day_of_year % 31 + 1)
    } else {
        let rest = day_of_year - 186;
        (rest / 30 + 7, rest % 30 + 1)
    };
    // The Gregorian year fits an i32, so the Jalali one (621 or 622 less) does too; month and
    // day are small and positive.
    JalaliDate {
        year: i32::try_from(year).unwrap_or(i32::MIN),
        month: u32::try_from(month).unwrap_or(1),
        day: u32::try_from(day).unwrap_or(1),
    }
}

/// The Gregorian date of a Jalali one; `None` for a day that does not exist (month 13,
/// 31 Mehr, 30 Esfand of a common year, …) or lies outside chrono's range.
pub fn from_jalali(date: JalaliDate) -> Option<NaiveDate> {
    let length = jalali_month_length(date.year, date.month)?;
    if date.day == 0 || date.day > length {
        return None;
    }
    let month = i64::from(date.month);
    let days_before_month = if month <= 7 {
        (month - 1) * 31
    } else {
        186 + (month - 7) * 30
    };
    let day = nowruz_day(i64::from(date.year)) + days_before_month + i64::from(date.day) - 1;
    NaiveDate::from_num_days_from_ce_opt(i32::try_from(day).ok()?)
}

/// A moment for the UI, in `tz`. Persian: `۱۰ آذر ۱۴۰۵، ۱۴:۳۰` (Jalali, Persian digits);
/// English: `2026-12-01 14:30` (Gregorian).
pub fn format_datetime(dt: DateTime<Utc>, tz: chrono_tz::Tz, lang: Language) -> String {
    let local = dt.with_timezone(&tz);
    match lang {
        Language::En => local.format("%Y-%m-%d %H:%M").to_string(),
        Language::Fa => {
            let date = to_jalali(local.date_naive());
            let month = date.month_name_fa().unwrap_or_default();
            let text = format!(
                "{} {} {}، {:02}:{:02}",
                date.day,
                month,
                date.year,
                local.hour(),
                local.minute()
            );
            to_persian_digits(&text)
        }
    }
}

/// How long something has waited, for "waiting for" columns, in whole minutes rounded down.
/// Under an hour: `45 min`; under a day: `3 h 20 min`; from a day on: `2 d 4 h`. A zero second
/// part is left out (`3 h`, `2 d`). Persian uses Persian digits and words joined by « و »:
/// `۳ ساعت و ۲۰ دقیقه`. A `since` after `now` counts as no wait.
pub fn format_relative_wait(since: DateTime<Utc>, now: DateTime<Utc>, lang: Language) -> String {
    let minutes = (now - since).num_minutes().max(0);
    let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    let parts: Vec<(i64, Unit)> = if days > 0 {
        vec![(days, Unit::Day), (hours, Unit::Hour)]
    } else if hours > 0 {
        vec![(hours, Unit::Hour), (mins, Unit::Minute)]
    } else {
        vec![(mins, Unit::Minute)]
    };
    let shown: Vec<String> = parts
        .iter()
        .enumerate()
        .filter(|(i, (value, _))| *i == 0 || *value > 0)
        .map(|(_, (value, unit))| format!("{value} {}", unit.word(lang)))
        .collect();
    match lang {
        Language::En => shown.join(" "),
        Language::Fa => to_persian_digits(&shown.join(" و ")),
    }
}

/// A count with thousands separators: `1,234,567` in English, `۱٬۲۳۴٬۵۶۷` in Persian
/// (Persian digits, U+066C ARABIC THOUSANDS SEPARATOR).
pub fn format_number(n: u64, lang: Language) -> String {
    let separator = match lang {
        Language::En => ',',
        Language::Fa => '\u{066C}',
    };
    let digits = n.to_string();
    let mut grouped = String::with_capacity(digits.len() * 2);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(separator);
        }
        grouped.push(c);
    }
    match lang {
        Language::En => grouped,
        Language::Fa => to_persian_digits(&grouped),
    }
}

#[derive(Clone, Copy)]
enum Unit {
    Day,
    Hour,
    Minute,
}

impl Unit {
    fn word(self, lang: Language) -> &'static str {
        match (self, lang) {
            (Unit::Day, Language::En) => "d",
            (Unit::Hour, Language::En) => "h",
            (Unit::Minute, Language::En) => "min",
            (Unit::Day, Language::Fa) => "روز",
            (Unit::Hour, Language::Fa) => "ساعت",
            (Unit::Minute, Language::Fa) => "دقیقه",
        }
    }
}

/// Jalali years at which the 33-year leap pattern shifts (jalaali-js).
const BREAKS: [i64; 20] = [
    -61, 9, 38, 199, 426, 686, 756, 818, 1111, 1181, 1210, 1635, 2060, 2097, 2192, 2262, 2324,
    2394, 2456, 3178,
];

/// 1 Farvardin of Jalali `year`, as a chrono day number (0001-01-01 is day 1).
fn nowruz_day(year: i64) -> i64 {
    let gregorian_year = year + 621;
    march_1_day(gregorian_year) + nowruz_march_day(year) - 1
}

/// The day of March (of Gregorian year `year + 621`) on which Jalali `year` begins.
fn nowruz_march_day(year: i64) -> i64 {
    let mut leap_j = -14;
    let mut jp = BREAKS[0];
    let mut jump = 0;
    for &jm in &BREAKS[1..] {
        jump = jm - jp;
        if year < jm {
            break;
        }
        leap_j += jump.div_euclid(33) * 8 + jump.rem_euclid(33).div_euclid(4);
        jp = jm;
    }
    let n = year - jp;
    leap_j += n.div_euclid(33) * 8 + (n.rem_euclid(33) + 3).div_euclid(4);
    if jump.rem_euclid(33) == 4 && jump - n == 4 {
        leap_j += 1;
    }
    let gy = year + 621;
    let leap_g = gy.div_euclid(4) - ((gy.div_euclid(100) + 1) * 3).div_euclid(4) - 150;
    20 + leap_j - leap_g
}

/// 1 March of a proleptic Gregorian year as a chrono day number (0001-01-01 is day 1).
fn march_1_day(year: i64) -> i64 {
    // Days from 0000-03-01 (a March-based year makes the leap day the year's last).
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100;
    let from_0000_03_01 = era * 146_097 + day_of_era;
    // 0000-03-01 is chrono day -305 (0000-12-31 is day 0).
    from_0000_03_01 - 305
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn march_1_matches_chrono() {
        for year in [
            1, 4, 100, 400, 1600, 1900, 1979, 2000, 2024, 2025, 2100, 9999,
        ] {
            assert_eq!(
                march_1_day(i64::from(year)),
                i64::from(ymd(year, 3, 1).num_days_from_ce()),
                "{year}"
            );
        }
        assert_eq!(march_1_day(-1), i64::from(ymd(-1, 3, 1).num_days_from_ce()));
    }

    #[test]
    fn known_pairs() {
        let pairs = [
            (ymd(2026, 3, 21), (1405, 1, 1)),
            (ymd(2025, 3, 21), (1404, 1, 1)),
            (ymd(2024, 3, 20), (1403, 1, 1)),
            (ymd(1979, 2, 11), (1357, 11, 22)),
            (ymd(1979, 3, 21), (1358, 1, 1)),
            (ymd(2026, 12, 1), (1405, 9, 10)),
            (ymd(2000, 1, 1), (1378, 10, 11)),
            (ymd(2025, 3, 20), (1403, 12, 30)),
            (ymd(2026, 3, 20), (1404, 12, 29)),
            (ymd(2024, 3, 19), (1402, 12, 29)),
            (ymd(2021, 3, 20), (1399, 12, 30)),
            (ymd(2023, 9, 23), (1402, 7, 1)),
            (ymd(2023, 9, 22), (1402, 6, 31)),
        ];
        for (gregorian, (y, m, d)) in pairs {
            let jalali = JalaliDate::new(y, m, d);
            assert_eq!(to_jalali(gregorian), jalali, "{gregorian}");
            assert_eq!(from_jalali(jalali), Some(gregorian), "{jalali}");
        }
    }

    #[test]
    fn nowruz_dates() {
        let nowruz = [
            (1395, ymd(2016, 3, 20)),
            (1396, ymd(2017, 3, 21)),
            (1397, ymd(2018, 3, 21)),
            (1398, ymd(2019, 3, 21)),
            (1399, ymd(2020, 3, 20)),
            (1400, ymd(2021, 3, 21)),
            (1401, ymd(2022, 3, 21)),
            (1402, ymd(2023, 3, 21)),
            (1403, ymd(2024, 3, 20)),
            (1404, ymd(2025, 3, 21)),
            (1405, ymd(2026, 3, 21)),
        ];
        for (year, date) in nowruz {
            assert_eq!(
                from_jalali(JalaliDate::new(year, 1, 1)),
                Some(date),
                "{year}"
            );
        }
    }

    #[test]
    fn every_day_from_1990_to_2060_round_trips_and_follows_the_previous() {
        let mut date = ymd(1990, 1, 1);
        let mut previous = to_jalali(date.pred_opt().unwrap());
        while date <= ymd(2060, 12, 31) {
            let jalali = to_jalali(date);
            assert_eq!(from_jalali(jalali), Some(date), "{date} -> {jalali}");
            let expected_next =
                if previous.day < jalali_month_length(previous.year, previous.month).unwrap() {
                    JalaliDate::new(previous.year, previous.month, previous.day + 1)
                } else if previous.month < 12 {
                    JalaliDate::new(previous.year, previous.month + 1, 1)
                } else {
                    JalaliDate::new(previous.year + 1, 1, 1)
                };
            assert_eq!(jalali, expected_next, "{date}");
            previous = jalali;
            date = date.succ_opt().unwrap();
        }
    }

    #[test]
    fn leap_years() {
        assert!(is_leap_jalali_year(1403));
        assert!(!is_leap_jalali_year(1404));
        assert!(is_leap_jalali_year(1399));
        assert!(is_leap_jalali_year(1408));
        assert!(!is_leap_jalali_year(1400));
        assert!(!is_leap_jalali_year(1407));
        assert_eq!(
            from_jalali(JalaliDate::new(1403, 12, 30)),
            Some(ymd(2025, 3, 20))
        );
        assert_eq!(from_jalali(JalaliDate::new(1404, 12, 30)), None);
        let leaps: Vec<i32> = (1370..=1420).filter(|y| is_leap_jalali_year(*y)).collect();
        assert_eq!(
            leaps,
            [
                1370, 1375, 1379, 1383, 1387, 1391, 1395, 1399, 1403, 1408, 1412, 1416, 1420
            ]
        );
    }

    #[test]
    fn impossible_days_are_none() {
        assert_eq!(from_jalali(JalaliDate::new(1404, 0, 1)), None);
        assert_eq!(from_jalali(JalaliDate::new(1404, 13, 1)), None);
        assert_eq!(from_jalali(JalaliDate::new(1404, 1, 0)), None);
        assert_eq!(
            from_jalali(JalaliDate::new(1404, 6, 31)).map(|d| d.month()),
            Some(9)
        );
        assert_eq!(from_jalali(JalaliDate::new(1404, 7, 31)), None);
        assert_eq!(from_jalali(JalaliDate::new(i32::MAX, 1, 1)), None);
    }

    #[test]
    fn extreme_dates_convert_without_panicking() {
        for date in [
            NaiveDate::MIN,
            NaiveDate::MAX,
            ymd(1, 1, 1),
            ymd(500, 6, 1),
            ymd(5000, 6, 1),
        ] {
            let jalali = to_jalali(date);
            assert!((1..=12).contains(&jalali.month), "{date}");
            assert_eq!(from_jalali(jalali), Some(date), "{date}");
        }
    }

    #[test]
    fn month_names() {
        assert_eq!(jalali_month_name_fa(1), Some("فروردین"));
        assert_eq!(jalali_month_name_fa(9), Some("آذر"));
        assert_eq!(jalali_month_name_fa(12), Some("اسفند"));
        assert_eq!(jalali_month_name_fa(0), None);
        assert_eq!(jalali_month_name_fa(13), None);
        assert_eq!(JalaliDate::new(1405, 9, 10).to_string(), "1405-09-10");
    }

    #[test]
    fn persian_digits() {
        assert_eq!(to_persian_digits("1405-09-10 ab"), "۱۴۰۵-۰۹-۱۰ ab");
    }

    #[test]
    fn datetimes_in_both_languages() {
        let tehran = chrono_tz::Asia::Tehran;
        let moment = utc(2026, 12, 1, 11, 0);
        assert_eq!(
            format_datetime(moment, tehran, Language::Fa),
            "۱۰ آذر ۱۴۰۵، ۱۴:۳۰"
        );
        assert_eq!(
            format_datetime(moment, tehran, Language::En),
            "2026-12-01 14:30"
        );
        assert_eq!(
            format_datetime(moment, chrono_tz::UTC, Language::En),
            "2026-12-01 11:00"
        );
        // Late UTC evening is already the next day (and the next Jalali year) in Tehran.
        let eve = utc(2026, 3, 20, 21, 5);
        assert_eq!(
            format_datetime(eve, tehran, Language::Fa),
            "۱ فروردین ۱۴۰۵، ۰۰:۳۵"
        );
        assert_eq!(
            format_datetime(eve, tehran, Language::En),
            "2026-03-21 00:35"
        );
    }

    #[test]
    fn waits_in_both_languages() {
        let now = utc(2026, 12, 1, 12, 0);
        let ago = |minutes: i64| now - chrono::Duration::minutes(minutes);
        assert_eq!(
            format_relative_wait(ago(200), now, Language::En),
            "3 h 20 min"
        );
        assert_eq!(
            format_relative_wait(ago(200), now, Language::Fa),
            "۳ ساعت و ۲۰ دقیقه"
        );
        assert_eq!(
            format_relative_wait(ago(52 * 60 + 7), now, Language::En),
            "2 d 4 h"
        );
        assert_eq!(
            format_relative_wait(ago(52 * 60 + 7), now, Language::Fa),
            "۲ روز و ۴ ساعت"
        );
        assert_eq!(format_relative_wait(ago(45), now, Language::En), "45 min");
        assert_eq!(format_relative_wait(ago(45), now, Language::Fa), "۴۵ دقیقه");
        assert_eq!(format_relative_wait(ago(180), now, Language::En), "3 h");
        assert_eq!(format_relative_wait(ago(180), now, Language::Fa), "۳ ساعت");
        assert_eq!(
            format_relative_wait(ago(1440 + 30), now, Language::En),
            "1 d"
        );
        assert_eq!(format_relative_wait(ago(0), now, Language::En), "0 min");
        assert_eq!(
            format_relative_wait(now + chrono::Duration::minutes(5), now, Language::Fa),
            "۰ دقیقه"
        );
        let seconds = now - chrono::Duration::seconds(119);
        assert_eq!(format_relative_wait(seconds, now, Language::En), "1 min");
    }

    #[test]
    fn numbers_in_both_languages() {
        assert_eq!(format_number(0, Language::En), "0");
        assert_eq!(format_number(999, Language::En), "999");
        assert_eq!(format_number(1000, Language::En), "1,000");
        assert_eq!(format_number(1_234_567, Language::En), "1,234,567");
        assert_eq!(format_number(1_234_567, Language::Fa), "۱٬۲۳۴٬۵۶۷");
        assert_eq!(format_number(45, Language::Fa), "۴۵");
        assert_eq!(
            format_number(u64::MAX, Language::En),
            "18,446,744,073,709,551,615"
        );
    }
}
