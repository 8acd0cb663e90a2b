//! SQL text both metadata stores share: which packages a listing, latest or search selects,
//! and which of them a caller may see.
//!
//! A caller sees every public package and the private packages of the origins it is a member
//! of (`PackageFilter::private_origins`, filled by the handlers). Listings, latest, search and
//! reverse dependencies all put this one clause ([`VisibleTo`]) into their `WHERE`, in either
//! store; [`PackageWhere`] builds the rest of a listing's or a search's `WHERE` around it.

use habitat_core::OriginName;

use super::PackageFilter;

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

    /// The backend's "position of a substring, 0 when absent" function.
    fn position_function(self) -> &'static str {
        match self {
            Self::Question => "instr",
            Self::Dollar => "strpos",
        }
    }
}

/// A value the shared SQL binds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Param {
    /// Text.
    Text(String),
    /// A text array (only in [`Placeholders::Dollar`] style: the private origins).
    TextArray(Vec<String>),
}

/// A `WHERE` clause over packages (table alias `p`) and the parameters it binds, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PackageWhere {
    /// The clause.
    pub(crate) clause: String,
    /// Its parameters: the first is number 1.
    pub(crate) params: Vec<Param>,
    style: Placeholders,
}

impl PackageWhere {
    /// The clause of a package filter: each field that is set, then the caller's visibility.
    pub(crate) fn filter(style: Placeholders, filter: &PackageFilter) -> Self {
        let mut sql = Self::empty(style);
        let mut clauses = Vec::new();
        let mut equal = |sql: &mut Self, column: &str, value: String| {
            clauses.push(format!("p.{column} = {}", sql.push(Param::Text(value))));
        };
        if let Some(origin) = &filter.origin {
            equal(&mut sql, "origin", origin.to_string());
        }
        if let Some(name) = &filter.name {
            equal(&mut sql, "name", name.clone());
        }
        if let Some(version) = &filter.version {
            equal(&mut sql, "version", version.clone());
        }
        if let Some(target) = filter.target {
            equal(&mut sql, "target", target.to_string());
        }
        if let Some(channel) = &filter.channel {
            // The origin is always set with a channel (channels belong to an origin).
            let origin = filter
                .origin
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            let o = sql.push(Param::Text(origin));
            let c = sql.push(Param::Text(channel.to_string()));
            clauses.push(format!(
                "p.id IN (SELECT cp.package_id FROM channel_packages cp \
                 JOIN channels c ON c.id = cp.channel_id JOIN origins o ON o.id = c.origin_id \
                 WHERE o.name = {o} AND c.name = {c})"
            ));
        }
        clauses.push(sql.bind_visible(&filter.private_origins).clause("p"));
        sql.clause = clauses.join(" AND ");
        sql
    }

    /// The clause of a search: packages the caller may see whose `origin/name` contains
    /// `query`; with `distinct`, only the newest release of each the caller may see (a
    /// private newest release must not hide the package's visible ones).
    pub(crate) fn search(
        style: Placeholders,
        query: &str,
        distinct: bool,
        private_origins: &[OriginName],
    ) -> Self {
        let mut sql = Self::empty(style);
        let visible = sql.bind_visible(private_origins);
        let q = sql.push(Param::Text(query.to_owned()));
        sql.clause = format!(
            "{} AND {}(p.origin || '/' || p.name, {q}) > 0",
            visible.clause("p"),
            style.position_function()
        );
        if distinct {
            sql.clause = format!(
                "{} AND p.id = (SELECT p2.id FROM packages p2 WHERE p2.origin = p.origin \
                 AND p2.name = p.name AND {} \
                 ORDER BY p2.version_key DESC, p2.release DESC, p2.version DESC LIMIT 1)",
                sql.clause,
                visible.clause("p2")
            );
        }
        sql
    }

    /// Every origin/name pair (of one origin when `origin` is given) with a release the caller
    /// may see, by origin and name: the statement's `SELECT` returns `origin, name`.
    ///
    /// The pairs come from a walk of the `packages_latest` index that seeks from each pair to
    /// the next (a recursive query, one index seek a name), not from a scan of every release:
    /// with a hundred releases a name that is a hundred times fewer steps.
    pub(crate) fn names(
        style: Placeholders,
        origin: Option<&OriginName>,
        private_origins: &[OriginName],
    ) -> Self {
        let mut sql = Self::empty(style);
        let visible = sql.bind_visible(private_origins);
        let (first_where, next_origin) = match origin {
            Some(origin) => {
                let o = sql.push(Param::Text(origin.to_string()));
                (format!("WHERE p.origin = {o}"), "NULL".to_owned())
            }
            None => (
                String::new(),
                "(SELECT p2.id FROM packages p2 WHERE p2.origin > p.origin \
                 ORDER BY p2.origin, p2.name LIMIT 1)"
                    .to_owned(),
            ),
        };
        sql.clause = format!(
            "WITH RECURSIVE n(id) AS (\
             SELECT f.id FROM (SELECT p.id FROM packages p {first_where} \
             ORDER BY p.origin, p.name LIMIT 1) f \
             UNION ALL \
             SELECT COALESCE((SELECT p2.id FROM packages p2 WHERE p2.origin = p.origin \
             AND p2.name > p.name ORDER BY p2.origin, p2.name LIMIT 1), {next_origin}) \
             FROM n JOIN packages p ON p.id = n.id) \
             SELECT p.origin, p.name FROM n JOIN packages p ON p.id = n.id \
             WHERE EXISTS (SELECT 1 FROM packages v WHERE v.origin = p.origin AND v.name = p.name \
             AND {}) ORDER BY p.origin, p.name",
            visible.clause("v")
        );
        sql
    }

    /// The newest release the caller may see of each of `names` (origin, name), any target:
    /// the statement selects `{columns}` of those packages (table alias `p`), in no order.
    pub(crate) fn newest_of(
        style: Placeholders,
        columns: &str,
        names: &[(OriginName, String)],
        private_origins: &[OriginName],
    ) -> Self {
        let mut sql = Self::empty(style);
        let visible = sql.bind_visible(private_origins);
        let arms: Vec<String> = names
            .iter()
            .enumerate()
            .map(|(i, (origin, name))| {
                let o = sql.push(Param::Text(origin.to_string()));
                let n = sql.push(Param::Text(name.clone()));
                format!(
                    "SELECT x{i}.id FROM (SELECT v.id FROM packages v WHERE v.origin = {o} \
                     AND v.name = {n} AND {} \
                     ORDER BY v.version_key DESC, v.release DESC, v.version DESC LIMIT 1) x{i}",
                    visible.clause("v")
                )
            })
            .collect();
        let ids = if arms.is_empty() {
            "SELECT NULL".to_owned()
        } else {
            arms.join(" UNION ALL ")
        };
        sql.clause = format!("SELECT {columns} FROM packages p WHERE p.id IN ({ids})");
        sql
    }

    fn empty(style: Placeholders) -> Self {
        Self {
            clause: String::new(),
            params: Vec::new(),
            style,
        }
    }

    /// Binds `param`; its placeholder.
    fn push(&mut self, param: Param) -> String {
        self.params.push(param);
        self.style.nth(self.params.len())
    }

    /// Binds a caller's private origins as [`VisibleTo::new`] says; the rule over them.
    fn bind_visible(&mut self, private_origins: &[OriginName]) -> VisibleTo {
        let visible = VisibleTo::new(self.style, private_origins, self.params.len() + 1);
        let origins = private_origins.iter().map(ToString::to_string);
        match self.style {
            Placeholders::Question => self.params.extend(origins.map(Param::Text)),
            Placeholders::Dollar if !private_origins.is_empty() => {
                self.params.push(Param::TextArray(origins.collect()));
            }
            Placeholders::Dollar => {}
        }
        visible
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
    fn a_filter_binds_its_fields_then_the_callers_origins() {
        let filter = PackageFilter {
            origin: Some("core".parse().unwrap()),
            name: Some("zlib".into()),
            channel: Some("stable".parse().unwrap()),
            private_origins: vec!["core".parse().unwrap(), "acme".parse().unwrap()],
            ..PackageFilter::default()
        };
        let text = |v: &str| Param::Text(v.to_owned());
        let sqlite = PackageWhere::filter(Placeholders::Question, &filter);
        assert!(
            sqlite
                .clause
                .starts_with("p.origin = ?1 AND p.name = ?2 AND p.id IN ("),
            "{}",
            sqlite.clause
        );
        assert!(sqlite.clause.contains("WHERE o.name = ?3 AND c.name = ?4)"));
        assert!(
            sqlite
                .clause
                .ends_with(" AND (p.visibility = 'public' OR p.origin IN (?5, ?6))")
        );
        assert_eq!(
            sqlite.params,
            [
                text("core"),
                text("zlib"),
                text("core"),
                text("stable"),
                text("core"),
                text("acme")
            ]
        );
        let postgres = PackageWhere::filter(Placeholders::Dollar, &filter);
        assert!(
            postgres
                .clause
                .ends_with(" AND (p.visibility = 'public' OR p.origin = ANY($5))")
        );
        assert_eq!(
            postgres.params.last(),
            Some(&Param::TextArray(vec!["core".into(), "acme".into()]))
        );
    }

    #[test]
    fn a_search_puts_the_rule_on_both_aliases_with_the_same_parameters() {
        let origins: Vec<OriginName> = vec!["acme".parse().unwrap()];
        let sqlite = PackageWhere::search(Placeholders::Question, "zl", true, &origins);
        assert!(sqlite.clause.starts_with(
            "(p.visibility = 'public' OR p.origin IN (?1)) AND instr(p.origin || '/' || p.name, ?2) > 0 AND p.id = ("
        ));
        assert!(
            sqlite
                .clause
                .contains("AND (p2.visibility = 'public' OR p2.origin IN (?1)) ORDER BY")
        );
        let postgres = PackageWhere::search(Placeholders::Dollar, "zl", false, &[]);
        assert_eq!(
            postgres.clause,
            "p.visibility = 'public' AND strpos(p.origin || '/' || p.name, $1) > 0"
        );
        assert_eq!(postgres.params, [Param::Text("zl".into())]);
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
