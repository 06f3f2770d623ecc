//! Disclosure control for every count that leaves the service: the cell key method plus
//! a threshold, as used by ABS TableBuilder, ONS and SCB.
//!
//! The noise on a cell is a function of its exact count and the sum of its records'
//! fixed random keys, so the same cell gets the same noise in every query, whatever
//! path computed it; subtracting one query from another reveals nothing. Small counts
//! are suppressed so that no published value singles out a handful of people.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};

pub const METHOD: &str = "cell_key";

/// Record keys are uniform in [0, 2^31); only a key sum modulo this is ever used.
const KEY_SPACE: i64 = 1 << 31;

/// Noise distributions as (d, cumulative probability in twentieths), ordered by d.
/// The last entry reaches 20/20, so every key finds a value.
const NOISE_ONE: [(i64, i64); 3] = [(-1, 5), (0, 15), (1, 20)];
const NOISE_MANY: [(i64, i64); 5] = [(-2, 1), (-1, 5), (0, 15), (1, 19), (2, 20)];

/// The threshold k: cells whose noisy count falls below it are suppressed.
/// The field is private so that no threshold below the floor can exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinCount(u32);

impl MinCount {
    pub const DEFAULT: MinCount = MinCount(5);
    /// Below 3, a noisy cell of one (published as at most 2) could leave the service.
    pub const FLOOR: u32 = 3;

    pub fn new(k: u32) -> Result<Self, MinCountTooLow> {
        if k < Self::FLOOR {
            Err(MinCountTooLow(k))
        } else {
            Ok(MinCount(k))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A threshold below [`MinCount::FLOOR`] was asked for; carries the refused value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinCountTooLow(pub u32);

impl fmt::Display for MinCountTooLow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "min_count must be at least {}, got {}",
            MinCount::FLOOR,
            self.0
        )
    }
}

impl std::error::Error for MinCountTooLow {}

/// An aggregate cell or any roll-up of cells: the exact count and the sum of record keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cell {
    pub n: i64,
    pub key_sum: i64,
}

impl Add for Cell {
    type Output = Cell;

    fn add(self, other: Cell) -> Cell {
        Cell {
            n: self.n + other.n,
            // Wrapping is exact for our purpose: only key_sum mod 2^31 is ever read, and
            // since 2^31 divides 2^64, wrapping modulo 2^64 preserves it.
            key_sum: self.key_sum.wrapping_add(other.key_sum),
        }
    }
}

impl AddAssign for Cell {
    fn add_assign(&mut self, other: Cell) {
        *self = *self + other;
    }
}

impl Sum for Cell {
    fn sum<I: Iterator<Item = Cell>>(cells: I) -> Cell {
        cells.fold(Cell::default(), Add::add)
    }
}

/// What may leave the service: a noisy count or the fact of suppression, never n or key_sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    Count(i64),
    Suppressed,
}

impl Published {
    pub fn count(self) -> Option<i64> {
        match self {
            Published::Count(p) => Some(p),
            Published::Suppressed => None,
        }
    }

    pub fn is_suppressed(self) -> bool {
        self == Published::Suppressed
    }
}

/// The cell's noise d: the inverse-CDF draw at u = (key_sum mod 2^31) / 2^31; 0 when n = 0.
pub fn noise(cell: Cell) -> i64 {
    debug_assert!(cell.n >= 0, "a cell count cannot be negative: {}", cell.n);
    let table: &[(i64, i64)] = match cell.n {
        ..=0 => return 0,
        1 => &NOISE_ONE,
        _ => &NOISE_MANY,
    };
    let key = cell.key_sum.rem_euclid(KEY_SPACE);
    // u < c/20  <=>  key * 20 < c * 2^31: exact integers, no rounding at the boundaries.
    table
        .iter()
        .find(|&&(_, c)| key * 20 < c * KEY_SPACE)
        .map_or(0, |&(d, _)| d)
}

/// The value a cell may be published as. A published 0 only ever comes from a true 0:
/// for n >= 1 a noisy p of 0 is below k (never less than 3) and so is suppressed.
pub fn publish(cell: Cell, min_count: MinCount) -> Published {
    debug_assert!(cell.n >= 0, "a cell count cannot be negative: {}", cell.n);
    if cell.n <= 0 {
        return Published::Count(0);
    }
    let p = cell.n.saturating_add(noise(cell));
    if p < i64::from(min_count.get()) {
        Published::Suppressed
    } else {
        Published::Count(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cell(n: i64, key_sum: i64) -> Cell {
        Cell { n, key_sum }
    }

    fn k(k: u32) -> MinCount {
        MinCount::new(k).unwrap()
    }

    #[test]
    fn a_cell_of_seven_with_a_key_sum_past_two_to_the_31_keeps_its_count() {
        // 3_000_000_000 - 2_147_483_648 = 852_516_352, u = 0.39698…;
        // cumulative .05, .25, .75: first exceeding u is .75 → d = 0 → p = 7.
        assert_eq!(noise(cell(7, 3_000_000_000)), 0);
        assert_eq!(
            publish(cell(7, 3_000_000_000), MinCount::DEFAULT),
            Published::Count(7)
        );
        // 5·2^31 + 1 mod 2^31 = 1, u ≈ 0 < .05 → d = −2 → p = 5.
        assert_eq!(
            publish(cell(7, 5 * KEY_SPACE + 1), MinCount::DEFAULT),
            Published::Count(5)
        );
    }

    #[test]
    fn each_of_the_five_noise_values_is_drawn_for_a_cell_of_two_or_more() {
        // u = key / 2^31 against cumulative .05, .25, .75, .95, 1.
        assert_eq!(noise(cell(20, 0)), -2); // u = 0 < .05
        assert_eq!(noise(cell(20, 200_000_000)), -1); // u = 0.0931 < .25
        assert_eq!(noise(cell(20, 1_000_000_000)), 0); // u = 0.4657 < .75
        assert_eq!(noise(cell(20, 1_800_000_000)), 1); // u = 0.8382 < .95
        assert_eq!(noise(cell(20, 2_100_000_000)), 2); // u = 0.9779 < 1
        assert_eq!(
            publish(cell(20, 2_100_000_000), MinCount::DEFAULT),
            Published::Count(22)
        );
    }

    #[test]
    fn each_of_the_three_noise_values_is_drawn_for_a_cell_of_one() {
        // Cumulative .25, .75, 1.
        assert_eq!(noise(cell(1, 0)), -1); // u = 0 < .25
        assert_eq!(noise(cell(1, 1_000_000_000)), 0); // u = 0.4657 < .75
        assert_eq!(noise(cell(1, 2_100_000_000)), 1); // u = 0.9779 < 1
    }

    #[test]
    fn the_noise_changes_exactly_at_the_cumulative_thresholds() {
        // .05·2^31 = 107_374_182.4: keys up to 107_374_182 have u < .05.
        assert_eq!(noise(cell(2, 107_374_182)), -2);
        assert_eq!(noise(cell(2, 107_374_183)), -1);
        // .25·2^31 = 536_870_912 exactly: that key has u = .25, not below it.
        assert_eq!(noise(cell(2, 536_870_911)), -1);
        assert_eq!(noise(cell(2, 536_870_912)), 0);
        assert_eq!(noise(cell(1, 536_870_911)), -1);
        assert_eq!(noise(cell(1, 536_870_912)), 0);
        // .75·2^31 = 1_610_612_736 exactly.
        assert_eq!(noise(cell(2, 1_610_612_735)), 0);
        assert_eq!(noise(cell(2, 1_610_612_736)), 1);
        assert_eq!(noise(cell(1, 1_610_612_735)), 0);
        assert_eq!(noise(cell(1, 1_610_612_736)), 1);
        // .95·2^31 = 2_040_109_465.6: keys up to 2_040_109_465 have u < .95.
        assert_eq!(noise(cell(2, 2_040_109_465)), 1);
        assert_eq!(noise(cell(2, 2_040_109_466)), 2);
        // The largest key, 2^31 − 1, has u < 1.
        assert_eq!(noise(cell(2, KEY_SPACE - 1)), 2);
    }

    #[test]
    fn a_negative_key_sum_is_reduced_into_the_key_space() {
        // −1 rem_euclid 2^31 = 2^31 − 1, u ≈ 1 → d = +2 → p = 6.
        assert_eq!(publish(cell(4, -1), MinCount::DEFAULT), Published::Count(6));
        // −2^31 + 100 rem_euclid 2^31 = 100, u ≈ 0 → d = −2 → p = 2 < 3.
        assert_eq!(
            publish(cell(4, 100 - KEY_SPACE), k(3)),
            Published::Suppressed
        );
    }

    #[test]
    fn wrapped_key_sums_draw_the_same_noise() {
        // i64::MAX + 1 wraps to i64::MIN; both sides are 0 mod 2^31 → u = 0 → d = −2.
        let rolled = cell(1, i64::MAX) + cell(1, 1);
        assert_eq!(rolled, cell(2, i64::MIN));
        assert_eq!(noise(rolled), noise(cell(2, 0)));
        assert_eq!(noise(rolled), -2);
    }

    #[test]
    fn an_empty_cell_is_published_as_zero_without_noise() {
        assert_eq!(noise(cell(0, 2_100_000_000)), 0);
        assert_eq!(publish(cell(0, 2_100_000_000), k(3)), Published::Count(0));
    }

    #[test]
    fn one_below_the_threshold_is_suppressed_and_the_threshold_is_published() {
        // k = 3: n = 3, u = .0931 → d = −1 → 2; n = 3, u = .4657 → d = 0 → 3.
        assert_eq!(publish(cell(3, 200_000_000), k(3)), Published::Suppressed);
        assert_eq!(publish(cell(3, 1_000_000_000), k(3)), Published::Count(3));
        // k = 5: n = 5, d = −1 → 4; n = 4, u = .8382 → d = +1 → 5.
        assert_eq!(publish(cell(5, 200_000_000), k(5)), Published::Suppressed);
        assert_eq!(publish(cell(4, 1_800_000_000), k(5)), Published::Count(5));
        // k = 10: n = 7, u = .9779 → d = +2 → 9; n = 12, u = 0 → d = −2 → 10.
        assert_eq!(
            publish(cell(7, 2_100_000_000), k(10)),
            Published::Suppressed
        );
        assert_eq!(publish(cell(12, 0), k(10)), Published::Count(10));
    }

    #[test]
    fn a_cell_of_one_is_never_published() {
        for key in [0, 536_870_912, 1_610_612_736, KEY_SPACE - 1, -1] {
            assert_eq!(publish(cell(1, key), k(3)), Published::Suppressed);
        }
    }

    #[test]
    fn min_count_refuses_thresholds_below_three() {
        let err = MinCount::new(2).unwrap_err();
        assert_eq!(err.to_string(), "min_count must be at least 3, got 2");
        assert_eq!(MinCount::new(3).map(MinCount::get), Ok(3));
        assert_eq!(MinCount::DEFAULT.get(), 5);
    }

    #[test]
    fn a_published_value_exposes_a_count_only_when_not_suppressed() {
        assert_eq!(Published::Count(7).count(), Some(7));
        assert!(!Published::Count(7).is_suppressed());
        assert_eq!(Published::Suppressed.count(), None);
        assert!(Published::Suppressed.is_suppressed());
    }

    /// A fixed-seed uniform key stream; no rand crate is needed for a frequency check.
    fn splitmix64(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn noise_frequencies_match_the_published_distribution() {
        const DRAWS: usize = 200_000;
        let cases: [(i64, &[(i64, f64)]); 2] = [
            (1, &[(-1, 0.25), (0, 0.5), (1, 0.25)]),
            (9, &[(-2, 0.05), (-1, 0.2), (0, 0.5), (1, 0.2), (2, 0.05)]),
        ];
        let mut state = 0x1A6E_5B11_D000_0001;
        for (n, expected) in cases {
            let mut counts = [0usize; 5];
            for _ in 0..DRAWS {
                let key = (splitmix64(&mut state) >> 33) as i64; // uniform in [0, 2^31)
                counts[(noise(cell(n, key)) + 2) as usize] += 1;
            }
            let seen: usize = expected
                .iter()
                .map(|&(d, _)| counts[(d + 2) as usize])
                .sum();
            assert_eq!(seen, DRAWS, "n = {n} drew a value outside its distribution");
            for &(d, p) in expected {
                let freq = counts[(d + 2) as usize] as f64 / DRAWS as f64;
                assert!((freq - p).abs() < 0.005, "n = {n}, d = {d}: {freq} vs {p}");
            }
        }
    }

    fn any_cell() -> impl Strategy<Value = Cell> {
        (0..10_000i64, any::<i64>()).prop_map(|(n, key_sum)| Cell { n, key_sum })
    }

    proptest! {
        #[test]
        fn every_query_path_to_a_cell_publishes_the_same_value(
            (cells, shuffled, split) in prop::collection::vec(any_cell(), 1..40)
                .prop_flat_map(|cells| {
                    let len = cells.len();
                    (Just(cells.clone()), Just(cells).prop_shuffle(), 0..=len)
                }),
            min in 3u32..=20,
        ) {
            let whole: Cell = cells.iter().copied().sum();
            let (left, right) = shuffled.split_at(split);
            let regrouped = left.iter().copied().sum::<Cell>() + right.iter().copied().sum();
            let mut reversed = Cell::default();
            for &c in cells.iter().rev() {
                reversed += c;
            }
            prop_assert_eq!(publish(regrouped, k(min)), publish(whole, k(min)));
            prop_assert_eq!(publish(reversed, k(min)), publish(whole, k(min)));
        }

        #[test]
        fn no_published_count_lies_between_zero_and_the_threshold(
            n in 0..40i64, key_sum in any::<i64>(), min in 3u32..=20,
        ) {
            if let Published::Count(p) = publish(cell(n, key_sum), k(min)) {
                prop_assert!(p == 0 || p >= i64::from(min), "published {p} with k = {min}");
            }
        }

        #[test]
        fn a_published_zero_means_a_true_zero(
            n in 0..40i64, key_sum in any::<i64>(), min in 3u32..=20,
        ) {
            let published = publish(cell(n, key_sum), k(min));
            prop_assert_eq!(published == Published::Count(0), n == 0);
        }

        #[test]
        fn noise_moves_a_count_by_at_most_two_and_a_single_by_at_most_one(
            n in 0..10_000i64, key_sum in any::<i64>(),
        ) {
            let d = noise(cell(n, key_sum));
            let bound = match n { 0 => 0, 1 => 1, _ => 2 };
            prop_assert!(d.abs() <= bound, "n = {n}, d = {d}");
            if let Published::Count(p) = publish(cell(n, key_sum), k(3)) {
                prop_assert!((p - n).abs() <= bound);
            }
        }
    }
}
