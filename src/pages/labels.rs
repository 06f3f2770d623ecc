//! Names of codes in the page's language: the vocabulary's own `sv`/`en` labels, the
//! areas' names, and the fixed codes of sources and genders.

use std::collections::HashMap;

use crate::db::queries::vocabulary::VocabularyKind;
use crate::error::ApiError;
use crate::pages::errors::PageError;
use crate::pages::i18n::Lang;
use crate::pages::session::Viewer;
use crate::services;
use crate::services::areas::AreaView;
use crate::state::AppState;

const SOURCES: [(&str, &str, &str); 5] = [
    ("school", "Skola", "School"),
    ("field_worker", "Fältarbete", "Field work"),
    ("police", "Polis", "Police"),
    ("social_services", "Socialtjänst", "Social services"),
    ("leisure", "Fritid", "Leisure"),
];
const GENDERS: [(&str, &str, &str); 4] = [
    ("girl", "Flicka", "Girl"),
    ("boy", "Pojke", "Boy"),
    ("other", "Annat", "Other"),
    ("unspecified", "Ej angivet", "Not given"),
];

/// The codes of one dimension in vocabulary order, with their labels.
pub struct Labels {
    /// `dimension:code` → label in `lang`.
    names: HashMap<String, String>,
    /// `dimension:code` → description in `lang` (categories have one).
    descriptions: HashMap<String, String>,
    /// Active codes per dimension, in the vocabulary's order.
    pub categories: Vec<(String, String)>,
    pub age_bands: Vec<(String, String)>,
    pub arenas: Vec<(String, String)>,
    pub sources: Vec<(String, String)>,
    pub genders: Vec<(String, String)>,
}

impl Labels {
    /// The areas `viewer` sees, and the labels of every code in the viewer's language.
    pub async fn for_viewer(
        state: &AppState,
        viewer: &Viewer,
    ) -> Result<(Vec<AreaView>, Self), PageError> {
        let fail = |e| viewer.fail(e);
        let areas = services::areas::list(state, &viewer.principal)
            .await
            .map_err(fail)?;
        let labels = Self::load(state, viewer.lang, &areas).await.map_err(fail)?;
        Ok((areas, labels))
    }

    pub async fn load(state: &AppState, lang: Lang, areas: &[AreaView]) -> Result<Self, ApiError> {
        let mut names = HashMap::new();
        let mut descriptions = HashMap::new();
        let mut kinds = Vec::new();
        for (dimension, kind) in [
            ("category", VocabularyKind::Category),
            ("age_band", VocabularyKind::AgeBand),
            ("arena", VocabularyKind::Arena),
        ] {
            let mut active = Vec::new();
            for term in services::vocabulary::list(state, kind).await? {
                let (label, description) = match lang {
                    Lang::Sv => (term.label_sv, term.description_sv),
                    Lang::En => (term.label_en, term.description_en),
                };
                if let Some(description) = description {
                    descriptions.insert(format!("{dimension}:{}", term.code), description);
                }
                if term.active {
                    active.push((term.code.clone(), label.clone()));
                }
                names.insert(format!("{dimension}:{}", term.code), label);
            }
            kinds.push(active);
        }
        let fixed = |dimension: &'static str,
                     list: &[(&str, &str, &str)],
                     names: &mut HashMap<String, String>| {
            list.iter()
                .map(|(code, sv, en)| {
                    let label = if lang == Lang::Sv { sv } else { en };
                    names.insert(format!("{dimension}:{code}"), (*label).to_owned());
                    ((*code).to_owned(), (*label).to_owned())
                })
                .collect::<Vec<_>>()
        };
        let sources = fixed("source", &SOURCES, &mut names);
        let genders = fixed("gender", &GENDERS, &mut names);
        for area in areas {
            names.insert(format!("area:{}", area.code), area.name.clone());
        }
        let arenas = kinds.pop().unwrap_or_default();
        let age_bands = kinds.pop().unwrap_or_default();
        let categories = kinds.pop().unwrap_or_default();
        Ok(Self {
            names,
            descriptions,
            categories,
            age_bands,
            arenas,
            sources,
            genders,
        })
    }

    /// The description of `code` in `dimension`, empty when it has none.
    pub fn description(&self, dimension: &str, code: &str) -> &str {
        self.descriptions
            .get(&format!("{dimension}:{code}"))
            .map_or("", String::as_str)
    }

    /// The label of `code` in `dimension`, or the code itself when it has none.
    pub fn of(&self, dimension: &str, code: &str) -> String {
        self.names
            .get(&format!("{dimension}:{code}"))
            .map_or_else(|| code.to_owned(), Clone::clone)
    }
}
