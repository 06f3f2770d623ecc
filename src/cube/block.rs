//! The cube packed for reading in bulk: every cell of one week and district as one
//! compact block, so that an export reads a few hundred blocks instead of millions of
//! rows. Pure: the block format, narrowing a block to a request's filters, and summing
//! the weeks of a month or quarter. What is stored and when is `crate::cube::store`'s
//! business.
//!
//! A block keeps each cell's exact `n` and its key sum modulo 2^31, which is all the
//! cell key method reads (`crate::disclosure`), and sums of such residues are exact
//! residues of the sums; so a cell published from blocks has the same value as the same
//! cell published from the rows of `signal_cells`.

use sha2::{Digest, Sha256};

use crate::disclosure::{self, Cell, MinCount};
use crate::domain::trend::{CountRequest, GENDERS, SOURCES};

/// The version byte every block starts with; a block of another version is unreadable
/// and is simply rebuilt.
pub const FORMAT: u8 = 1;
/// Bytes per cell: three 2-byte ids, gender, source, 4-byte n, 4-byte key residue.
const RECORD: usize = 16;
/// Key sums are only ever read modulo this (docs/design.md §5).
const KEY_SPACE: i64 = 1 << 31;

/// Where a cell lies, besides its week and district. Ordered as export rows are: by age
/// band, category and arena id, then gender and source in the order of
/// [`GENDERS`] and [`SOURCES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    pub age_band_id: i16,
    pub category_id: i16,
    pub arena_id: i16,
    /// Index into [`GENDERS`].
    pub gender: u8,
    /// Index into [`SOURCES`].
    pub source: u8,
}

impl CellKey {
    /// The key of a stored cell, or `None` for a gender or source this build does not know.
    pub fn new(
        age_band_id: i16,
        category_id: i16,
        arena_id: i16,
        gender: &str,
        source: &str,
    ) -> Option<Self> {
        Some(Self {
            age_band_id,
            category_id,
            arena_id,
            gender: u8::try_from(GENDERS.iter().position(|g| *g == gender)?).ok()?,
            source: u8::try_from(SOURCES.iter().position(|s| *s == source)?).ok()?,
        })
    }

    pub fn gender(self) -> &'static str {
        GENDERS[usize::from(self.gender)]
    }

    pub fn source(self) -> &'static str {
        SOURCES[usize::from(self.source)]
    }
}

/// One cell of the cube: where it lies and its exact sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyedCell {
    pub key: CellKey,
    pub cell: Cell,
}

/// Why cells could not be packed or a block could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("a block's cells must be in strictly ascending key order")]
    Unordered,
    #[error("a cell count of {0} does not fit a block")]
    CountOutOfRange(i64),
    #[error("not a block of format {FORMAT}, or cut short")]
    Unreadable,
}

/// Packs the non-empty `cells` of one week and district, given in ascending key order.
pub fn encode(cells: &[KeyedCell]) -> Result<Vec<u8>, BlockError> {
    let mut out = Vec::with_capacity(1 + cells.len() * RECORD);
    out.push(FORMAT);
    let mut previous: Option<CellKey> = None;
    for c in cells.iter().filter(|c| c.cell.n != 0) {
        if previous.is_some_and(|p| p >= c.key) {
            return Err(BlockError::Unordered);
        }
        previous = Some(c.key);
        let n = u32::try_from(c.cell.n).map_err(|_| BlockError::CountOutOfRange(c.cell.n))?;
        // rem_euclid of a value below 2^31 always fits in u32.
        let residue = u32::try_from(c.cell.key_sum.rem_euclid(KEY_SPACE)).unwrap_or(0);
        out.extend_from_slice(&c.key.age_band_id.to_le_bytes());
        out.extend_from_slice(&c.key.category_id.to_le_bytes());
        out.extend_from_slice(&c.key.arena_id.to_le_bytes());
        out.push(c.key.gender);
        out.push(c.key.source);
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&residue.to_le_bytes());
    }
    Ok(out)
}

/// Unpacks a block written by [`encode`], appending its cells to `out`.
pub fn decode_into(block: &[u8], out: &mut Vec<KeyedCell>) -> Result<(), BlockError> {
    let Some((&FORMAT, records)) = block.split_first() else {
        return Err(BlockError::Unreadable);
    };
    if records.len() % RECORD != 0 {
        return Err(BlockError::Unreadable);
    }
    out.reserve(records.len() / RECORD);
    for r in records.chunks_exact(RECORD) {
        let key = CellKey {
            age_band_id: i16::from_le_bytes([r[0], r[1]]),
            category_id: i16::from_le_bytes([r[2], r[3]]),
            arena_id: i16::from_le_bytes([r[4], r[5]]),
            gender: r[6],
            source: r[7],
        };
        if usize::from(key.gender) >= GENDERS.len() || usize::from(key.source) >= SOURCES.len() {
            return Err(BlockError::Unreadable);
        }
        out.push(KeyedCell {
            key,
            cell: Cell {
                n: i64::from(u32::from_le_bytes([r[8], r[9], r[10], r[11]])),
                key_sum: i64::from(u32::from_le_bytes([r[12], r[13], r[14], r[15]])),
            },
        });
    }
    Ok(())
}

/// Which cells a request keeps, by the dimensions it may filter on.
#[derive(Debug, Clone)]
pub struct Selection {
    age_bands: Option<Vec<i16>>,
    categories: Option<Vec<i16>>,
    arenas: Option<Vec<i16>>,
    genders: [bool; GENDERS.len()],
    sources: [bool; SOURCES.len()],
}

impl Selection {
    /// Every cell.
    pub fn all() -> Self {
        Self {
            age_bands: None,
            categories: None,
            arenas: None,
            genders: [true; GENDERS.len()],
            sources: [true; SOURCES.len()],
        }
    }

    /// The cells `request` selects (its districts and weeks are chosen by the reader).
    pub fn of(request: &CountRequest) -> Self {
        let ids = |choice: &crate::domain::trend::Choice| {
            choice.filtered.then(|| {
                let mut ids: Vec<i16> = choice
                    .values
                    .keys()
                    .filter_map(|id| i16::try_from(*id).ok())
                    .collect();
                ids.sort_unstable();
                ids
            })
        };
        Self {
            age_bands: ids(&request.age_bands),
            categories: ids(&request.categories),
            arenas: ids(&request.arenas),
            genders: GENDERS.map(|g| request.genders.contains(&g)),
            sources: SOURCES.map(|s| request.sources.contains(&s)),
        }
    }

    pub fn contains(&self, key: &CellKey) -> bool {
        let chosen = |ids: &Option<Vec<i16>>, id: i16| {
            ids.as_ref()
                .is_none_or(|ids| ids.binary_search(&id).is_ok())
        };
        self.genders[usize::from(key.gender)]
            && self.sources[usize::from(key.source)]
            && chosen(&self.age_bands, key.age_band_id)
            && chosen(&self.categories, key.category_id)
            && chosen(&self.arenas, key.arena_id)
    }
}

/// The selected cells of one district summed over weeks, in key order: `cells` holds the
/// cells of each week, one week after another, each week in key order.
pub fn sum_weeks(mut cells: Vec<KeyedCell>, selection: &Selection) -> Vec<KeyedCell> {
    cells.retain(|c| selection.contains(&c.key));
    if !cells.is_sorted_by(|a, b| a.key < b.key) {
        // Several weeks: bring equal keys together and add them up.
        sum_equal_keys(&mut cells);
    }
    cells
}

/// Sorts `cells` by key (stably: sums run in the order given, though they are exact in
/// any order) and replaces the cells of each key by their sum.
fn sum_equal_keys(cells: &mut Vec<KeyedCell>) {
    cells.sort_by_key(|c| c.key);
    cells.dedup_by(|later, kept| {
        let same = later.key == kept.key;
        if same {
            kept.cell += later.cell;
        }
        same
    });
}

/// The id of "all" in an id dimension an export does not cross.
pub const ALL_ID: i16 = -1;
/// The index of "all" in gender or source when an export does not cross it.
pub const ALL_INDEX: u8 = u8::MAX;

/// Which dimensions besides area an export crosses. The others are summed into "all", so
/// that each row is still one atomic cell — one district × one code or "all" of each
/// other dimension × one period — and the same cell trends publish for that selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Crossing {
    pub age_band: bool,
    pub category: bool,
    pub arena: bool,
    pub gender: bool,
    pub source: bool,
}

impl Crossing {
    pub const EVERY: Crossing = Crossing {
        age_band: true,
        category: true,
        arena: true,
        gender: true,
        source: true,
    };

    /// `key` with every dimension not crossed set to "all".
    pub fn project(self, key: CellKey) -> CellKey {
        CellKey {
            age_band_id: if self.age_band {
                key.age_band_id
            } else {
                ALL_ID
            },
            category_id: if self.category {
                key.category_id
            } else {
                ALL_ID
            },
            arena_id: if self.arena { key.arena_id } else { ALL_ID },
            gender: if self.gender { key.gender } else { ALL_INDEX },
            source: if self.source { key.source } else { ALL_INDEX },
        }
    }

    /// `cells` (in key order) summed into the crossing's cells, in key order.
    pub fn apply(self, mut cells: Vec<KeyedCell>) -> Vec<KeyedCell> {
        if self == Self::EVERY {
            return cells;
        }
        for c in &mut cells {
            c.key = self.project(c.key);
        }
        sum_equal_keys(&mut cells);
        cells
    }
}

/// The count a cell is listed with in an export, or `None`: only cells published with a
/// count of at least k are listed. A suppressed cell is left out like an empty one, so
/// that an absent row says "fewer than k, possibly none" and never "at least one".
pub fn listed(cell: Cell, min_count: MinCount) -> Option<i64> {
    disclosure::publish(cell, min_count)
        .count()
        .filter(|count| *count > 0)
}

/// A digest of the rows an export lists for `cells` (`None` when it lists none): equal
/// exactly when the same rows are listed with the same counts, whatever happened inside
/// cells below the threshold. Only what a client would see goes in, so a digest (and the
/// export `ETag` built from it) reveals nothing more.
pub fn published_digest(cells: &[KeyedCell], min_count: MinCount) -> Option<[u8; 32]> {
    let mut block = Vec::with_capacity(cells.len() * 16);
    for c in cells {
        let Some(count) = listed(c.cell, min_count) else {
            continue;
        };
        block.extend_from_slice(&c.key.age_band_id.to_le_bytes());
        block.extend_from_slice(&c.key.category_id.to_le_bytes());
        block.extend_from_slice(&c.key.arena_id.to_le_bytes());
        block.push(c.key.gender);
        block.push(c.key.source);
        block.extend_from_slice(&count.to_le_bytes());
    }
    (!block.is_empty()).then(|| Sha256::digest(&block).into())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key(age_band_id: i16, category_id: i16, arena_id: i16, gender: u8, source: u8) -> CellKey {
        CellKey {
            age_band_id,
            category_id,
            arena_id,
            gender,
            source,
        }
    }

    fn cell(key: CellKey, n: i64, key_sum: i64) -> KeyedCell {
        KeyedCell {
            key,
            cell: Cell { n, key_sum },
        }
    }

    fn decode(block: &[u8]) -> Result<Vec<KeyedCell>, BlockError> {
        let mut out = Vec::new();
        decode_into(block, &mut out)?;
        Ok(out)
    }

    #[test]
    fn a_block_holds_each_cell_in_sixteen_bytes_after_the_version() {
        let cells = [
            cell(key(1, 2, 3, 0, 4), 7, 123),
            cell(key(1, 2, 4, 3, 0), 1, (1 << 31) + 5),
        ];
        let block = encode(&cells).unwrap();
        assert_eq!(block.len(), 1 + 2 * 16);
        assert_eq!(block[0], FORMAT);
        // The key sum is kept modulo 2^31: that is all publication reads.
        assert_eq!(
            decode(&block).unwrap(),
            [cells[0], cell(key(1, 2, 4, 3, 0), 1, 5)]
        );
    }

    #[test]
    fn empty_cells_are_left_out_of_a_block() {
        let block = encode(&[cell(key(1, 1, 1, 0, 0), 0, 0)]).unwrap();
        assert_eq!(decode(&block).unwrap(), []);
    }

    #[test]
    fn cells_out_of_order_or_too_large_are_refused() {
        let (a, b) = (key(1, 1, 1, 0, 0), key(1, 1, 2, 0, 0));
        assert_eq!(
            encode(&[cell(b, 1, 0), cell(a, 1, 0)]),
            Err(BlockError::Unordered)
        );
        assert_eq!(
            encode(&[cell(a, 1, 0), cell(a, 1, 0)]),
            Err(BlockError::Unordered)
        );
        assert_eq!(
            encode(&[cell(a, 1 << 32, 0)]),
            Err(BlockError::CountOutOfRange(1 << 32))
        );
    }

    #[test]
    fn damaged_blocks_are_unreadable() {
        let block = encode(&[cell(key(1, 1, 1, 0, 0), 3, 9)]).unwrap();
        assert_eq!(decode(&[]), Err(BlockError::Unreadable));
        assert_eq!(decode(&block[..10]), Err(BlockError::Unreadable));
        let mut other_version = block.clone();
        other_version[0] = 2;
        assert_eq!(decode(&other_version), Err(BlockError::Unreadable));
        let mut bad_gender = block;
        bad_gender[7] = 4;
        assert_eq!(decode(&bad_gender), Err(BlockError::Unreadable));
    }

    #[test]
    fn gender_and_source_codes_map_to_their_indices_and_back() {
        let k = CellKey::new(1, 2, 3, "unspecified", "leisure").unwrap();
        assert_eq!((k.gender, k.source), (3, 4));
        assert_eq!((k.gender(), k.source()), ("unspecified", "leisure"));
        assert_eq!(CellKey::new(1, 2, 3, "woman", "leisure"), None);
        assert_eq!(CellKey::new(1, 2, 3, "girl", "admin"), None);
    }

    #[test]
    fn weeks_are_summed_per_key_and_filtered() {
        let (a, b, c) = (key(1, 1, 1, 0, 0), key(1, 2, 1, 1, 0), key(2, 1, 1, 0, 0));
        let week1 = [cell(a, 2, 10), cell(b, 1, 20)];
        let week2 = [cell(a, 3, 5), cell(c, 4, 1)];
        let summed = sum_weeks([week1, week2].concat(), &Selection::all());
        assert_eq!(summed, [cell(a, 5, 15), cell(b, 1, 20), cell(c, 4, 1)]);

        let mut only_category_1 = Selection::all();
        only_category_1.categories = Some(vec![1]);
        let summed = sum_weeks([week1, week2].concat(), &only_category_1);
        assert_eq!(summed, [cell(a, 5, 15), cell(c, 4, 1)]);

        let mut only_boys = Selection::all();
        only_boys.genders = [false, true, false, false];
        assert_eq!(
            sum_weeks([week1, week2].concat(), &only_boys),
            [cell(b, 1, 20)]
        );
    }

    #[test]
    fn the_digest_follows_published_values_only() {
        let k = MinCount::DEFAULT;
        let a = key(1, 1, 1, 0, 0);
        // n = 1 and n = 2 with any keys are suppressed alike (at most 1 + 1 and 2 + 2).
        assert_eq!(
            published_digest(&[cell(a, 1, 0)], k),
            published_digest(&[cell(a, 2, 1 << 30)], k)
        );
        // u = 0.5 draws d = 0: 20 and 21 publish themselves.
        assert_ne!(
            published_digest(&[cell(a, 20, 1 << 30)], k),
            published_digest(&[cell(a, 21, 1 << 30)], k)
        );
        // A suppressed cell is not listed: appearing or vanishing, it changes nothing.
        // No listed cells, no rows, no digest.
        assert_eq!(published_digest(&[], k), None);
        assert_eq!(published_digest(&[cell(a, 1, 0)], k), None);
        assert_eq!(
            published_digest(&[cell(a, 1, 0), cell(key(2, 1, 1, 0, 0), 20, 1 << 30)], k),
            published_digest(&[cell(key(2, 1, 1, 0, 0), 20, 1 << 30)], k)
        );
    }

    #[test]
    fn a_crossing_sums_the_dimensions_it_leaves_out_into_all() {
        let cells = vec![
            cell(key(1, 1, 1, 0, 0), 3, 5),
            cell(key(1, 1, 2, 1, 0), 4, 7),
            cell(key(1, 2, 1, 0, 3), 6, 11),
            cell(key(2, 1, 1, 0, 0), 2, 13),
        ];
        let by_category = Crossing {
            category: true,
            ..Crossing::default()
        };
        assert_eq!(
            by_category.apply(cells.clone()),
            [
                cell(key(ALL_ID, 1, ALL_ID, ALL_INDEX, ALL_INDEX), 9, 25),
                cell(key(ALL_ID, 2, ALL_ID, ALL_INDEX, ALL_INDEX), 6, 11),
            ]
        );
        assert_eq!(Crossing::EVERY.apply(cells.clone()), cells);
        let total: i64 = Crossing::default()
            .apply(cells)
            .iter()
            .map(|c| c.cell.n)
            .sum();
        assert_eq!(total, 15);
    }

    fn keyed_cells() -> impl Strategy<Value = Vec<KeyedCell>> {
        proptest::collection::btree_map(
            (1..6i16, 1..14i16, 1..11i16, 0..4u8, 0..5u8),
            (1..5000i64, 0..(1i64 << 40)),
            0..200,
        )
        .prop_map(|cells| {
            cells
                .into_iter()
                .map(|((a, c, r, g, s), (n, key_sum))| cell(key(a, c, r, g, s), n, key_sum))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn a_block_publishes_every_cell_as_its_rows_would(cells in keyed_cells(), k in 3u32..12) {
            let min_count = MinCount::new(k).unwrap();
            let decoded = decode(&encode(&cells).unwrap()).unwrap();
            prop_assert_eq!(decoded.len(), cells.len());
            for (from_block, from_rows) in decoded.iter().zip(&cells) {
                prop_assert_eq!(from_block.key, from_rows.key);
                prop_assert_eq!(
                    disclosure::publish(from_block.cell, min_count),
                    disclosure::publish(from_rows.cell, min_count)
                );
            }
        }

        #[test]
        fn summing_decoded_weeks_publishes_as_summing_the_rows(
            weeks in proptest::collection::vec(keyed_cells(), 1..6),
            k in 3u32..12,
        ) {
            let min_count = MinCount::new(k).unwrap();
            let mut decoded = Vec::new();
            for week in &weeks {
                decode_into(&encode(week).unwrap(), &mut decoded).unwrap();
            }
            let summed = sum_weeks(decoded, &Selection::all());
            // The reference: exact sums per key, straight from the rows.
            let mut exact = std::collections::BTreeMap::<CellKey, Cell>::new();
            for c in weeks.iter().flatten() {
                *exact.entry(c.key).or_default() += c.cell;
            }
            prop_assert_eq!(summed.len(), exact.len());
            for (got, (key, cell)) in summed.iter().zip(&exact) {
                prop_assert_eq!(got.key, *key);
                prop_assert_eq!(got.cell.n, cell.n);
                prop_assert_eq!(
                    disclosure::publish(got.cell, min_count),
                    disclosure::publish(*cell, min_count)
                );
            }
        }
    }
}
