//! Who may see what: the searching [`Principal`] and a chunk's [`Acl`].
//!
//! Both searches of the embedded store filter by the same *access tokens*: a chunk carries
//! `u:<user>` for each user and `g:<group>` for each group of its ACL, or the single token
//! `*` when its ACL is empty (public). A principal holds `*`, `u:<its user>` and
//! `g:<each group>`. The chunk is visible exactly when the two token sets intersect, which
//! is [`Principal::can_see`] restated so that an inverted index can evaluate it.

use serde::{Deserialize, Serialize};

/// The token a public chunk carries and every principal holds.
pub(crate) const PUBLIC_TOKEN: &str = "*";

/// Who is searching.
///
/// A chunk is visible to a principal when the chunk is public (its ACL has no users and no
/// groups), or the principal's user is in the chunk's users, or any of the principal's groups
/// is in the chunk's groups. The gateway builds it from the authenticated caller; an
/// unauthenticated caller is [`Principal::anonymous`] and sees public chunks only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    /// The user's name, if the caller is a known user.
    pub user: Option<String>,
    /// The groups the caller belongs to.
    pub groups: Vec<String>,
}

impl Principal {
    /// A caller with no user and no groups: it sees public chunks only.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// Whether this principal may see a chunk protected by `acl`.
    pub fn can_see(&self, acl: &Acl) -> bool {
        acl.is_public()
            || self
                .user
                .as_ref()
                .is_some_and(|user| acl.users.iter().any(|u| u == user))
            || self.groups.iter().any(|g| acl.groups.contains(g))
    }

    /// The access tokens this principal holds (`*` first, then its user, then its groups).
    pub(crate) fn tokens(&self) -> Vec<String> {
        let mut tokens = Vec::with_capacity(2 + self.groups.len());
        tokens.push(PUBLIC_TOKEN.to_owned());
        if let Some(user) = &self.user {
            tokens.push(user_token(user));
        }
        tokens.extend(self.groups.iter().map(|g| group_token(g)));
        tokens.sort();
        tokens.dedup();
        tokens
    }
}

/// The access list of a chunk (same shape as the stack file's `acl`).
///
/// Empty lists mean public. Ingestion copies the document's ACL onto each of its chunks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    /// Users allowed to see the chunk.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Groups whose members are allowed to see the chunk.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

impl Acl {
    /// An ACL with no users and no groups: everyone may see the chunk.
    pub fn public() -> Self {
        Self::default()
    }

    /// Whether everyone may see the chunk.
    pub fn is_public(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }

    /// The access tokens a chunk with this ACL carries (sorted, without duplicates).
    pub(crate) fn tokens(&self) -> Vec<String> {
        if self.is_public() {
            return vec![PUBLIC_TOKEN.to_owned()];
        }
        let mut tokens: Vec<String> = self
            .users
            .iter()
            .map(|u| user_token(u))
            .chain(self.groups.iter().map(|g| group_token(g)))
            .collect();
        tokens.sort();
        tokens.dedup();
        tokens
    }
}

fn user_token(user: &str) -> String {
    format!("u:{user}")
}

fn group_token(group: &str) -> String {
    format!("g:{group}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(users: &[&str], groups: &[&str]) -> Acl {
        Acl {
            users: users.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn principal(user: Option<&str>, groups: &[&str]) -> Principal {
        Principal {
            user: user.map(str::to_owned),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn public_chunks_are_visible_to_everyone() {
        assert!(Principal::anonymous().can_see(&Acl::public()));
        assert!(principal(Some("ann"), &["eng"]).can_see(&Acl::public()));
    }

    #[test]
    fn restricted_chunks_need_the_user_or_a_group() {
        let restricted = acl(&["ann"], &["eng"]);
        assert!(!Principal::anonymous().can_see(&restricted));
        assert!(principal(Some("ann"), &[]).can_see(&restricted));
        assert!(principal(None, &["ops", "eng"]).can_see(&restricted));
        assert!(!principal(Some("bob"), &["ops"]).can_see(&restricted));
        // A user name is not a group name.
        assert!(!principal(None, &["ann"]).can_see(&restricted));
    }

    #[test]
    fn tokens_intersect_exactly_when_visible() {
        let acls = [
            acl(&[], &[]),
            acl(&["ann"], &[]),
            acl(&[], &["eng"]),
            acl(&["bob"], &["ops", "eng"]),
        ];
        let principals = [
            principal(None, &[]),
            principal(Some("ann"), &[]),
            principal(Some("bob"), &["eng"]),
            principal(None, &["ops"]),
        ];
        for a in &acls {
            for p in &principals {
                let ours = p.tokens();
                let intersects = a.tokens().iter().any(|t| ours.contains(t));
                assert_eq!(intersects, p.can_see(a), "{p:?} {a:?}");
            }
        }
    }
}
