//! SQL text both metadata stores share: which packages a caller may see.
//!
//! A caller sees every public package and the private packages of the origins it is a member
//! of (`PackageFilter::private_origins`, filled by the handlers). Listings, latest, search and
//! reverse dependencies all put this one clause into their `WHERE`, in either store.

use habitat_core::OriginName;

/// How a backend numbers statement parameters, and so how the private origins are bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placeholders {
    /// `?N` (SQLite): one text parameter per origin, in order.
    Question,
    /// `$N` (PostgreSQL): one text-array parameter holding every origin, so the statement's
    /// text (and its cached plan) does not depend on how many origins the caller belongs to.
    Dollar,
}

impl Placeholders {
    fn nth(self, n: usize) -> String {
        match self {
            Self::Question => format!("?{n}"),
            Self::Dollar => format!("${n}"),
        }
    }
}

/// The visibility rule for one statement: where its parameters start and how many it binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct VisibleTo {
    style: Placeholders,
    first: usize,
    count: usize,
}

impl VisibleTo {
    /// The rule for a caller that is a member of `private_origins` (none: public packages
    /// only), its parameters numbered from `first` on. The caller binds the origins there:
    /// each as text for [`Placeholders::Question`], all in one text array for
    /// [`Placeholders::Dollar`] (nothing when there are none).
    pub(crate) fn new(style: Placeholders, private_origins: &[OriginName], first: usize) -> Self {
        let count = match style {
            Placeholders::Question => private_origins.len(),
            Placeholders::Dollar => usize::from(!private_origins.is_empty()),
        };
        Self {
            style,
            first,
            count,
        }
    }

    /// Public packages only, whoever asks: binds no parameter.
    pub(crate) fn public() -> Self {
        Self {
            style: Placeholders::Question,
            first: 1,
            count: 0,
        }
    }

    /// The number of the first parameter after this rule's own.
    pub(crate) fn next_param(&self) -> usize {
        self.first + self.count
    }

    /// The condition on the packages table under `alias` (a name from the code, never input).
    /// The same rule may be put in twice, under two aliases, with the same parameters.
    pub(crate) fn clause(&self, alias: &str) -> String {
        let public = format!("{alias}.visibility = 'public'");
        if self.count == 0 {
            return public;
        }
        let members = match self.style {
            Placeholders::Question => {
                let list: Vec<String> = (self.first..self.next_param())
                    .map(|n| self.style.nth(n))
                    .collect();
                format!("{alias}.origin IN ({})", list.join(", "))
            }
            Placeholders::Dollar => format!("{alias}.origin = ANY({})", self.style.nth(self.first)),
        };
        format!("({public} OR {members})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn clause(style: Placeholders, origins: &[&str], first: usize, alias: &str, expected: &str) {
        let origins: Vec<OriginName> = origins.iter().map(|o| o.parse().unwrap()).collect();
        assert_eq!(
            VisibleTo::new(style, &origins, first).clause(alias),
            expected
        );
    }

    #[test]
    fn the_visibility_clause_binds_the_callers_origins_in_each_style() {
        use Placeholders::{Dollar, Question};
        clause(Question, &[], 1, "p", "p.visibility = 'public'");
        clause(Dollar, &[], 3, "p", "p.visibility = 'public'");
        clause(
            Question,
            &["core"],
            1,
            "p",
            "(p.visibility = 'public' OR p.origin IN (?1))",
        );
        clause(
            Question,
            &["core", "acme"],
            4,
            "p2",
            "(p2.visibility = 'public' OR p2.origin IN (?4, ?5))",
        );
        clause(
            Dollar,
            &["core", "acme"],
            2,
            "p",
            "(p.visibility = 'public' OR p.origin = ANY($2))",
        );
        assert_eq!(VisibleTo::public().clause("p"), "p.visibility = 'public'");
    }

    #[test]
    fn parameters_after_the_rule_follow_its_own() {
        let origins: Vec<OriginName> = ["core", "acme"]
            .iter()
            .map(|o| o.parse().unwrap())
            .collect();
        let question = VisibleTo::new(Placeholders::Question, &origins, 3);
        assert_eq!(question.next_param(), 5);
        assert_eq!(
            VisibleTo::new(Placeholders::Dollar, &origins, 3).next_param(),
            4
        );
        assert_eq!(VisibleTo::new(Placeholders::Dollar, &[], 3).next_param(), 3);
        assert_eq!(VisibleTo::public().next_param(), 1);
    }
}
