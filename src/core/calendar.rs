//! England & Wales working-day calendar.
//!
//! The Housing Ombudsman's Complaint Handling Code expresses every deadline
//! in *working days*: a complaint must be acknowledged, answered or escalated
//! within so many working days of an event. Counting calendar days instead
//! would make a landlord look late (or early) around weekends and bank
//! holidays, so all due dates in the crate are derived from this module.
//!
//! A working day is Monday to Friday, excluding England & Wales bank holidays
//! and any closure days the landlord configures. "N working days after D" is
//! the N-th working day strictly after the calendar date D, so a complaint
//! received on a Saturday or a bank holiday starts counting from the next
//! working day.
//!
//! Bank holidays are mostly rule-based (fixed dates, Easter, "first/last
//! Monday of"), but when a fixed-date holiday falls at a weekend the day
//! actually taken off is a *substitute* weekday. Only the observed day matters
//! for counting, so [`bank_holidays`] returns substitute days, never the
//! weekend date. A few holidays were moved or added by royal proclamation
//! (jubilees, a wedding, a funeral, a coronation, VE-day anniversaries); those
//! cannot be derived from any rule, so they live in small tables below. One-off
//! holidays announced after this module was written are configured as closure
//! days rather than edited in here, so that a deployment can react to a
//! proclamation without a new release.
//!
//! The rules are algorithmic and apply to any year. They are verified for
//! [`FIRST_YEAR`]..=[`LAST_YEAR`]: year by year against the published lists
//! (the test fixture, 1995 to 2030), and for every year of the range by
//! checking the regular pattern. That range is precomputed once, because due
//! dates are computed constantly; other years are computed on demand.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// First year for which the holiday rules are verified and precomputed.
pub const FIRST_YEAR: i32 = 1995;
/// Last year for which the holiday rules are verified and precomputed.
pub const LAST_YEAR: i32 = 2100;

/// Early May bank holiday moved by proclamation (VE Day anniversaries).
const MOVED_EARLY_MAY: [(i32, u32, u32); 2] = [(1995, 5, 8), (2020, 5, 8)];
/// Spring bank holiday moved by proclamation to sit next to a jubilee.
const MOVED_SPRING: [(i32, u32, u32); 3] = [(2002, 6, 4), (2012, 6, 4), (2022, 6, 2)];
/// Additional one-off bank holidays. Proclamations cannot be computed, hence a table.
const ONE_OFFS: [(i32, u32, u32); 7] = [
    (1999, 12, 31), // Millennium
    (2002, 6, 3),   // Golden Jubilee
    (2011, 4, 29),  // Wedding of Prince William and Catherine Middleton
    (2012, 6, 5),   // Diamond Jubilee
    (2022, 6, 3),   // Platinum Jubilee
    (2022, 9, 19),  // State Funeral of Queen Elizabeth II
    (2023, 5, 8),   // Coronation of King Charles III
];

/// Observed England & Wales bank holidays of `year` (the weekday actually
/// taken off, i.e. the substitute day, never the weekend date), ascending, no
/// duplicates. Empty for years chrono cannot represent.
pub fn bank_holidays(year: i32) -> Vec<NaiveDate> {
    compute_year(year).unwrap_or_default()
}

/// `None` only when a date of `year` is outside chrono's range.
fn compute_year(year: i32) -> Option<Vec<NaiveDate>> {
    let date = |m: u32, d: u32| NaiveDate::from_ymd_opt(year, m, d);
    let proclaimed = |table: &[(i32, u32, u32)]| {
        let found = table.iter().find(|t| t.0 == year);
        found.and_then(|&(_, m, d)| date(m, d))
    };
    let easter = easter_sunday(year)?;
    let mut days = Vec::with_capacity(10);
    days.push(next_free_weekday(date(1, 1)?, &days)?);
    days.push(easter.checked_sub_days(Days::new(2))?);
    days.push(easter.checked_add_days(Days::new(1))?);
    days.push(match proclaimed(&MOVED_EARLY_MAY) {
        Some(d) => d,
        None => first_monday_of(date(5, 1)?)?,
    });
    days.push(match proclaimed(&MOVED_SPRING) {
        Some(d) => d,
        None => last_monday_of(date(5, 31)?)?,
    });
    days.push(last_monday_of(date(8, 31)?)?);
    // Christmas first, so that when both fall at a weekend Boxing Day's
    // substitute moves past Christmas's (Mon 27 and Tue 28).
    for day in [25, 26] {
        let substitute = next_free_weekday(date(12, day)?, &days)?;
        days.push(substitute);
    }
    days.extend(
        ONE_OFFS
            .iter()
            .filter(|t| t.0 == year)
            .filter_map(|&(_, m, d)| date(m, d)),
    );
    days.sort_unstable();
    days.dedup();
    Some(days)
}

/// Easter Sunday by the anonymous Gregorian (Meeus/Jones/Butcher) algorithm.
/// Euclidean division keeps it total for negative years as well.
fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let y = i64::from(year);
    let (a, b, c) = (y.rem_euclid(19), y.div_euclid(100), y.rem_euclid(100));
    let (d, e) = (b.div_euclid(4), b.rem_euclid(4));
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let (i, k) = (c.div_euclid(4), c.rem_euclid(4));
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let n = h + l - 7 * m + 114;
    let month = u32::try_from(n.div_euclid(31)).ok()?;
    let day = u32::try_from(n.rem_euclid(31) + 1).ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The substitute-day rule: roll forward past weekends and days already taken.
fn next_free_weekday(mut d: NaiveDate, taken: &[NaiveDate]) -> Option<NaiveDate> {
    while is_weekend(d) || taken.contains(&d) {
        d = d.succ_opt()?;
    }
    Some(d)
}

fn first_monday_of(first_of_month: NaiveDate) -> Option<NaiveDate> {
    let ahead = (7 - first_of_month.weekday().num_days_from_monday()) % 7;
    first_of_month.checked_add_days(Days::new(u64::from(ahead)))
}

fn last_monday_of(last_of_month: NaiveDate) -> Option<NaiveDate> {
    let back = last_of_month.weekday().num_days_from_monday();
    last_of_month.checked_sub_days(Days::new(u64::from(back)))
}

/// Day number (0001-01-01 is day 1, a Monday). `i64` so sums cannot overflow.
fn day_num(d: NaiveDate) -> i64 {
    i64::from(d.num_days_from_ce())
}

fn from_day_num(n: i64) -> Option<NaiveDate> {
    i32::try_from(n)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
}

/// Weekdays among day numbers `(0, x]` (extended to negative `x`), so the
/// weekdays in `(a, b]` are `weekday_count(b) - weekday_count(a)`. This is the
/// "5 working days per 7 calendar days" shortcut in closed form.
fn weekday_count(x: i64) -> i64 {
    5 * x.div_euclid(7) + x.rem_euclid(7).min(5)
}

/// The smallest day number `x` with `weekday_count(x) == target`; always a
/// weekday, because `weekday_count` only steps up on weekdays.
fn day_with_weekday_count(target: i64) -> i64 {
    let t = target - 1;
    7 * t.div_euclid(5) + t.rem_euclid(5) + 1
}

/// Prefix counts of the precomputed bank holidays: `prefix[i]` is the number
/// of holidays before day `first + i`, so any range is counted in O(1).
struct Table {
    first: i64,
    prefix: Vec<u16>,
}

impl Table {
    fn get() -> &'static Table {
        static TABLE: OnceLock<Table> = OnceLock::new();
        TABLE.get_or_init(|| {
            let first = NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1).expect("FIRST_YEAR is valid");
            let last = NaiveDate::from_ymd_opt(LAST_YEAR, 12, 31).expect("LAST_YEAR is valid");
            let first = day_num(first);
            let len = usize::try_from(day_num(last) - first + 1).expect("range is positive");
            let mut marks = vec![false; len];
            for year in FIRST_YEAR..=LAST_YEAR {
                for d in bank_holidays(year) {
                    let i = usize::try_from(day_num(d) - first).unwrap_or(usize::MAX);
                    if let Some(mark) = marks.get_mut(i) {
                        *mark = true;
                    }
                }
            }
            let mut prefix = Vec::with_capacity(len + 1);
            prefix.push(0u16);
            let mut running = 0u16;
            for marked in marks {
                running += u16::from(marked);
                prefix.push(running);
            }
            Table { first, prefix }
        })
    }

    /// Last covered day number.
    fn last(&self) -> i64 {
        self.first + self.prefix.len() as i64 - 2
    }

    fn contains(&self, day: i64) -> Option<bool> {
        let i = usize::try_from(day - self.first).ok()?;
        Some(self.prefix.get(i + 1)? != self.prefix.get(i)?)
    }

    /// Holidays in `(a, b]` intersected with the covered range.
    fn count(&self, a: i64, b: i64) -> i64 {
        let (lo, hi) = (a.max(self.first - 1), b.min(self.last()));
        if hi <= lo {
            return 0;
        }
        let at = |x: i64| i64::from(self.prefix[(x - self.first + 1) as usize]);
        at(hi) - at(lo)
    }
}

fn is_bank_holiday_date(d: NaiveDate) -> bool {
    Table::get()
        .contains(day_num(d))
        .unwrap_or_else(|| bank_holidays(d.year()).contains(&d))
}

/// Bank holidays on weekdays in `(a, b]`; both ends must be representable.
fn bank_holidays_between(a: i64, b: i64) -> i64 {
    let table = Table::get();
    let mut count = table.count(a, b);
    let (Some(start), Some(end)) = (from_day_num(a + 1), from_day_num(b)) else {
        return count;
    };
    let (y0, y1) = (start.year(), end.year());
    // Outside the table, fall back to computing year by year.
    for year in (y0..=y1.min(FIRST_YEAR - 1)).chain(y0.max(LAST_YEAR + 1)..=y1) {
        count += bank_holidays(year)
            .into_iter()
            .filter(|&d| !is_weekend(d) && (a + 1..=b).contains(&day_num(d)))
            .count() as i64;
    }
    count
}

/// England & Wales working days plus the landlord's own closure days.
///
/// Cheap to clone: the bank holidays are shared process-wide and only the
/// closures are held per calendar.
#[derive(Clone, Debug, Default)]
pub struct Calendar {
    closures: BTreeSet<NaiveDate>,
    /// Day numbers of closures that would otherwise be working days, sorted.
    /// Closures on weekends or bank holidays change nothing, and leaving them
    /// out means no day is ever subtracted twice.
    extra: Vec<i64>,
}

impl Calendar {
    /// Bank holidays only.
    pub fn england_and_wales() -> Self {
        Self::default()
    }

    /// Adds landlord closure days (e.g. office closure, future one-off bank
    /// holidays). Days that are already non-working are accepted and ignored.
    pub fn with_closures(mut self, days: impl IntoIterator<Item = NaiveDate>) -> Self {
        self.closures.extend(days);
        self.extra = self
            .closures
            .iter()
            .filter(|&&d| !is_weekend(d) && !is_bank_holiday_date(d))
            .map(|&d| day_num(d))
            .collect();
        self
    }

    /// The configured closure days, ascending.
    pub fn closures(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.closures.iter().copied()
    }

    /// Whether `d` is an observed England & Wales bank holiday (closures excluded).
    pub fn is_bank_holiday(&self, d: NaiveDate) -> bool {
        is_bank_holiday_date(d)
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        !is_weekend(d) && !is_bank_holiday_date(d) && !self.closures.contains(&d)
    }

    /// Non-working weekdays (bank holidays and closures) in `(a, b]`.
    fn off_weekdays_between(&self, a: i64, b: i64) -> i64 {
        let upto = |x: i64| self.extra.partition_point(|&c| c <= x) as i64;
        bank_holidays_between(a, b) + upto(b) - upto(a)
    }

    /// The n-th working day strictly after `from`; n == 0 returns `from`
    /// unchanged. Saturates at `NaiveDate::MAX` if the answer is beyond it.
    ///
    /// Jumps straight to the n-th weekday, then moves on by as many working
    /// days as there were holidays and closures in the span, until the span
    /// holds none. Cost depends on the number of holidays, not on `n`.
    pub fn add_working_days(&self, from: NaiveDate, n: u32) -> NaiveDate {
        let max = day_num(NaiveDate::MAX);
        let (mut a, mut need) = (day_num(from), i64::from(n));
        while need > 0 {
            let b = day_with_weekday_count(weekday_count(a) + need);
            if b > max {
                return NaiveDate::MAX;
            }
            need = self.off_weekdays_between(a, b);
            a = b;
        }
        from_day_num(a).unwrap_or(from)
    }

    /// Number of working days d with from < d <= to (0 when to <= from).
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        let (a, b) = (day_num(from), day_num(to));
        if b <= a {
            return 0;
        }
        let n = weekday_count(b) - weekday_count(a) - self.off_weekdays_between(a, b);
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The n-th working day strictly before `to` (n == 0 returns `to`), for
    /// "N working days before a due date" alerts. Saturates at
    /// `NaiveDate::MIN`. Mirror image of [`Calendar::add_working_days`].
    pub fn sub_working_days(&self, to: NaiveDate, n: u32) -> NaiveDate {
        let min = day_num(NaiveDate::MIN);
        let (mut b, mut need) = (day_num(to), i64::from(n));
        while need > 0 {
            // Latest weekday `a` with exactly `need` weekdays in [a, b).
            let a = day_with_weekday_count(weekday_count(b - 1) - need + 1);
            if a < min {
                return NaiveDate::MIN;
            }
            need = self.off_weekdays_between(a - 1, b - 1);
            b = a;
        }
        from_day_num(b).unwrap_or(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const FIXTURE: &str = include_str!("../../tests/fixtures/holidays_england_wales.txt");

    fn ymd(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
    }

    fn naive_add(cal: &Calendar, from: NaiveDate, n: u32) -> NaiveDate {
        let (mut d, mut left) = (from, n);
        while left > 0 {
            d = d.succ_opt().expect("in range");
            left -= u32::from(cal.is_working_day(d));
        }
        d
    }

    fn naive_sub(cal: &Calendar, to: NaiveDate, n: u32) -> NaiveDate {
        let (mut d, mut left) = (to, n);
        while left > 0 {
            d = d.pred_opt().expect("in range");
            left -= u32::from(cal.is_working_day(d));
        }
        d
    }

    #[test]
    fn bank_holidays_match_the_official_fixture_for_every_listed_year() {
        let mut by_year: BTreeMap<i32, Vec<NaiveDate>> = BTreeMap::new();
        let lines = FIXTURE
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim());
        for d in lines.filter(|l| !l.is_empty()).map(ymd) {
            by_year.entry(d.year()).or_default().push(d);
        }
        assert_eq!(
            by_year.keys().copied().collect::<Vec<_>>(),
            (1995..=2030).collect::<Vec<_>>()
        );
        for (year, expected) in by_year {
            assert_eq!(bank_holidays(year), expected, "year {year}");
        }
    }

    /// Whitespace-separated `YYYY-MM-DD` dates.
    fn dates(s: &str) -> Vec<NaiveDate> {
        s.split_whitespace().map(ymd).collect()
    }

    #[test]
    fn proclaimed_moves_and_one_off_holidays_are_observed() {
        let cal = Calendar::england_and_wales();
        for d in dates(
            "1995-05-08 1999-12-31 2002-06-03 2002-06-04 2011-04-29 2012-06-04 2012-06-05
             2020-05-08 2022-06-02 2022-06-03 2022-09-19 2023-05-01 2023-05-08",
        ) {
            assert!(cal.is_bank_holiday(d), "{d}");
        }
        // The regular dates those moves replaced are ordinary working days.
        for d in dates("1995-05-01 2002-05-27 2012-05-28 2020-05-04 2022-05-30") {
            assert!(cal.is_working_day(d), "{d}");
        }
    }

    #[test]
    fn weekend_christmas_and_new_year_are_replaced_by_substitute_days() {
        let cal = Calendar::england_and_wales();
        for d in dates(
            "2004-12-27 2004-12-28 2010-12-27 2010-12-28 2015-12-28 2020-12-28 2021-12-27
             2021-12-28 2022-01-03 2022-12-26 2022-12-27 2027-12-27 2027-12-28",
        ) {
            assert!(cal.is_bank_holiday(d) && !cal.is_working_day(d), "{d}");
        }
        for d in dates("2004-12-25 2010-12-25 2021-12-25 2022-01-01 2027-12-25") {
            assert_eq!(d.weekday(), Weekday::Sat, "{d}");
        }
        // The weekend dates themselves are never reported.
        for d in dates("2021-12-25 2021-12-26 2022-01-01 2015-12-26 2022-12-25 2027-12-26") {
            assert!(!bank_holidays(d.year()).contains(&d), "{d}");
        }
    }

    #[test]
    fn every_supported_year_has_eight_weekday_holidays_plus_one_offs() {
        for year in FIRST_YEAR..=LAST_YEAR {
            let days = bank_holidays(year);
            let extra = ONE_OFFS.iter().filter(|t| t.0 == year).count();
            assert_eq!(days.len(), 8 + extra, "year {year}");
            assert!(
                days.windows(2).all(|w| w[0] < w[1]),
                "year {year} ascending"
            );
            assert!(
                days.iter().all(|d| d.year() == year && !is_weekend(*d)),
                "{year}"
            );
            let easter = easter_sunday(year).expect("easter");
            let good_friday = easter - Days::new(2);
            let easter_monday = easter + Days::new(1);
            assert!(days.contains(&good_friday) && days.contains(&easter_monday));
            assert_eq!((easter_monday - good_friday).num_days(), 3);
            assert_eq!(good_friday.weekday(), Weekday::Fri);
        }
    }

    #[test]
    fn easter_is_a_sunday_between_22_march_and_25_april_for_any_year() {
        assert_eq!(easter_sunday(2000), Some(ymd("2000-04-23")));
        assert_eq!(easter_sunday(2285), Some(ymd("2285-03-22")));
        assert_eq!(easter_sunday(2038), Some(ymd("2038-04-25")));
        for year in -5000..=5000 {
            let e = easter_sunday(year).expect("easter");
            assert_eq!(e.weekday(), Weekday::Sun, "{year}");
            let (m, d) = (e.month(), e.day());
            assert!((m == 3 && d >= 22) || (m == 4 && d <= 25), "{year}: {e}");
        }
    }

    fn add(cal: &Calendar, from: &str, n: u32) -> String {
        cal.add_working_days(ymd(from), n).to_string()
    }

    fn sub(cal: &Calendar, to: &str, n: u32) -> String {
        cal.sub_working_days(ymd(to), n).to_string()
    }

    fn between(cal: &Calendar, from: &str, to: &str) -> u32 {
        cal.working_days_between(ymd(from), ymd(to))
    }

    #[test]
    fn five_working_days_from_friday_18_december_2026_skip_christmas() {
        let cal = Calendar::england_and_wales();
        assert_eq!(add(&cal, "2026-12-18", 5), "2026-12-29");
        assert_eq!(sub(&cal, "2026-12-29", 5), "2026-12-18");
        assert_eq!(between(&cal, "2026-12-18", "2026-12-29"), 5);
    }

    #[test]
    fn message_received_on_a_weekend_or_holiday_counts_from_the_next_working_day() {
        let cal = Calendar::default();
        assert_eq!(add(&cal, "2026-03-14", 1), "2026-03-16"); // Saturday
        assert_eq!(add(&cal, "2026-03-15", 1), "2026-03-16"); // Sunday
        assert_eq!(add(&cal, "2026-04-03", 1), "2026-04-07"); // Good Friday
        assert_eq!(add(&cal, "2026-03-14", 0), "2026-03-14");
        assert_eq!(sub(&cal, "2026-03-14", 0), "2026-03-14");
        assert_eq!(sub(&cal, "2026-03-14", 1), "2026-03-13");
    }

    #[test]
    fn closure_days_are_skipped_and_listed() {
        let closed = dates("2026-12-31 2026-12-29 2026-12-30 2026-12-26");
        let cal = Calendar::england_and_wales().with_closures(closed);
        assert_eq!(add(&cal, "2026-12-18", 5), "2027-01-04");
        assert_eq!(sub(&cal, "2027-01-04", 5), "2026-12-18");
        assert_eq!(between(&cal, "2026-12-18", "2027-01-04"), 5);
        assert!(!cal.is_working_day(ymd("2026-12-30")));
        assert!(!cal.is_bank_holiday(ymd("2026-12-30")));
        let listed: Vec<_> = cal.closures().collect();
        assert_eq!(listed, dates("2026-12-26 2026-12-29 2026-12-30 2026-12-31"));
        // A closure on a bank holiday or weekend is harmless: nothing is skipped twice.
        let doubled = Calendar::default().with_closures(dates("2026-12-25 2026-12-19"));
        assert_eq!(add(&doubled, "2026-12-18", 5), "2026-12-29");
    }

    #[test]
    fn large_additions_and_extreme_dates_do_not_panic() {
        let cal = Calendar::default();
        let from = ymd("1990-01-01");
        assert_eq!(
            cal.add_working_days(from, 40_000),
            naive_add(&cal, from, 40_000)
        );
        let (min, max) = (NaiveDate::MIN, NaiveDate::MAX);
        assert_eq!(cal.add_working_days(max - Days::new(3), 10), max);
        assert_eq!(cal.add_working_days(min, u32::MAX), max);
        assert_eq!(cal.sub_working_days(min + Days::new(3), 10), min);
        assert_eq!(cal.sub_working_days(max, u32::MAX), min);
        assert!(cal.working_days_between(min, max) > 100_000_000);
        assert_eq!(cal.working_days_between(max, min), 0);
        assert!(bank_holidays(i32::MAX).is_empty() && bank_holidays(i32::MIN).is_empty());
        let _ = (cal.is_working_day(max), cal.is_working_day(min));
    }

    fn date_in(first_year: i32, last_year: i32) -> impl Strategy<Value = NaiveDate> {
        let lo = day_num(NaiveDate::from_ymd_opt(first_year, 1, 1).expect("valid"));
        let hi = day_num(NaiveDate::from_ymd_opt(last_year, 12, 31).expect("valid"));
        (lo..=hi).prop_map(|n| from_day_num(n).expect("valid"))
    }

    /// A calendar with a handful of closures near `d`, some before it.
    fn calendar_near(d: NaiveDate, offsets: &[i64]) -> Calendar {
        Calendar::default()
            .with_closures(offsets.iter().filter_map(|&o| from_day_num(day_num(d) + o)))
    }

    fn closure_offsets() -> impl Strategy<Value = Vec<i64>> {
        prop::collection::vec(-60i64..600, 0..16)
    }

    proptest! {
        #[test]
        fn add_and_sub_match_the_day_by_day_reference(
            d in date_in(1990, 2109), n in 0u32..400, offs in closure_offsets()
        ) {
            let cal = calendar_near(d, &offs);
            prop_assert_eq!(cal.add_working_days(d, n), naive_add(&cal, d, n));
            prop_assert_eq!(cal.sub_working_days(d, n), naive_sub(&cal, d, n));
        }

        #[test]
        fn add_is_strictly_increasing_and_lands_on_working_days(
            d in date_in(1990, 2109), n in 1u32..400, offs in closure_offsets()
        ) {
            let cal = calendar_near(d, &offs);
            let (prev, here) = (cal.add_working_days(d, n - 1), cal.add_working_days(d, n));
            prop_assert!(prev < here);
            prop_assert!(cal.is_working_day(here));
            prop_assert!(!is_weekend(here) && !cal.is_bank_holiday(here));
            prop_assert!(cal.closures().all(|c| c != here));
        }

        #[test]
        fn add_is_additive(
            d in date_in(1990, 2109), a in 0u32..200, b in 0u32..200, offs in closure_offsets()
        ) {
            let cal = calendar_near(d, &offs);
            let once = cal.add_working_days(d, a + b);
            prop_assert_eq!(once, cal.add_working_days(cal.add_working_days(d, a), b));
        }

        #[test]
        fn between_counts_back_and_sub_inverts_add(
            d in date_in(1990, 2109), n in 0u32..400, offs in closure_offsets()
        ) {
            let cal = calendar_near(d, &offs);
            let end = cal.add_working_days(d, n);
            prop_assert_eq!(cal.working_days_between(d, end), n);
            prop_assert_eq!(cal.working_days_between(end, d), 0);
            if cal.is_working_day(d) {
                prop_assert_eq!(cal.sub_working_days(end, n), d);
            }
        }

        #[test]
        fn dates_far_outside_the_table_match_the_reference(
            d in date_in(-5000, 4999), n in 0u32..40
        ) {
            let cal = Calendar::default();
            prop_assert_eq!(cal.add_working_days(d, n), naive_add(&cal, d, n));
            prop_assert_eq!(cal.sub_working_days(d, n), naive_sub(&cal, d, n));
        }
    }
}
