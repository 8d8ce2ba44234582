//! Where the server's lexer and settings could read the text differently
//! from sqlparser, and the bounds that keep any input from exhausting the
//! stack.
//!
//! The rewrite renders the statement from its tree, so what the server
//! runs is never the caller's text; what matters is that the server reads
//! the *rendering* as sqlparser read the input. Three checks make sure:
//!
//! - on the input tokens ([`screen`]): no token glued to a number (MariaDB
//!   reads `1.5FROM` as `1.5 FROM`, sqlparser's MySQL dialect as one name),
//!   no unquoted name that isn't a plain identifier (`@x`, `1abc`, anything
//!   non-ASCII on MySQL, whose column names compare under Unicode
//!   collations), no literal whose meaning depends on a server setting
//!   (a backslash in a plain string on PostgreSQL or MySQL, a `"..."`
//!   string on MySQL);
//! - on the input tokens too, the size and an upper bound of the nesting
//!   depth ([`Bounds`]), before the parser or any recursive walk runs;
//! - on the output tokens ([`check_output`]): every unquoted word is a
//!   keyword or an allowed function name, and no number touches a word.

use sqlparser::{
    keywords::Keyword,
    tokenizer::{Token, TokenWithSpan, Whitespace},
};

use super::functions;
use crate::{Refusal, flavor::Flavor, rules::Limits};

/// Refuses input tokens the server could lex or interpret differently.
pub(crate) fn screen(backend: Flavor, tokens: &[TokenWithSpan]) -> Result<(), Refusal> {
    // The previous token, if nothing (not even a comment) came between.
    let mut previous: Option<&Token> = None;
    for token in tokens {
        let glued = previous.take();
        match &token.token {
            Token::Whitespace(_) => continue,
            Token::Word(word) if word.quote_style.is_none() => {
                if !plain_name(backend, &word.value) {
                    return Err(Refusal::Lexical(format!("the name `{}`", word.value)));
                }
                if matches!(glued, Some(Token::Number(..))) {
                    return Err(glued_to_number(&token.token));
                }
                if glued.is_some_and(|g| string_literal(g).is_some()) {
                    return Err(Refusal::Lexical(format!(
                        "`{}` written right after a literal",
                        word.value
                    )));
                }
            }
            Token::Word(word) => {
                if backend == Flavor::MySql && !word.value.is_ascii() {
                    return Err(Refusal::Lexical(format!(
                        "the non-ASCII name `{}` (MySQL compares column names by collation)",
                        word.value
                    )));
                }
                if matches!(glued, Some(Token::Number(..))) {
                    return Err(glued_to_number(&token.token));
                }
            }
            Token::Number(number, long) => {
                if matches!(glued, Some(Token::Number(..) | Token::Word(_))) {
                    return Err(glued_to_number(&token.token));
                }
                if *long || !plain_number(number) {
                    return Err(Refusal::Lexical(format!("the number `{}`", token.token)));
                }
            }
            other => {
                if let Some(text) = string_literal(other) {
                    if matches!(glued, Some(Token::Number(..) | Token::Word(_))) {
                        return Err(Refusal::Lexical("a string literal glued to a name".into()));
                    }
                    setting_independent(backend, other, text)?;
                }
            }
        }
        previous = Some(&token.token);
    }
    Ok(())
}

/// A number every server reads as one literal: digits, an optional
/// fraction and exponent. sqlparser's PostgreSQL dialect also reads
/// `1_000`, `0x1F` and `10L` as one number, which PostgreSQL 15 reads as
/// `1 AS _000`, `0 AS x1F` and `10 AS L`.
fn plain_number(number: &str) -> bool {
    let (mantissa, exponent) = match number.find(['e', 'E']) {
        Some(i) => (&number[..i], Some(&number[i + 1..])),
        None => (number, None),
    };
    let mut parts = mantissa.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next().unwrap_or("");
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    !(whole.is_empty() && fraction.is_empty()) && digits(whole) && digits(fraction) && exponent_ok
}

fn glued_to_number(token: &Token) -> Refusal {
    Refusal::Lexical(format!("`{token}` written right after a number"))
}

/// An unquoted name the servers read as one identifier, as sqlparser does:
/// a letter or `_`, then letters, digits and `_`. Non-ASCII letters only
/// where the server compares names byte for byte (PostgreSQL, SQLite).
fn plain_name(backend: Flavor, name: &str) -> bool {
    let letter = |c: char| match backend {
        Flavor::MySql => c.is_ascii_alphabetic(),
        Flavor::Postgres | Flavor::Sqlite => c.is_ascii_alphabetic() || c.is_alphabetic(),
    };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| letter(c) || c == '_')
        && chars.all(|c| letter(c) || c.is_ascii_digit() || c == '_')
}

/// The text of a string-literal token.
fn string_literal(token: &Token) -> Option<&str> {
    match token {
        Token::SingleQuotedString(s)
        | Token::DoubleQuotedString(s)
        | Token::NationalStringLiteral(s)
        | Token::EscapedStringLiteral(s)
        | Token::UnicodeStringLiteral(s)
        | Token::SingleQuotedByteStringLiteral(s)
        | Token::DoubleQuotedByteStringLiteral(s)
        | Token::SingleQuotedRawStringLiteral(s)
        | Token::DoubleQuotedRawStringLiteral(s)
        | Token::TripleSingleQuotedString(s)
        | Token::TripleDoubleQuotedString(s)
        | Token::HexStringLiteral(s) => Some(s),
        Token::DollarQuotedString(s) => Some(&s.value),
        _ => None,
    }
}

/// A literal must mean the same under every setting of the server:
/// `standard_conforming_strings` on PostgreSQL decides whether a backslash
/// in `'...'` escapes; `NO_BACKSLASH_ESCAPES` on MySQL the same for every
/// string, and `ANSI_QUOTES` whether `"..."` is a string or a name. Such
/// literals are refused; bind the value as a parameter instead.
fn setting_independent(backend: Flavor, token: &Token, text: &str) -> Result<(), Refusal> {
    let backslash = || {
        Refusal::Lexical(
            "a string literal with a backslash (its meaning depends on a server setting; bind it as a parameter)"
                .into(),
        )
    };
    match (backend, token) {
        // sqlparser reads `0x1F` and `X'1F'` as the same token and renders
        // `X'1F'`: a blob on SQLite, where `0x1F` is the integer 31.
        (_, Token::HexStringLiteral(_)) => Err(Refusal::Lexical(
            "a hex literal (`0x..` and `X'..'` differ by server; bind the value)".into(),
        )),
        (Flavor::MySql, Token::DoubleQuotedString(_)) => Err(Refusal::Lexical(
            "a \"...\" string (a name under ANSI_QUOTES)".into(),
        )),
        (Flavor::MySql, _) if text.contains('\\') => Err(backslash()),
        // `E'...'` always escapes, dollar quotes never do.
        (
            Flavor::Postgres,
            Token::SingleQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::UnicodeStringLiteral(_),
        ) if text.contains('\\') => Err(backslash()),
        _ => Ok(()),
    }
}

/// Size and nesting bounds, checked before parsing.
///
/// The depth bounds how deeply the parse tree can nest: each open
/// parenthesis or bracket is a level, and inside a group every operator and
/// every keyword that joins or wraps expressions can add one (`1+1+...+1`
/// parses, without recursion, to a chain as deep as it is long, which is
/// what overflowed the stack when the tree was walked, rendered or
/// dropped). Names, literals, placeholders and commas add nothing, so wide
/// statements (bulk inserts, long select lists, `IN` lists) stay shallow.
pub(crate) fn bounds(limits: Limits, sql: &str) -> Result<(), Refusal> {
    if sql.len() > limits.max_bytes {
        return Err(Refusal::TooLarge {
            bytes: sql.len(),
            limit: limits.max_bytes,
        });
    }
    Ok(())
}

/// See [`bounds`].
pub(crate) fn depth(limits: Limits, tokens: &[TokenWithSpan]) -> Result<(), Refusal> {
    // Counted tokens in each open group; `total` is their sum plus the
    // number of open groups.
    let mut groups: Vec<usize> = vec![0];
    let mut total = 0_usize;
    for token in tokens {
        match &token.token {
            Token::LParen | Token::LBracket | Token::LBrace => {
                groups.push(0);
                total += 1;
            }
            Token::RParen | Token::RBracket | Token::RBrace => {
                // An unbalanced `)` is the parser's to refuse.
                if groups.len() > 1
                    && let Some(counted) = groups.pop()
                {
                    total -= counted + 1;
                }
            }
            token if adds_depth(token) => {
                if let Some(top) = groups.last_mut() {
                    *top += 1;
                }
                total += 1;
            }
            _ => {}
        }
        if total > limits.max_depth {
            return Err(Refusal::TooDeep {
                depth: total,
                limit: limits.max_depth,
            });
        }
    }
    Ok(())
}

fn adds_depth(token: &Token) -> bool {
    match token {
        // Keywords that join or wrap expressions and queries. Other words
        // are names as often as keywords (`id`, `name`, `status`) and don't
        // nest: counting them would refuse wide statements, not deep ones.
        // Prefix forms that recurse in the parser are also bounded by its
        // own recursion limit.
        Token::Word(word) if word.quote_style.is_none() => matches!(
            word.keyword,
            Keyword::AND
                | Keyword::OR
                | Keyword::XOR
                | Keyword::NOT
                | Keyword::IS
                | Keyword::IN
                | Keyword::LIKE
                | Keyword::ILIKE
                | Keyword::RLIKE
                | Keyword::REGEXP
                | Keyword::GLOB
                | Keyword::MATCH
                | Keyword::SIMILAR
                | Keyword::BETWEEN
                | Keyword::OVERLAPS
                | Keyword::COLLATE
                | Keyword::AT
                | Keyword::DIV
                | Keyword::MOD
                | Keyword::MEMBER
                | Keyword::OPERATOR
                | Keyword::BINARY
                | Keyword::INTERVAL
                | Keyword::UNION
                | Keyword::EXCEPT
                | Keyword::INTERSECT
                | Keyword::MINUS
                | Keyword::SELECT
                | Keyword::CASE
                | Keyword::WHEN
                | Keyword::THEN
                | Keyword::ELSE
        ),
        Token::Word(_)
        | Token::Number(..)
        | Token::Char(_)
        | Token::Placeholder(_)
        | Token::Comma
        | Token::Period
        | Token::SemiColon
        | Token::Whitespace(_)
        | Token::EOF => false,
        // Operators: `+`, `::`, `->`, `=`, ...
        other => string_literal(other).is_none(),
    }
}

/// The rendered text, tokenized, must leave the server one reading: every
/// unquoted word a keyword or a function name the allowlist vouches for, no
/// comment, and no number touching a word.
pub(crate) fn check_output(
    backend: Flavor,
    tokens: &[TokenWithSpan],
    extra_functions: &[String],
) -> Result<(), Refusal> {
    let broken = |what: String| Refusal::Lexical(format!("the rendered statement ({what})"));
    let mut previous: Option<&Token> = None;
    for token in tokens {
        let glued = previous.take();
        match &token.token {
            Token::Whitespace(Whitespace::Space | Whitespace::Newline | Whitespace::Tab) => {
                continue;
            }
            Token::Whitespace(_) => return Err(broken("a comment".into())),
            Token::Word(word) => {
                if matches!(glued, Some(Token::Number(..))) {
                    return Err(broken(format!("`{}` after a number", word.value)));
                }
                let vouched = word.quote_style.is_some()
                    || (word.value.is_ascii()
                        && (word.keyword != Keyword::NoKeyword
                            || functions::allowed(backend, &word.value, extra_functions)));
                if !vouched {
                    return Err(broken(format!("the unquoted name `{}`", word.value)));
                }
            }
            Token::Number(..) if matches!(glued, Some(Token::Word(_) | Token::Number(..))) => {
                return Err(broken("a number glued to a name".into()));
            }
            _ => {}
        }
        previous = Some(&token.token);
    }
    Ok(())
}
