//! Conversation history of the gateway's apps, kept per app, user and session.

use super::{Result, StateStore, now_ms};
use rusqlite::params;
use serde::{Deserialize, Serialize};

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// `user` or `assistant`.
    pub role: String,
    /// What was said.
    pub content: String,
}

impl StateStore {
    /// The last `limit` turns of a conversation, oldest first.
    pub fn conversation(
        &mut self,
        app: &str,
        user: &str,
        session: &str,
        limit: usize,
    ) -> Result<Vec<Turn>> {
        self.sql(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT role, content FROM conversation_turns
                 WHERE app = ?1 AND user = ?2 AND session = ?3 ORDER BY seq DESC LIMIT ?4",
            )?;
            let rows = stmt.query_map(params![app, user, session, limit as i64], |r| {
                Ok(Turn {
                    role: r.get(0)?,
                    content: r.get(1)?,
                })
            })?;
            let mut turns = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            turns.reverse();
            Ok(turns)
        })
    }

    /// Appends turns to a conversation, in one transaction.
    pub fn append_turns(
        &mut self,
        app: &str,
        user: &str,
        session: &str,
        turns: &[Turn],
    ) -> Result<()> {
        self.sql(|c| {
            let tx = c.transaction()?;
            {
                let next: i64 = tx.query_row(
                    "SELECT IFNULL(MAX(seq), 0) + 1 FROM conversation_turns
                     WHERE app = ?1 AND user = ?2 AND session = ?3",
                    params![app, user, session],
                    |r| r.get(0),
                )?;
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO conversation_turns (app, user, session, seq, role, content, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for (i, turn) in turns.iter().enumerate() {
                    stmt.execute(params![
                        app,
                        user,
                        session,
                        next + i as i64,
                        turn.role,
                        turn.content,
                        now_ms()
                    ])?;
                }
            }
            tx.commit()
        })
    }
}
