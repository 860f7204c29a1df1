//! Full-text search: what a query may be, the words it is made of, and
//! where those words occur in a text (for highlighting).
//!
//! A query is never handed to a database's own query syntax: it is cut into
//! words here, by the same rule both backends index text by (a word is a
//! run of letters and digits, compared in lower case), and each backend
//! builds its query from these words alone. Operators, quotes and
//! punctuation in a query are therefore plain separators.

/// The longest query accepted, in characters.
pub const QUERY_MAX: usize = 256;
/// The most words a query may have.
pub const WORDS_MAX: usize = 16;
/// Words at least this long also match longer words they begin
/// (`dragon` finds `dragons`); shorter ones match whole words only, which
/// keeps one-letter queries from matching most of the index.
pub const PREFIX_FROM: usize = 3;
/// A search ranks the newest this many matching articles, and counts up to
/// this many: its cost stays flat however many articles match.
pub const RANKED_MAX: i64 = 1000;

/// One word of a query, lower case, letters and digits only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// Whether it also matches words it begins.
    pub prefix: bool,
}

/// A query that passed every rule: one to [`WORDS_MAX`] distinct words, all
/// of which an article must contain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchQuery {
    words: Vec<Word>,
}

/// The words of `text` as both backends index them: runs of alphanumeric
/// characters, lowercased.
pub fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut start = None;
    let mut chars = text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')));
    std::iter::from_fn(move || {
        for (at, c) in chars.by_ref() {
            match (start, c.is_alphanumeric()) {
                (None, true) => start = Some(at),
                (Some(from), false) => {
                    start = None;
                    return Some((from, &text[from..at]));
                }
                _ => {}
            }
        }
        None
    })
}

impl SearchQuery {
    /// Parses the raw `q` value.
    pub fn parse(raw: &str) -> Result<SearchQuery, String> {
        if raw.chars().count() > QUERY_MAX {
            return Err(format!("q is too long (maximum is {QUERY_MAX} characters)"));
        }
        let mut found: Vec<Word> = Vec::new();
        for (_, word) in words(raw) {
            let text = word.to_lowercase();
            if found.iter().any(|w| w.text == text) {
                continue;
            }
            let prefix = text.chars().count() >= PREFIX_FROM;
            found.push(Word { text, prefix });
        }
        if found.is_empty() {
            return Err("q must contain at least one word (letters or digits)".into());
        }
        if found.len() > WORDS_MAX {
            return Err(format!("q has too many words (maximum is {WORDS_MAX})"));
        }
        Ok(SearchQuery { words: found })
    }

    pub fn words(&self) -> &[Word] {
        &self.words
    }

    /// The query in a backend's syntax: each word as `quote` writes it
    /// (so nothing in it is syntax), `prefix` after the words that match
    /// as prefixes, all joined by `and`.
    pub fn to_syntax(&self, quote: impl Fn(&str) -> String, prefix: &str, and: &str) -> String {
        let mut text = String::new();
        for (i, word) in self.words.iter().enumerate() {
            if i > 0 {
                text.push_str(and);
            }
            text.push_str(&quote(&word.text));
            if word.prefix {
                text.push_str(prefix);
            }
        }
        text
    }

    /// Whether `word` (as [`words`] cuts it) is one this query matches.
    fn matches(&self, word: &str) -> bool {
        let word = word.to_lowercase();
        self.words.iter().any(|w| {
            if w.prefix {
                word.starts_with(&w.text)
            } else {
                word == w.text
            }
        })
    }

    /// `text` cut into runs, each marked with whether it is a matched
    /// word, for showing the matches highlighted.
    pub fn highlight<'t>(&self, text: &'t str) -> Vec<(bool, &'t str)> {
        let mut runs = Vec::new();
        let mut shown = 0;
        for (at, word) in words(text) {
            if self.matches(word) {
                if at > shown {
                    runs.push((false, &text[shown..at]));
                }
                runs.push((true, word));
                shown = at + word.len();
            }
        }
        if shown < text.len() {
            runs.push((false, &text[shown..]));
        }
        runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(query: &SearchQuery) -> Vec<(&str, bool)> {
        query
            .words()
            .iter()
            .map(|w| (w.text.as_str(), w.prefix))
            .collect()
    }

    #[test]
    fn words_are_runs_of_letters_and_digits_in_lower_case() {
        let query =
            SearchQuery::parse("  Rust's \"borrow\"-checker, Été AND tag07 OR -x*").unwrap();
        assert_eq!(
            texts(&query),
            vec![
                ("rust", true),
                ("s", false),
                ("borrow", true),
                ("checker", true),
                ("été", true),
                ("and", true),
                ("tag07", true),
                ("or", false),
                ("x", false),
            ]
        );
    }

    #[test]
    fn queries_are_written_in_a_backends_syntax_word_by_word() {
        let query = SearchQuery::parse("to train dragons").unwrap();
        assert_eq!(
            query.to_syntax(|w| format!("'{w}'"), ":*", " & "),
            "'to' & 'train':* & 'dragons':*"
        );
    }

    #[test]
    fn repeated_words_count_once() {
        let query = SearchQuery::parse("Rust rust RUST").unwrap();
        assert_eq!(texts(&query), vec![("rust", true)]);
    }

    #[test]
    fn bad_queries_are_refused_with_a_reason() {
        for (raw, why) in [
            ("", "empty"),
            ("  \"\" * - ( ) ", "operators only"),
            (
                "\u{fffd}\u{fffd}",
                "replacement characters (a lone surrogate)",
            ),
        ] {
            let error = SearchQuery::parse(raw).unwrap_err();
            assert!(error.contains("at least one word"), "{why}: {error}");
        }
        let long = "a".repeat(QUERY_MAX + 1);
        assert!(SearchQuery::parse(&long).unwrap_err().contains("too long"));
        assert!(
            SearchQuery::parse(&"é".repeat(QUERY_MAX)).is_ok(),
            "counted in characters"
        );
        let many: Vec<String> = (0..=WORDS_MAX).map(|i| format!("w{i}")).collect();
        assert!(SearchQuery::parse(&many.join(" "))
            .unwrap_err()
            .contains("too many words"));
    }

    #[test]
    fn highlights_mark_the_matched_words_and_keep_the_rest() {
        let query = SearchQuery::parse("dragon to").unwrap();
        let runs = query.highlight("How To train your Dragons, too");
        assert_eq!(
            runs,
            vec![
                (false, "How "),
                (true, "To"),
                (false, " train your "),
                (true, "Dragons"),
                (false, ", too"),
            ]
        );
        let joined: String = runs.iter().map(|(_, s)| *s).collect();
        assert_eq!(joined, "How To train your Dragons, too");
        assert_eq!(query.highlight(""), vec![]);
    }
}
