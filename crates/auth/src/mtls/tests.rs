//! Tests of Kafka's principal mapping rules (parsing, splitting, matching, replacement, case
//! flags) and of the RFC 2253 subject of a certificate.

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
