//! What forms send and show: the fields of a posted form, and the options of a select
//! or a group of checkboxes.

/// The fields of a urlencoded form body. Read by hand rather than by `web::Form`, so
/// that a post without the form (or with another content type) still reaches the CSRF
/// check and gets its 403 page. Never logged: a password is one of the fields.
pub struct FormFields(Vec<(String, String)>);

impl FormFields {
    pub fn parse(body: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a field that may repeat (checkboxes).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + use<'a> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An option of a select.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// A query-string value as given: trimmed, and none when empty (an empty select).
pub fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The areas of `areas` from the viewer's own level down (the list also names their
/// ancestors), indented by depth so that the select reads as the tree.
pub fn area_choices(
    areas: &[crate::services::areas::AreaView],
    own: crate::domain::identity::AreaLevel,
    chosen: Option<&str>,
) -> Vec<Choice> {
    let own_depth = own.depth();
    areas
        .iter()
        .filter(|a| a.level.depth() >= own_depth)
        .map(|a| Choice {
            selected: chosen == Some(a.code.as_str()),
            value: a.code.clone(),
            label: format!(
                "{}{}",
                "\u{a0}\u{a0}\u{a0}".repeat(a.level.depth() - own_depth),
                a.name
            ),
        })
        .collect()
}
