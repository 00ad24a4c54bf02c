//! `group: NAME`: existence and gid, from `/etc/group`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{expect, Kind, Parse, Spec};
use crate::check::facts::{Facts, Script, Wants};
use crate::check::judge::Judgement;
use crate::check::matcher::Matcher;

/// The `group` kind.
pub const KIND: Kind = Kind {
    name: "group",
    asserts: &["exists", "gid"],
    parse,
    gather,
};

/// A `group` check.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The group.
    pub name: String,
    /// `exists` (default true).
    pub exists: bool,
    /// `gid`.
    pub gid: Option<Matcher>,
}

fn parse(p: &mut Parse<'_, '_>) -> Option<Spec> {
    let name = p.subject_text()?;
    let exists = p.flag("exists", true);
    let gid = p.number("gid", 0, u32::MAX as i64);
    Some(Spec::new(Group {
        name,
        exists: exists?,
        gid: gid?,
    }))
}

fn gather(w: &Wants, s: &mut Script) {
    if w.has("group") {
        s.line(format!(
            "if [ -r /etc/group ]; then sec group; {}; fi",
            crate::check::facts::print_small("/etc/group")
        ));
    }
}

/// A group entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// gid.
    pub gid: u32,
    /// Supplementary members.
    pub members: Vec<String>,
}

/// Groups by name (`None` when there is no readable /etc/group).
pub fn groups(facts: &Facts) -> Arc<Option<BTreeMap<String, Entry>>> {
    facts.table("group", |f| f.text("group").map(|t| parse_group(&t)))
}

fn parse_group(text: &str) -> BTreeMap<String, Entry> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some((
                f[0].to_string(),
                Entry {
                    gid: f[2].parse().ok()?,
                    members: f[3]
                        .split(',')
                        .filter(|m| !m.is_empty())
                        .map(String::from)
                        .collect(),
                },
            ))
        })
        .collect()
}

impl super::Assertion for Group {
    fn kind(&self) -> &'static str {
        "group"
    }

    fn want(&self, w: &mut Wants) {
        w.flag("group");
    }

    fn judge(&self, facts: &Facts) -> Judgement {
        let groups = groups(facts);
        let Some(groups) = groups.as_ref() else {
            return Judgement::error("the container has no readable /etc/group");
        };
        let name = &self.name;
        match (groups.get(name), self.exists) {
            (None, true) => Judgement::fail(format!(
                "group {name}: expected to exist, not found in /etc/group"
            )),
            (None, false) => Judgement::pass(format!("no group {name}")),
            (Some(g), false) => Judgement::fail(format!(
                "group {name}: expected absent, found gid {}",
                g.gid
            )),
            (Some(g), true) => {
                let mut problems = Vec::new();
                expect(&mut problems, "gid", self.gid.as_ref(), &g.gid.to_string());
                Judgement::from_problems(problems, format!("group {name} (gid {}) exists", g.gid))
            }
        }
    }
}
