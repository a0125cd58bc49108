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

#[cfg(test)]
mod tests {
    use super::*;

    fn mapper(rules: &str) -> PrincipalMapper {
        PrincipalMapper::parse(rules).unwrap_or_else(|e| panic!("{rules}: {e}"))
    }

    /// Kafka's `SslPrincipalMapperTest.testValidRules`.
    #[test]
    fn kafka_valid_rules() {
        for rule in [
            "DEFAULT",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT",
            "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/",
            "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L",
            "RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U",
            "RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/",
            "RULE:^CN=([^,DEFAULT,]+)(,.*|$)/$1/",
        ] {
            assert!(!mapper(rule).is_empty(), "{rule}");
        }
    }

    /// Kafka's `SslPrincipalMapperTest.testInvalidRules`.
    #[test]
    fn kafka_invalid_rules() {
        for rule in [
            "default",
            "DEFAUL",
            "DEFAULT/L",
            "DEFAULT/U",
            "RULE:CN=(.*?),OU=ServiceUsers.*/$1",
            "rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
        ] {
            let err = PrincipalMapper::parse(rule).unwrap_err();
            // The splitter may cut an invalid rule at a comma, as Kafka's does.
            assert!(!err.rule.is_empty() && rule.starts_with(&err.rule), "{err}");
            assert!(err.to_string().contains(&err.rule));
        }
    }

    #[test]
    fn error_names_the_bad_rule_in_a_list() {
        let err = PrincipalMapper::parse("RULE:^CN=(.*)$/$1/, DEFAULTX, DEFAULT").unwrap_err();
        assert_eq!(err.rule, "DEFAULTX");
        assert!(err.reason.contains("`X`"), "{}", err.reason);
    }

    /// Kafka's `SslPrincipalMapperTest.testSslPrincipalMapper`.
    #[test]
    fn kafka_mapping_examples() {
        let m = mapper(
            &[
                "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L",
                "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L",
                "RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U",
                "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U",
                "DEFAULT",
            ]
            .join(", "),
        );
        assert_eq!(m.len(), 5);
        let map = |dn| m.map(dn).unwrap();
        assert_eq!(map("CN=Duke,OU=ServiceUsers,O=Org,C=US"), "duke");
        assert_eq!(map("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US"), "duke@sme");
        assert_eq!(map("cn=duke,ou=sme,dc=mycp,dc=com"), "DUKE@SME");
        assert_eq!(map("cN=duke,OU=JavaSoft,O=Sun Microsystems"), "DUKE");
        assert_eq!(
            map("OU=JavaSoft,O=Sun Microsystems,C=US"),
            "OU=JavaSoft,O=Sun Microsystems,C=US"
        );
    }

    /// The example in Kafka's security documentation.
    #[test]
    fn kafka_documentation_example() {
        let m = mapper(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,\n\
             RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,\n\
             RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,\n\
             DEFAULT",
        );
        assert_eq!(
            m.map("CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown")
                .unwrap(),
            "serviceuser"
        );
        assert_eq!(
            m.map("CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown")
                .unwrap(),
            "adminuser@admin"
        );
    }

    /// Kafka's `testCommaWithWhitespace`: an escaped comma inside a CN.
    #[test]
    fn comma_with_whitespace() {
        let m = mapper(r"RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT");
        assert_eq!(
            m.map(r"CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz").unwrap(),
            r"Tkac\, Adam"
        );
    }

    fn rule_strings(rules: &str) -> Vec<String> {
        mapper(rules)
            .rules
            .iter()
            .map(|r| match r {
                Rule::Default => "DEFAULT".to_owned(),
                Rule::Pattern { source, .. } => source.clone(),
            })
            .collect()
    }

    /// The splitting cases of Kafka's `testRulesSplitting` (Kafka prints rules differently,
    /// so the expected values here are the rules' source text).
    #[test]
    fn kafka_rules_splitting() {
        let empty: Vec<String> = vec![];
        assert_eq!(rule_strings(""), empty);
        assert_eq!(rule_strings("DEFAULT"), ["DEFAULT"]);
        assert_eq!(rule_strings("RULE://"), ["RULE://"]);
        assert_eq!(rule_strings("RULE:/.*/"), ["RULE:/.*/"]);
        assert_eq!(rule_strings("RULE:/.*/L"), ["RULE:/.*/L"]);
        assert_eq!(rule_strings("RULE://,DEFAULT"), ["RULE://", "DEFAULT"]);
        assert_eq!(
            rule_strings("  RULE:// ,  DEFAULT  "),
            ["RULE://", "DEFAULT"]
        );
        assert_eq!(
            rule_strings("  RULE:   /     / ,  DEFAULT  "),
            ["RULE:   /     /", "DEFAULT"]
        );
        assert_eq!(
            rule_strings("  RULE:  /     /U   ,DEFAULT  "),
            ["RULE:  /     /U", "DEFAULT"]
        );
        assert_eq!(
            rule_strings("  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  "),
            ["RULE:([A-Z]*)/$1/U", "RULE:([a-z]+)/$1/", "DEFAULT"]
        );
        // empty rules are ignored
        assert_eq!(rule_strings(",   , , ,      , , ,   "), empty);
        assert_eq!(
            rule_strings(",,RULE://,,,DEFAULT,,"),
            ["RULE://", "DEFAULT"]
        );
        assert_eq!(
            rule_strings(",  , RULE: /   /    ,,,   DEFAULT, ,   "),
            ["RULE: /   /", "DEFAULT"]
        );
        assert_eq!(
            rule_strings("     ,  , RULE:   /  /U    ,,  ,DEFAULT, ,"),
            ["RULE:   /  /U", "DEFAULT"]
        );
        // escape sequences
        assert_eq!(
            rule_strings(r"RULE:\/\\\(\)\n\t/\/\//"),
            [r"RULE:\/\\\(\)\n\t/\/\//"]
        );
        assert_eq!(
            rule_strings(r"RULE:\**\/+/*/L,RULE:\/*\**/**/"),
            [r"RULE:\**\/+/*/L", r"RULE:\/*\**/**/"]
        );
        // rules rule
        assert_eq!(
            rule_strings(
                r"RULE:,RULE:,/,RULE:,\//U,RULE:,/RULE:,/,RULE:,RULE:,/L,RULE:,/L,RULE:, DEFAULT, /DEFAULT/,DEFAULT"
            ),
            [
                r"RULE:,RULE:,/,RULE:,\//U",
                r"RULE:,/RULE:,/",
                r"RULE:,RULE:,/L,RULE:,/L",
                r"RULE:, DEFAULT, /DEFAULT/",
                "DEFAULT"
            ]
        );
    }

    #[test]
    fn first_matching_rule_wins_and_whole_dn_must_match() {
        let m = mapper("RULE:CN=([a-z]+)/$1/, RULE:CN=([a-z]+),.*/first-$1/, RULE:^.*$/other/");
        // The first rule's pattern matches only part of this DN: skipped.
        assert_eq!(m.map("CN=app,O=Acme").unwrap(), "first-app");
        assert_eq!(m.map("CN=app").unwrap(), "app");
        assert_eq!(m.map("O=Acme").unwrap(), "other");
    }

    #[test]
    fn no_rule_applies() {
        let m = mapper("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/");
        assert_eq!(m.map("CN=x,OU=Humans"), None);
        assert_eq!(mapper("").map("CN=x"), None);
        assert_eq!(
            PrincipalMapper::default_rules().map("CN=x,O=y").as_deref(),
            Some("CN=x,O=y")
        );
    }

    #[test]
    fn escaped_slashes() {
        // `\/` in the pattern matches a slash; in the replacement it is a literal slash.
        let m = mapper(r"RULE:^CN=([^,]*)\/([^,]*),.*$/$2\/$1/");
        assert_eq!(m.map("CN=team/app,O=Acme").unwrap(), "app/team");
    }

    #[test]
    fn replacement_semantics_follow_java() {
        // replaceAll: a pattern that also matches the empty string at the end, as in Java.
        assert_eq!(mapper("RULE:(.*)/x$1/").map("ab").unwrap(), "xabx");
        // Anchored, the usual style: one replacement.
        assert_eq!(mapper("RULE:^(.*)$/x$1/").map("ab").unwrap(), "xab");
        // $0 is the whole match; a group beyond the pattern's count is literal (Kafka escapes it).
        assert_eq!(
            mapper("RULE:^CN=(.*)$/$0|$1|$2/").map("CN=a").unwrap(),
            "CN=a|a|$2"
        );
        // Java reads as many digits as still name a group: $11 with one group is $1 then "1".
        assert_eq!(mapper("RULE:^CN=(.*)$/$11/").map("CN=a").unwrap(), "a1");
        // Named groups and escapes.
        assert_eq!(
            mapper(r"RULE:^CN=(?<name>[^,]*).*$/${name}\$\\/U")
                .map("CN=app,O=x")
                .unwrap(),
            r"APP$\"
        );
        // An optional group that did not participate is empty.
        assert_eq!(
            mapper("RULE:^CN=(a)?(.*)$/[$1]$2/").map("CN=b").unwrap(),
            "[]b"
        );
    }

    #[test]
    fn bad_rules_named() {
        for (rule, reason) in [
            (r"RULE:^CN=(.*$/$1/", "bad pattern"),
            (r"RULE:^CN=(?=x).*$/$1/", "bad pattern"),
            (r"RULE:^CN=(.*)\1$/$1/", "bad pattern"),
            (r"RULE:^CN=.*$/$1/", "no groups"),
            (r"RULE:^CN=(.*)$/${nope}/", "unknown group"),
            (r"RULE:^CN=(.*)$/${nope/", "unclosed"),
            (r"RULE:^CN=(.*)$/$x/", "must be followed by a group"),
            (r"RULE:^CN=(.*)$/$/", "must be followed by a group"),
        ] {
            let err = PrincipalMapper::parse(&format!("DEFAULT, {rule}")).unwrap_err();
            assert_eq!(err.rule, rule);
            assert!(err.reason.contains(reason), "{rule}: {}", err.reason);
        }
        // A trailing lone backslash cannot reach the replacement: the grammar swallows it.
        assert!(PrincipalMapper::parse(r"RULE:^CN=(.*)$/$1\/").is_err());
    }

    #[test]
    fn case_flags() {
        assert_eq!(
            mapper("RULE:^CN=(.*)$/$1/L").map("CN=MiXed").unwrap(),
            "mixed"
        );
        assert_eq!(
            mapper("RULE:^CN=(.*)$/$1/U").map("CN=MiXed").unwrap(),
            "MIXED"
        );
        assert_eq!(
            mapper("RULE:^CN=(.*)$/$1/").map("CN=MiXed").unwrap(),
            "MiXed"
        );
    }

    #[test]
    fn rfc2253_escaping() {
        assert_eq!(escape_rfc2253("plain"), "plain");
        assert_eq!(escape_rfc2253("a,b+c=d"), r"a\,b\+c\=d");
        assert_eq!(escape_rfc2253(r#"<#;"\>"#), r#"\<\#\;\"\\\>"#);
        assert_eq!(escape_rfc2253("  x y "), r"\ \ x y\ ");
        assert_eq!(escape_rfc2253("a\0b"), r"a\00b");
        assert_eq!(escape_rfc2253("Jürgen_@*"), "Jürgen_@*");
        assert_eq!(escape_rfc2253(""), "");
        assert_eq!(escape_rfc2253(" "), r"\ ");
    }

    /// A self-signed certificate whose subject has the given attributes, in encoding order
    /// (least specific first, as CAs write them).
    fn cert_with_subject(attrs: Vec<(rcgen::DnType, rcgen::DnValue)>) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        for (ty, value) in attrs {
            dn.push(ty, value);
        }
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn subject_dn_most_specific_first() {
        use rcgen::DnType::*;
        let der = cert_with_subject(vec![
            (
                CountryName,
                rcgen::DnValue::PrintableString("US".try_into().unwrap()),
            ),
            (OrganizationName, "Acme".into()),
            (OrganizationalUnitName, "ServiceUsers".into()),
            (CommonName, "app1".into()),
        ]);
        let dn = subject_dn(&der).unwrap();
        assert_eq!(dn, "CN=app1,OU=ServiceUsers,O=Acme,C=US");
        // ... which is what the mapping rules are written against.
        let m = mapper("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT");
        assert_eq!(m.map(&dn).unwrap(), "app1");
    }

    #[test]
    fn subject_dn_keywords_and_string_types() {
        use rcgen::DnType::*;
        let der = cert_with_subject(vec![
            (
                CountryName,
                rcgen::DnValue::PrintableString("DE".try_into().unwrap()),
            ),
            (
                StateOrProvinceName,
                rcgen::DnValue::TeletexString("Bayern".try_into().unwrap()),
            ),
            (
                LocalityName,
                rcgen::DnValue::BmpString("München".try_into().unwrap()),
            ),
            (
                CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]),
                rcgen::DnValue::Ia5String("example".try_into().unwrap()),
            ),
            (
                CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 1]),
                "u42".into(),
            ),
            (CustomDnType(vec![2, 5, 4, 9]), "Main St 1".into()),
            (CommonName, "Jürgen".into()),
        ]);
        assert_eq!(
            subject_dn(&der).unwrap(),
            "CN=Jürgen,STREET=Main St 1,UID=u42,DC=example,L=München,ST=Bayern,C=DE"
        );
    }

    #[test]
    fn subject_dn_unknown_attributes_are_hex() {
        use rcgen::DnType::*;
        // emailAddress (1.2.840.113549.1.9.1) has no RFC 2253 keyword: Java prints the OID and
        // the hex of the DER value (here an IA5String, tag 0x16).
        let der = cert_with_subject(vec![
            (
                CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
                rcgen::DnValue::Ia5String("a@b.c".try_into().unwrap()),
            ),
            (CommonName, "x".into()),
        ]);
        assert_eq!(
            subject_dn(&der).unwrap(),
            "CN=x,1.2.840.113549.1.9.1=#16056140622e63"
        );
    }

    #[test]
    fn subject_dn_escapes_special_characters() {
        use rcgen::DnType::*;
        let der = cert_with_subject(vec![
            (OrganizationName, "Acme, Inc.".into()),
            (CommonName, " a+b=c ".into()),
        ]);
        let dn = subject_dn(&der).unwrap();
        assert_eq!(dn, r"CN=\ a\+b\=c\ ,O=Acme\, Inc.");
        // Kafka's comma-aware rule style works on it.
        let m = mapper(r"RULE:^CN=((?:\\.|[^,\\])*),O=(.*)$/$2/");
        assert_eq!(m.map(&dn).unwrap(), r"Acme\, Inc.");
    }

    #[test]
    fn principal_from_a_certificate() {
        use rcgen::DnType::*;
        let der = cert_with_subject(vec![
            (OrganizationalUnitName, "ServiceUsers".into()),
            (CommonName, "Orders-App".into()),
        ]);
        let m = mapper("RULE:^CN=(.*?),OU=ServiceUsers$/$1/L");
        let p = principal_from_certificate(&m, &der).unwrap();
        assert_eq!(p.name, "orders-app");
        assert_eq!(p.kind, PrincipalKind::MtlsSubject);
        assert_eq!(p.expires_at, None);
        let strict = mapper("RULE:^CN=(.*?),OU=Humans$/$1/");
        assert_eq!(
            principal_from_certificate(&strict, &der),
            Err(AuthError::NoMappingRule)
        );
        assert_eq!(
            principal_from_certificate(&m, b"junk"),
            Err(AuthError::InvalidCertificate)
        );
    }

    #[test]
    fn subject_dn_empty_subject() {
        let der = cert_with_subject(vec![]);
        assert_eq!(subject_dn(&der).unwrap(), "");
    }

    #[test]
    fn invalid_certificate() {
        assert_eq!(subject_dn(b""), Err(CertError::InvalidCertificate));
        assert_eq!(
            subject_dn(b"\x30\x03\x02\x01\x01"),
            Err(CertError::InvalidCertificate)
        );
    }
}
