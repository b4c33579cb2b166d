//! wordcount.rs - Tabula example function in Rust (WASI *command* module).
//!
//! Input  (stdin):  {"text": "<string>", "top": <integer, optional, 1..100, default 3>}
//! Output (stdout): {"words":<n>,"distinct":<n>,"top":[{"word":"<w>","count":<n>},...]}
//! Errors (stdout): {"error":"..."}
//! Log    (stderr): "wordcount: N words, D distinct"
//!
//! Counts words (runs of letters, digits and apostrophes, lower-cased) in a
//! std::collections::HashMap. Rust's std seeds every HashMap from the WASI
//! `random_get` call, so this module runs only where the function may use
//! randomness, which Tabula grants by default. Uses nothing but std (no crates),
//! so Debian's rustc builds it: see examples/build.sh.

use std::collections::HashMap;
use std::io::{self, Read, Write};

/// The value of the top-level string member `key`, unescaped; `None` when absent.
fn string_member(json: &str, key: &str) -> Result<Option<String>, String> {
    let pattern = format!("\"{}\"", key);
    let start = match json.find(&pattern) {
        Some(start) => start,
        None => return Ok(None),
    };
    let rest = json[start + pattern.len()..].trim_start();
    let rest = rest.strip_prefix(':').ok_or("expected ':' after a key")?.trim_start();
    let mut chars = rest.strip_prefix('"').ok_or(format!("\"{}\" must be a string", key))?.chars();
    let mut out = String::new();
    loop {
        match chars.next().ok_or("unterminated string")? {
            '"' => return Ok(Some(out)),
            '\\' => match chars.next().ok_or("unterminated escape")? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'b' | 'f' => out.push(' '),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let code = u32::from_str_radix(&hex, 16).map_err(|_| "bad \\u escape")?;
                    out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
}

/// The value of the top-level integer member `key`; `None` when absent.
fn integer_member(json: &str, key: &str) -> Result<Option<u64>, String> {
    let pattern = format!("\"{}\"", key);
    let start = match json.find(&pattern) {
        Some(start) => start,
        None => return Ok(None),
    };
    let rest = json[start + pattern.len()..].trim_start();
    let rest = rest.strip_prefix(':').ok_or("expected ':' after a key")?.trim_start();
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().map(Some).map_err(|_| format!("\"{}\" must be a non-negative integer", key))
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn run(input: &str) -> Result<String, String> {
    let text = string_member(input, "text")?.ok_or("missing \"text\"")?;
    let top = integer_member(input, "top")?.unwrap_or(3);
    if !(1..=100).contains(&top) {
        return Err("\"top\" must be between 1 and 100".into());
    }
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut words = 0u64;
    for word in text.split(|c: char| !(c.is_alphanumeric() || c == '\'')) {
        let word = word.trim_matches('\'');
        if word.is_empty() {
            continue;
        }
        words += 1;
        *counts.entry(word.to_lowercase()).or_insert(0) += 1;
    }
    let mut ranked: Vec<(&String, &u64)> = counts.iter().collect();
    // Most frequent first; ties alphabetically, so the output never depends on the hash seed.
    ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let list: Vec<String> = ranked
        .iter()
        .take(top as usize)
        .map(|(word, count)| format!("{{\"word\":\"{}\",\"count\":{}}}", escape(word), count))
        .collect();
    eprintln!("wordcount: {} words, {} distinct", words, counts.len());
    Ok(format!("{{\"words\":{},\"distinct\":{},\"top\":[{}]}}", words, counts.len(), list.join(",")))
}

fn main() {
    let mut input = String::new();
    let output = match io::stdin().read_to_string(&mut input) {
        Ok(_) => run(&input).unwrap_or_else(|error| format!("{{\"error\":\"{}\"}}", escape(&error))),
        Err(error) => format!("{{\"error\":\"cannot read stdin: {}\"}}", escape(&error.to_string())),
    };
    let mut stdout = io::stdout();
    let _ = stdout.write_all(output.as_bytes());
    let _ = stdout.flush();
}
