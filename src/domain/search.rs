//! Full-text search: what a query may be, the words it is made of, and
//! where those words occur in a text (for highlighting).
//!
//! A query is never handed to a database's own query syntax: it is cut into
//! words here, by the same rule both backends index text by (a word is a
//! run of letters and decimal digits, Unicode's `L*` and `Nd`, compared in
//! lower case), and each backend
//! builds its query from these words alone. Operators, quotes and
//! punctuation in a query are therefore plain separators.
//!
//! Words match whole words only. A prefix would match every word it begins,
//! and both backends then read every article holding any of them before
//! they can return the newest: a search's cost would grow with the blog.

use std::cmp::Reverse;

use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

use super::article::Page;

/// The longest query accepted, in characters.
pub const QUERY_MAX: usize = 256;
/// The most words a query may have.
pub const WORDS_MAX: usize = 16;
/// A search ranks the newest this many matching articles, and counts up to
/// this many: its cost stays flat however many articles match.
pub const RANKED_MAX: i64 = 100;

/// What a matched word is worth, by where it is: the title above the tags,
/// the description, and the body (which holds every word the others do
/// not, since the article matched).
const IN_TITLE: u32 = 8;
const IN_TAGS: u32 = 4;
const IN_DESCRIPTION: u32 = 2;
const IN_BODY: u32 = 1;

/// A matching article as ranking sees it: its id and [`SearchQuery::score`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub id: i64,
    pub score: u32,
}

/// The ids of `page` of ranked hits.
pub fn page_ids(hits: &[Hit], page: Page) -> Vec<i64> {
    hits.iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(page.limit).unwrap_or(0))
        .map(|hit| hit.id)
        .collect()
}

/// A query that passed every rule: one to [`WORDS_MAX`] distinct words, all
/// of which an article must contain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchQuery {
    /// Lower case, letters and digits only.
    words: Vec<String>,
}

/// The words of `text` as both backends index them: runs of alphanumeric
/// characters, lowercased.
pub fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let start = loop {
            let (alphanumeric, len) = class_at(text, at)?;
            if alphanumeric {
                break at;
            }
            at += len;
        };
        while let Some((true, len)) = class_at(text, at) {
            at += len;
        }
        Some((start, &text[start..at]))
    })
}

/// Whether the character at byte `at` is a letter or a decimal digit (the
/// Unicode categories `L*` and `Nd`, as both backends' indexes cut words),
/// and its length; `None` at the end. ASCII is decided byte by byte.
fn class_at(text: &str, at: usize) -> Option<(bool, usize)> {
    let byte = *text.as_bytes().get(at)?;
    if byte.is_ascii() {
        return Some((byte.is_ascii_alphanumeric(), 1));
    }
    let c = text.get(at..)?.chars().next()?;
    let word = c.general_category_group() == GeneralCategoryGroup::Letter
        || c.general_category() == GeneralCategory::DecimalNumber;
    Some((word, c.len_utf8()))
}

impl SearchQuery {
    /// Parses the raw `q` value.
    pub fn parse(raw: &str) -> Result<SearchQuery, String> {
        if raw.chars().count() > QUERY_MAX {
            return Err(format!("q is too long (maximum is {QUERY_MAX} characters)"));
        }
        let mut found: Vec<String> = Vec::new();
        for (_, word) in words(raw) {
            let word = word.to_lowercase();
            if !found.contains(&word) {
                found.push(word);
            }
        }
        if found.is_empty() {
            return Err("q must contain at least one word (letters or digits)".into());
        }
        if found.len() > WORDS_MAX {
            return Err(format!("q has too many words (maximum is {WORDS_MAX})"));
        }
        Ok(SearchQuery { words: found })
    }

    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The query in a backend's syntax: each word as `quote` writes it (so
    /// nothing in it is syntax), all joined by `and`.
    pub fn to_syntax(&self, quote: impl Fn(&str) -> String, and: &str) -> String {
        let quoted: Vec<String> = self.words.iter().map(|word| quote(word)).collect();
        quoted.join(and)
    }

    /// Orders matching articles best first: by [`Self::score`], equal
    /// scores newest first. The same order on every backend: they only
    /// find the matches.
    pub fn rank(hits: &mut [Hit]) {
        hits.sort_unstable_by_key(|hit| (Reverse(hit.score), Reverse(hit.id)));
    }

    /// What a matching article is worth: each word by the best of its short
    /// fields it is in ([`IN_TITLE`] and so on; the body holds the rest,
    /// and is never read to rank). `tags` is the tags as one text (any
    /// separators will do). Each field is cut into words once, and ASCII
    /// words are compared without lowercasing them first: a search scores
    /// up to [`RANKED_MAX`] articles.
    pub fn score(&self, title: &str, description: &str, tags: &str) -> u32 {
        let found = |text: &str| -> u32 {
            let mut mask = 0;
            for (_, word) in words(text) {
                if let Some(at) = self.position(word) {
                    mask |= 1 << at;
                }
            }
            mask
        };
        let (title, tags, description) = (found(title), found(tags), found(description));
        (0..self.words.len())
            .map(|at| match 1 << at {
                bit if title & bit != 0 => IN_TITLE,
                bit if tags & bit != 0 => IN_TAGS,
                bit if description & bit != 0 => IN_DESCRIPTION,
                _ => IN_BODY,
            })
            .sum()
    }

    /// Which of this query's words `word` (as [`words`] cuts it) is.
    fn position(&self, word: &str) -> Option<usize> {
        if word.is_ascii() {
            self.words.iter().position(|w| w.eq_ignore_ascii_case(word))
        } else {
            let word = word.to_lowercase();
            self.words.iter().position(|w| *w == word)
        }
    }

    /// Whether `word` (as [`words`] cuts it) is one this query matches.
    fn matches(&self, word: &str) -> bool {
        self.position(word).is_some()
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

    fn texts(query: &SearchQuery) -> Vec<&str> {
        query.words().iter().map(String::as_str).collect()
    }

    #[test]
    fn words_are_runs_of_letters_and_digits_in_lower_case() {
        let query =
            SearchQuery::parse("  Rust's \"borrow\"-checker, Été AND tag07 OR -x*").unwrap();
        assert_eq!(
            texts(&query),
            vec!["rust", "s", "borrow", "checker", "été", "and", "tag07", "or", "x"]
        );
    }

    #[test]
    fn queries_are_written_in_a_backends_syntax_word_by_word() {
        let query = SearchQuery::parse("to train dragons").unwrap();
        assert_eq!(
            query.to_syntax(|w| format!("'{w}'"), " & "),
            "'to' & 'train' & 'dragons'"
        );
    }

    #[test]
    fn matches_rank_by_where_their_words_are_then_newest_first() {
        let query = SearchQuery::parse("dragons").unwrap();
        let hit = |id, title: &str, description: &str, tags: &str| Hit {
            id,
            score: query.score(title, description, tags),
        };
        let mut hits = vec![
            hit(1, "Old dragons", "", "[]"),
            hit(2, "Cooking", "", "[]"),
            hit(3, "Gardening", "About dragons", "[]"),
            hit(4, "Rust", "", "[\"dragons\"]"),
            hit(5, "Newer DRAGONS tale", "", "[]"),
            hit(6, "Lunch", "", "[]"),
        ];
        SearchQuery::rank(&mut hits);
        let order: Vec<i64> = hits.iter().map(|h| h.id).collect();
        assert_eq!(
            order,
            [5, 1, 4, 3, 6, 2],
            "title, tags, description, body; newest first"
        );
        // Two words: both in the title beats one in the title.
        let two = SearchQuery::parse("dragon tale").unwrap();
        assert!(two.score("Dragon tale", "", "") > two.score("Dragon", "tale", ""));
        assert_eq!(two.score("Dragon tale", "", ""), 2 * IN_TITLE);
        assert_eq!(two.score("x", "tale", "dragon"), IN_TAGS + IN_DESCRIPTION);
    }

    #[test]
    fn words_are_cut_alike_in_ascii_and_beyond() {
        let cut: Vec<&str> = words("Été—à Paris, naïve café! 日本語 x86-64 x² Ⅲ ٣")
            .map(|(_, w)| w)
            .collect();
        // Other numbers (², Ⅲ) separate, like punctuation; Arabic-Indic
        // digits are decimal digits.
        assert_eq!(
            cut,
            [
                "Été",
                "à",
                "Paris",
                "naïve",
                "café",
                "日本語",
                "x86",
                "64",
                "x",
                "٣"
            ]
        );
        // A vowel sign (a mark) separates too, as in both indexes.
        let marked: Vec<&str> = words("हैलो").map(|(_, w)| w).collect();
        assert_eq!(marked, ["ह", "ल"]);
        let positions: Vec<usize> = words("ab cd").map(|(at, _)| at).collect();
        assert_eq!(positions, [0, 3]);
    }

    #[test]
    fn repeated_words_count_once() {
        let query = SearchQuery::parse("Rust rust RUST").unwrap();
        assert_eq!(texts(&query), vec!["rust"]);
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
        let query = SearchQuery::parse("dragons to").unwrap();
        let runs = query.highlight("How To train your Dragons, too, dragon");
        assert_eq!(
            runs,
            vec![
                (false, "How "),
                (true, "To"),
                (false, " train your "),
                (true, "Dragons"),
                (false, ", too, dragon"),
            ]
        );
        let joined: String = runs.iter().map(|(_, s)| *s).collect();
        assert_eq!(joined, "How To train your Dragons, too, dragon");
        assert_eq!(query.highlight(""), vec![]);
    }
}
