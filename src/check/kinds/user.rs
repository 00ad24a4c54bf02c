//! `user: NAME`: existence, uid, gid, groups, home and shell, from `/etc/passwd` and
//! `/etc/group`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{expect, Kind, Parse, Spec};
use crate::check::facts::{Facts, Script, Wants};
use crate::check::judge::Judgement;
use crate::check::matcher::Matcher;

/// The `user` kind.
pub const KIND: Kind = Kind {
    name: "user",
    asserts: &["exists", "uid", "gid", "groups", "home", "shell"],
    parse,
    gather,
};

/// A `user` check.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// The user.
    pub name: String,
    /// `exists` (default true).
    pub exists: bool,
    /// `uid`.
    pub uid: Option<Matcher>,
    /// `gid`.
    pub gid: Option<Matcher>,
    /// `groups`: a list of groups the user must belong to, or a matcher on all of them.
    pub groups: Option<Matcher>,
    /// `home`.
    pub home: Option<Matcher>,
    /// `shell`.
    pub shell: Option<Matcher>,
}

fn parse(p: &mut Parse<'_, '_>) -> Option<Spec> {
    let name = p.subject_text()?;
    let exists = p.flag("exists", true);
    let uid = p.number("uid", 0, u32::MAX as i64);
    let gid = p.number("gid", 0, u32::MAX as i64);
    let groups = p.members("groups");
    let home = p.text("home");
    let shell = p.text("shell");
    Some(Spec::new(User {
        name,
        exists: exists?,
        uid: uid?,
        gid: gid?,
        groups: groups?,
        home: home?,
        shell: shell?,
    }))
}

fn gather(w: &Wants, s: &mut Script) {
    if w.has("passwd") {
        s.line(format!(
            "if [ -r /etc/passwd ]; then sec passwd; {}; fi",
            crate::check::facts::print_small("/etc/passwd")
        ));
    }
}

/// A passwd entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Home.
    pub home: String,
    /// Shell.
    pub shell: String,
}

/// Users by name (`None` when there is no readable /etc/passwd).
pub fn users(facts: &Facts) -> Arc<Option<BTreeMap<String, Entry>>> {
    facts.table("passwd", |f| f.text("passwd").map(|t| parse_passwd(&t)))
}

fn parse_passwd(text: &str) -> BTreeMap<String, Entry> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.len() >= 7).then(|| {
                Some((
                    f[0].to_string(),
                    Entry {
                        uid: f[2].parse().ok()?,
                        gid: f[3].parse().ok()?,
                        home: f[5].to_string(),
                        shell: f[6].to_string(),
                    },
                ))
            })?
        })
        .collect()
}

/// The name of `uid`, or the number.
pub fn name_of(users: &BTreeMap<String, Entry>, uid: u32) -> String {
    users
        .iter()
        .find(|(_, u)| u.uid == uid)
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| uid.to_string())
}

impl super::Assertion for User {
    fn kind(&self) -> &'static str {
        "user"
    }

    fn want(&self, w: &mut Wants) {
        w.flag("passwd");
        w.flag("group");
    }

    fn judge(&self, facts: &Facts) -> Judgement {
        let (users, groups) = (users(facts), super::group::groups(facts));
        let (Some(users), Some(groups)) = (users.as_ref(), groups.as_ref()) else {
            return Judgement::error("the container has no readable /etc/passwd or /etc/group");
        };
        let name = &self.name;
        let Some(user) = users.get(name) else {
            return if self.exists {
                Judgement::fail(format!(
                    "user {name}: expected to exist, not found in /etc/passwd"
                ))
            } else {
                Judgement::pass(format!("no user {name}"))
            };
        };
        if !self.exists {
            return Judgement::fail(format!(
                "user {name}: expected absent, found uid {}",
                user.uid
            ));
        }
        let mut problems = Vec::new();
        expect(&mut problems, "uid", self.uid.as_ref(), &user.uid.to_string());
        expect(&mut problems, "gid", self.gid.as_ref(), &user.gid.to_string());
        expect(&mut problems, "home", self.home.as_ref(), &user.home);
        expect(&mut problems, "shell", self.shell.as_ref(), &user.shell);
        if let Some(want) = &self.groups {
            let member_of: Vec<String> = groups
                .iter()
                .filter(|(_, g)| g.gid == user.gid || g.members.contains(name))
                .map(|(n, _)| n.clone())
                .collect();
            match want {
                // The list form names each group the user is not in.
                Matcher::Contains(items) if items.iter().all(|m| m.as_plain().is_some()) => {
                    for group in items.iter().filter_map(Matcher::as_plain) {
                        if !member_of.iter().any(|g| g == group) {
                            problems.push(format!("groups: expected member of {group}, is not"));
                        }
                    }
                }
                other if !other.matches_list(&member_of) => problems.push(format!(
                    "groups: expected {other}, found {}",
                    member_of.join(", ")
                )),
                _ => {}
            }
        }
        Judgement::from_problems(problems, format!("user {name} (uid {}) exists", user.uid))
    }
}
