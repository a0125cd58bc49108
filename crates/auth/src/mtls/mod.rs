//! mTLS principals: the subject of a client certificate as Kafka prints it (RFC 2253, the form
//! Java's `X500Principal.getName()` gives), and Kafka's `ssl.principal.mapping.rules` that
//! turn that string into a principal name.
//!
//! The rule grammar and its evaluation follow Kafka's `SslPrincipalMapper` (the same regular
//! expressions split and parse the rule list, so commas inside a rule's pattern, escaped `\/`
//! and whitespace behave as in Kafka):
//!
//! ```text
//! RULE:pattern/replacement/[L|U], ..., DEFAULT
//! ```
//!
//! The first rule whose pattern matches the *whole* DN wins; its replacement (Java syntax:
//! `$1`, `${name}`, `\x` for a literal `x`) is applied to every match in the DN, as Java's
//! `String.replaceAll` does; `L`/`U` lower/upper-case the result; `DEFAULT` yields the DN.
//!
//! Where Rust's `regex` differs from `java.util.regex`, a rule that Kafka accepts may be
//! refused here (with an error naming it) or, rarely, match differently:
//! - no backreferences (`\1`), look-around (`(?=`, `(?<=`), possessive quantifiers (`*+`),
//!   atomic groups or `\Q...\E`: such a rule is refused at parse time;
//! - `\w`, `\d`, `\s`, `\b` and case-insensitive matching are Unicode-aware in Rust and ASCII
//!   in Java unless a flag says otherwise (they agree on ASCII DNs); `.` also matches `\r` and
//!   the Unicode line separators, which Java's does not;
//! - a replacement that names a group the pattern does not have is refused at parse time when
//!   the pattern has no groups at all (Kafka accepts the rule and then fails every mapping).

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use x509_parser::asn1_rs::ToDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::{AuthError, Principal, PrincipalKind};

/// Kafka's `RULE_PATTERN` (`SslPrincipalMapper`), with the inner groups made non-capturing.
/// Groups: 1 `DEFAULT`, 2 pattern, 3 replacement, 4 case flag, 5 anything else.
const RULE_PATTERN: &str = r"(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?).*?|(.*?)";

/// Kafka's `RULE_SPLITTER`; `\s` spelled as Java's ASCII whitespace.
static SPLITTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"[ \t\n\x0B\f\r]*({RULE_PATTERN})[ \t\n\x0B\f\r]*(?:,[ \t\n\x0B\f\r]*|$)"
    ))
    .expect("static regex")
});

/// Kafka's `RULE_PARSER`, anchored at the start as `Matcher.lookingAt()` is.
static PARSER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"\A(?:{RULE_PATTERN})")).expect("static regex"));

/// A rule list that does not parse; the message names the offending rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid principal mapping rule `{rule}`: {reason}")]
pub struct RuleError {
    pub rule: String,
    pub reason: String,
}

/// Parsed `ssl.principal.mapping.rules`.
#[derive(Debug, Clone)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

#[derive(Clone)]
enum Rule {
    Default,
    Pattern {
        source: String,
        /// The pattern as written: used for `replaceAll`.
        regex: Regex,
        /// The pattern anchored at both ends: Java's `Matcher.matches()`.
        whole: Regex,
        replacement: Vec<Piece>,
        case: Case,
    },
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Default => f.write_str("DEFAULT"),
            Rule::Pattern { source, .. } => f.write_str(source),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

/// A compiled Java replacement string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Group(usize),
    Named(String),
}

impl PrincipalMapper {
    /// Parses a rule list as Kafka does. An empty list (or only commas) parses to no rules,
    /// under which no DN maps (Kafka's default value is `DEFAULT`).
    pub fn parse(rules: &str) -> Result<Self, RuleError> {
        let mut parsed = Vec::new();
        for caps in SPLITTER.captures_iter(rules.trim()) {
            let rule = caps.get(1).map_or("", |m| m.as_str());
            if let Some(rule) = parse_rule(rule)? {
                parsed.push(rule);
            }
        }
        Ok(PrincipalMapper { rules: parsed })
    }

    /// Kafka's default: the principal is the whole DN.
    pub fn default_rules() -> Self {
        PrincipalMapper {
            rules: vec![Rule::Default],
        }
    }

    /// The principal name for `subject_dn`, or `None` when no rule applies (Kafka then fails
    /// the connection with `NoMatchingRule`).
    pub fn map(&self, subject_dn: &str) -> Option<String> {
        self.rules.iter().find_map(|r| r.apply(subject_dn))
    }

    /// How many rules were parsed (empty ones are dropped, as Kafka does).
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn parse_rule(rule: &str) -> Result<Option<Rule>, RuleError> {
    let err = |reason: String| RuleError {
        rule: rule.to_owned(),
        reason,
    };
    let caps = PARSER
        .captures(rule)
        .ok_or_else(|| err("not a rule".into()))?;
    let end = caps.get(0).map_or(0, |m| m.end());
    if end != rule.len() {
        return Err(err(format!("unmatched substring `{}`", &rule[end..])));
    }
    if caps.get(1).is_some() {
        return Ok(Some(Rule::Default));
    }
    let Some(pattern) = caps.get(2) else {
        // Only an empty rule gets here (`(.*?)` matched nothing): ignored, as in Kafka.
        return Ok(None);
    };
    let pattern = pattern.as_str();
    let replacement = caps.get(3).map_or("", |m| m.as_str());
    let case = match caps.get(4).map_or("", |m| m.as_str()) {
        "L" => Case::Lower,
        "U" => Case::Upper,
        _ => Case::Keep,
    };
    let regex = Regex::new(pattern).map_err(|e| err(format!("bad pattern: {}", first_line(&e))))?;
    let whole = Regex::new(&format!(r"\A(?:{pattern})\z"))
        .map_err(|e| err(format!("bad pattern: {}", first_line(&e))))?;
    let replacement = compile_replacement(replacement, &regex).map_err(err)?;
    Ok(Some(Rule::Pattern {
        source: rule.to_owned(),
        regex,
        whole,
        replacement,
        case,
    }))
}

fn first_line(e: &regex::Error) -> String {
    // regex's messages are multi-line drawings; the last line says what is wrong.
    e.to_string()
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// Compiles a Java replacement string (`Matcher.appendReplacement` syntax) after Kafka's
/// `escapeLiteralBackReferences`: `$N` beyond the pattern's groups is literal text.
fn compile_replacement(repl: &str, regex: &Regex) -> Result<Vec<Piece>, String> {
    let groups = regex.captures_len() - 1;
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next) => lit.push(next),
                None => return Err("replacement ends with a lone backslash".into()),
            },
            '$' => match chars.peek().copied() {
                Some('{') => {
                    chars.next();
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(ch) => name.push(ch),
                            None => return Err("unclosed `${` in replacement".into()),
                        }
                    }
                    if !regex.capture_names().flatten().any(|n| n == name) {
                        return Err(format!("replacement refers to unknown group `{name}`"));
                    }
                    flush(&mut lit, &mut pieces);
                    pieces.push(Piece::Named(name));
                }
                Some(d @ '0'..='9') => {
                    let first = d.to_digit(10).unwrap_or(0) as usize;
                    if first > groups {
                        if groups == 0 {
                            return Err(format!(
                                "replacement refers to group {first} but the pattern has no groups"
                            ));
                        }
                        // Kafka escapes it: the `$` is literal, the digits follow as text.
                        lit.push('$');
                        continue;
                    }
                    chars.next();
                    // Java: take further digits while the number stays a valid group.
                    let mut n = first;
                    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                        let next = n * 10 + d as usize;
                        if next > groups {
                            break;
                        }
                        n = next;
                        chars.next();
                    }
                    flush(&mut lit, &mut pieces);
                    pieces.push(Piece::Group(n));
                }
                _ => return Err("`$` in replacement must be followed by a group".into()),
            },
            c => lit.push(c),
        }
    }
    flush(&mut lit, &mut pieces);
    Ok(pieces)
}

fn flush(lit: &mut String, pieces: &mut Vec<Piece>) {
    if !lit.is_empty() {
        pieces.push(Piece::Literal(std::mem::take(lit)));
    }
}

impl Rule {
    fn apply(&self, dn: &str) -> Option<String> {
        let Rule::Pattern {
            regex,
            whole,
            replacement,
            case,
            ..
        } = self
        else {
            return Some(dn.to_owned());
        };
        if !whole.is_match(dn) {
            return None;
        }
        let out = java_replace_all(regex, dn, replacement);
        Some(match case {
            Case::Keep => out,
            Case::Lower => out.to_lowercase(),
            Case::Upper => out.to_uppercase(),
        })
    }
}

/// Java's `String.replaceAll`: after a non-empty match the next search starts where it ended
/// and may find an empty match there (so `(.*)` → `x$1` on `ab` gives `xabx`, as in Java);
/// after an empty match the search moves on by one character.
fn java_replace_all(regex: &Regex, text: &str, replacement: &[Piece]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut pos = 0;
    while pos <= text.len() {
        let Some(caps) = regex.captures_at(text, pos) else {
            break;
        };
        let m = caps.get(0).expect("group 0 always participates");
        out.push_str(&text[copied..m.start()]);
        for piece in replacement {
            match piece {
                Piece::Literal(s) => out.push_str(s),
                Piece::Group(i) => out.push_str(caps.get(*i).map_or("", |g| g.as_str())),
                Piece::Named(n) => out.push_str(caps.name(n).map_or("", |g| g.as_str())),
            }
        }
        copied = m.end();
        pos = if m.is_empty() {
            match text[m.end()..].chars().next() {
                Some(c) => m.end() + c.len_utf8(),
                None => break,
            }
        } else {
            m.end()
        };
    }
    out.push_str(&text[copied..]);
    out
}

// ---------------------------------------------------------------------------------------------
// Certificate subjects

/// Why a certificate's subject could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("client certificate is not valid DER X.509")]
    InvalidCertificate,
}

/// The subject DN of a DER certificate in the RFC 2253 form Java's `X500Principal.getName()`
/// prints and Kafka's mapping rules see: most specific RDN first (the reverse of the encoding
/// order), `+` between the values of a multi-valued RDN, the keywords CN, C, L, ST, O, OU,
/// STREET, DC and UID, other attributes as a dotted OID with `#` and the hex of their DER value,
/// and `,=+<>#;"\` escaped with a backslash (plus leading/trailing spaces).
pub fn subject_dn(cert_der: &[u8]) -> Result<String, CertError> {
    let (_, cert) =
        X509Certificate::from_der(cert_der).map_err(|_| CertError::InvalidCertificate)?;
    let mut rdns = Vec::new();
    for rdn in cert.subject().iter() {
        let avas: Vec<String> = rdn
            .iter()
            .map(|ava| format_ava(&ava.attr_type().to_id_string(), ava.attr_value()))
            .collect();
        rdns.push(avas.join("+"));
    }
    rdns.reverse();
    Ok(rdns.join(","))
}

/// The principal of a client whose certificate rustls verified: its subject DN through the
/// mapping rules. Expiry is left unset: a TLS identity is not re-authenticated (KIP-368 covers
/// SASL only).
pub fn principal_from_certificate(
    mapper: &PrincipalMapper,
    cert_der: &[u8],
) -> Result<Principal, AuthError> {
    let dn = subject_dn(cert_der).map_err(|_| AuthError::InvalidCertificate)?;
    let name = mapper.map(&dn).ok_or(AuthError::NoMappingRule)?;
    Ok(Principal::new(name, PrincipalKind::MtlsSubject))
}

fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

fn format_ava(oid: &str, value: &x509_parser::asn1_rs::Any<'_>) -> String {
    let string = keyword(oid).and_then(|k| decode_directory_string(value).map(|v| (k, v)));
    match string {
        Some((k, v)) => format!("{k}={}", escape_rfc2253(&v)),
        None => {
            let der = value.to_der_vec().unwrap_or_default();
            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
            format!("{oid}=#{hex}")
        }
    }
}

/// The string types Java's AVA prints as text (`DerValue.isDerString`, non-canonical).
fn decode_directory_string(value: &x509_parser::asn1_rs::Any<'_>) -> Option<String> {
    use x509_parser::asn1_rs::{Class, Tag};
    if value.class() != Class::Universal || value.header.is_constructed() {
        return None;
    }
    let data = value.data;
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String => {
            std::str::from_utf8(data).ok().map(str::to_owned)
        }
        // Java decodes both as ISO-8859-1.
        Tag::T61String | Tag::GeneralString => Some(data.iter().map(|&b| b as char).collect()),
        Tag::BmpString => {
            if !data.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// Java's `AVA.toRFC2253String` escaping.
fn escape_rfc2253(v: &str) -> String {
    const ESCAPEES: &str = ",=+<>#;\"\\";
    let mut chars: Vec<String> = Vec::with_capacity(v.len());
    for c in v.chars() {
        if ESCAPEES.contains(c) {
            chars.push(format!("\\{c}"));
        } else if c == '\0' {
            chars.push("\\00".into());
        } else {
            chars.push(c.to_string());
        }
    }
    let is_blank = |s: &String| s == " " || s == "\r";
    let lead = chars.iter().take_while(|s| is_blank(s)).count();
    let trail = chars.iter().rev().take_while(|s| is_blank(s)).count();
    let n = chars.len();
    let mut out = String::with_capacity(v.len() + 4);
    for (i, s) in chars.iter().enumerate() {
        if i < lead || i >= n - trail {
            out.push('\\');
        }
        out.push_str(s);
    }
    out
}
