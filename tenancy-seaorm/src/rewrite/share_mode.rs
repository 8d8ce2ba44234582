//! MySQL's `LOCK IN SHARE MODE`: what SeaORM's `lock_shared()` writes for
//! MySQL, and MariaDB's only shared lock (it has no `FOR SHARE`). sqlparser
//! doesn't parse it, so the four final words are taken off the tokens and
//! the query gets the lock clause they mean, `FOR SHARE`; on MySQL a plain
//! `FOR SHARE` is rendered back as `LOCK IN SHARE MODE`, which both MySQL
//! and MariaDB read. The round trip takes the words off the output the
//! same way, so the text still has to parse back to the checked tree.

use sqlparser::{
    ast::{LockClause, LockType, Statement},
    keywords::Keyword,
    tokenizer::{Token, TokenWithSpan},
};

use crate::{Refusal, flavor::Flavor};

const WORDS: [Keyword; 4] = [Keyword::LOCK, Keyword::IN, Keyword::SHARE, Keyword::MODE];

/// On MySQL, removes a final `LOCK IN SHARE MODE` (before an optional `;`)
/// from `tokens`; returns whether it did.
pub(super) fn strip(backend: Flavor, tokens: &mut Vec<TokenWithSpan>) -> bool {
    if backend != Flavor::MySql {
        return false;
    }
    let mut at: Vec<usize> = Vec::with_capacity(WORDS.len());
    let mut semicolon_seen = false;
    for (i, token) in tokens.iter().enumerate().rev() {
        match &token.token {
            Token::Whitespace(_) | Token::EOF => {}
            Token::SemiColon if at.is_empty() && !semicolon_seen => semicolon_seen = true,
            Token::Word(word)
                if word.quote_style.is_none()
                    && word.keyword == WORDS[WORDS.len() - 1 - at.len()] =>
            {
                at.push(i);
                if at.len() == WORDS.len() {
                    break;
                }
            }
            _ => return false,
        }
    }
    if at.len() != WORDS.len() {
        return false;
    }
    // `at` is in descending order, so earlier indices stay valid.
    for i in at {
        tokens.remove(i);
    }
    true
}

/// Gives the query parsed without its `LOCK IN SHARE MODE` the lock clause
/// the words meant; anything but a query without other locks is refused.
pub(super) fn apply(statement: &mut Statement) -> Result<(), Refusal> {
    match statement {
        Statement::Query(query) if query.locks.is_empty() => {
            query.locks.push(plain_share());
            Ok(())
        }
        _ => Err(Refusal::Construct(
            "LOCK IN SHARE MODE on anything but a query without other locks".into(),
        )),
    }
}

/// The rendering of `statement` for `backend`: on MySQL a query whose only
/// lock is a plain `FOR SHARE` ends in `LOCK IN SHARE MODE` instead.
pub(super) fn render(backend: Flavor, statement: &Statement) -> Result<String, Refusal> {
    let text = statement.to_string();
    let shared = backend == Flavor::MySql
        && matches!(statement, Statement::Query(q) if q.locks == [plain_share()]);
    if !shared {
        return Ok(text);
    }
    match text.strip_suffix(" FOR SHARE") {
        Some(head) => Ok(format!("{head} LOCK IN SHARE MODE")),
        None => Err(Refusal::Construct(
            "a shared lock with clauses after it".into(),
        )),
    }
}

fn plain_share() -> LockClause {
    LockClause {
        lock_type: LockType::Share,
        of: None,
        nonblock: None,
    }
}
