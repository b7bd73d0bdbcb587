use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn entry(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in pairs {
        m.entry(k.to_string()).or_default().push(v.to_string());
    }
    m
}

fn evaluate(filter: &str, e: &BTreeMap<String, Vec<String>>, logic: Logic) -> Truth {
    let f = Filter::parse(filter).unwrap();
    f.evaluate(&|a| Cow::Borrowed(e.get(a).map_or(&[][..], |v| v.as_slice())), logic)
}

fn matches(filter: &str, e: &BTreeMap<String, Vec<String>>) -> bool {
    evaluate(filter, e, Logic::ThreeValued) == Truth::True
}

#[test]
fn exchange_qbdg_filters_exchange2003_2() {
    let alice = entry(&[
        ("objectcategory", "person"),
        ("department", "Sales"),
        ("title", "Senior Account Manager"),
        ("useraccountcontrol", "512"),
        ("mail", "alice@contoso.com"),
    ]);
    let disabled = entry(&[("objectcategory", "person"), ("department", "sales"), ("useraccountcontrol", "514")]);
    let all_sales = "(&(objectCategory=person)(department=Sales)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))";
    assert!(matches(all_sales, &alice));
    assert!(!matches(all_sales, &disabled), "disabled accounts (bit 2) are left out");
    assert!(matches("(title=*account*)", &alice));
    assert!(matches("(title=senior*manager)", &alice));
    assert!(!matches("(title=junior*)", &alice));
    assert!(matches("(|(department=Marketing)(mail=*@contoso.com))", &alice));
    assert!(matches("(userAccountControl>=500)", &alice), "an Integer attribute compares as a number");
    assert!(!matches("(userAccountControl<=99)", &alice));
    assert!(matches("(mail=*)", &alice));
    assert!(!matches("(telephoneNumber=*)", &alice));
    assert!(matches("(userAccountControl:1.2.840.113556.1.4.804:=6)", &disabled));
}

/// [MS-ADTS] §3.1.1.2.2.4.13 and §6.5.1: String(Unicode) values compare by sort keys
/// that ignore case, kana type, nonspacing marks and width, for equality and substrings
/// alike; spaces are not ignored.
#[test]
fn unicode_strings_compare_as_ad_sort_keys_do_ms_adts_6_5() {
    let montreal = entry(&[("l", "Montréal"), ("company", "Contoso"), ("department", "Sales Dept")]);
    assert!(matches("(l=MONTRÉAL)", &montreal), "case across Unicode");
    assert!(matches("(l=montreal)", &montreal), "diacritics are nonspacing marks, ignored");
    assert!(matches("(l=*RÉAL)", &montreal) && matches("(l=mont*)", &montreal));
    assert!(matches("(company=ＣＯＮＴＯＳＯ)", &montreal), "width");
    assert!(matches("(l=STRASSE)", &entry(&[("l", "Straße")])), "ß is SS in upper case");
    assert!(matches("(description=カタカナ)", &entry(&[("description", "かたかな")])), "kana type");
    let istanbul = entry(&[("l", "İstanbul"), ("title", "\u{212A}elvin")]);
    assert!(matches("(l=*İ*)", &istanbul) && matches("(l=istanbul)", &istanbul), "no panic, dot above ignored");
    assert!(matches("(title=*k*)", &istanbul), "the Kelvin sign is K");
    assert!(!matches("(department=Sales  Dept)", &montreal), "repeated spaces count");
    assert!(!matches("(department= Sales Dept)", &montreal), "a leading space counts");
    assert!(matches("(department=sales dept)", &montreal));
    // A number in a string attribute is text.
    let numbers = |v| entry(&[("extensionattribute1", v)]);
    assert!(matches("(extensionAttribute1>=500)", &numbers("99")));
    assert!(!matches("(extensionAttribute1>=500)", &numbers("1000")));
}

/// RFC 4515 §3: an escape is exactly two hex digits, one byte; a value's bytes are UTF-8.
#[test]
fn escapes_are_utf8_bytes_rfc4515() {
    let montreal = entry(&[("l", "Montréal")]);
    assert!(matches("(l=montr\\c3\\a9al)", &montreal));
    assert_eq!(Filter::parse("(l=\\c3\\a9)").unwrap(), Filter::Equal("l".into(), "é".into()));
    assert!(Filter::parse("(l=\\+5)").unwrap_err().message.contains("two hex digits"));
    assert!(Filter::parse("(l=\\c3)").unwrap_err().message.contains("not UTF-8"));
    assert!(Filter::parse("(l=a*\\e9*b)").unwrap_err().message.contains("not UTF-8"));
    let f = Filter::parse("(cn=a\\2ab\\28c\\29\\5c)").unwrap();
    assert_eq!(f, Filter::Equal("cn".into(), "a*b(c)\\".into()));
    assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
}

/// [MS-ADTS] §3.1.1.2.2.4: Integer, Bool, DN and OID rules; §3.1.1.3.1.3.1: `~=` is
/// `=`, and what a rule cannot decide is Undefined — FALSE on Windows 2000, kept
/// through `!` on Windows Server 2003.
#[test]
fn each_syntax_has_its_rule_ms_adts_3_1_1_2_2_4() {
    let bob = entry(&[
        ("useraccountcontrol", "512"),
        ("manager", "CN=alice,OU=Staff,DC=Contoso,DC=com"),
        ("objectcategory", "person"),
        ("objectclass", "user"),
        ("msexchhidefromaddresslists", "FALSE"),
        ("title", "Senior Account Manager"),
    ]);
    assert!(matches("(manager=cn=Alice, ou=staff, dc=contoso, dc=com)", &bob), "DNs normalized");
    assert!(matches("(objectCategory=Person)", &bob), "a class's name for its category");
    assert!(matches("(objectCategory=CN=Person,CN=Schema,CN=Configuration,DC=contoso,DC=com)", &bob));
    assert!(matches("(objectClass=USER)", &bob));
    assert!(matches("(msExchHideFromAddressLists=FALSE)", &bob));
    assert!(!matches("(title~=senioraccount manager)", &bob), "no approximation is performed");
    assert!(matches("(title~=senior account manager)", &bob));
    for undefined in
        ["(userAccountControl>=abc)", "(userAccountControl=5*)", "(manager>=CN=a)", "(title:1.2.840.113556.1.4.803:=2)"]
    {
        assert_eq!(evaluate(undefined, &bob, Logic::ThreeValued), Truth::Undefined, "{undefined}");
        let negated = format!("(!{undefined})");
        assert_eq!(evaluate(&negated, &bob, Logic::ThreeValued), Truth::Undefined, "{negated}");
        assert_eq!(evaluate(&negated, &bob, Logic::TwoValued), Truth::True, "Windows 2000: {negated}");
    }
    assert_eq!(evaluate("(|(userAccountControl>=abc)(objectClass=user))", &bob, Logic::ThreeValued), Truth::True);
    assert_eq!(evaluate("(&(userAccountControl>=abc)(objectClass=group))", &bob, Logic::ThreeValued), Truth::False);
    assert_eq!(
        Filter::parse("(&(department=x)(!(canonicalName=*)))").unwrap().constructed_attribute(),
        Some("canonicalname")
    );
    assert_eq!(Filter::parse("(department=x)").unwrap().constructed_attribute(), None);
}

#[test]
fn dns_normalize_as_rfc2253_reads_them() {
    let n = |s: &str| normalize_dn(s);
    assert_eq!(n("OU=Staff, DC=contoso, DC=com"), n("ou=staff,dc=Contoso,dc=COM"));
    assert_eq!(n("OU = Staff ,DC=contoso;DC=com"), n("OU=Staff,DC=contoso,DC=com"));
    assert_ne!(n("OU=Staff,DC=contoso,DC=com"), n("OU=Sales,DC=contoso,DC=com"));
    assert_eq!(
        n("CN=Smith\\, John,OU=Staff,DC=contoso,DC=com").unwrap().matches(',').count(),
        4,
        "an escaped comma is kept"
    );
    for bad in ["", "Staff", "OU=,DC=com", "=x,DC=com", "OU=Staff,,DC=com", "OU=a\\"] {
        assert_eq!(n(bad), None, "{bad:?}");
    }
}

#[test]
fn malformed_filters_say_where_and_what() {
    for (text, at, what) in [
        ("(department=Sales", 17, "expected ')'"),
        ("department=Sales", 0, "expected '('"),
        ("(&)", 2, "at least one"),
        ("(=x)", 1, "attribute name"),
        ("(a=b)(c=d)", 5, "end of the filter"),
        ("(a=\\zz)", 3, "two hex digits"),
        ("(a:1.2.3:=4)", 3, "matching rule"),
        ("(a>=x*)", 5, "escaped as \\2a"),
        ("(a=b**c)", 7, "text between"),
    ] {
        let e = Filter::parse(text).unwrap_err();
        assert_eq!(e.at, at, "{text}: {e}");
        assert!(e.message.contains(what), "{text}: {e}");
    }
    let deep = format!("{}(a=b){}", "(!".repeat(70), ")".repeat(70));
    assert!(Filter::parse(&deep).unwrap_err().message.contains("nest"));
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9 *()\\\\]{1,6}", "\\PC{1,6}"]
}

fn piece() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z]{1,3}", "\\PC{1,3}"].prop_filter("a piece has no '*'", |p| !p.contains('*'))
}

fn filter() -> impl Strategy<Value = Filter> {
    let attr = prop_oneof![
        Just("l".to_string()),
        Just("useraccountcontrol".to_string()),
        Just("manager".to_string()),
        "[a-z][a-z0-9]{0,5}"
    ];
    let leaf = prop_oneof![
        (attr.clone(), value()).prop_map(|(a, v)| Filter::Equal(a, v)),
        (attr.clone(), value()).prop_map(|(a, v)| Filter::GreaterOrEqual(a, v)),
        (attr.clone(), value()).prop_map(|(a, v)| Filter::LessOrEqual(a, v)),
        (attr.clone(), value()).prop_map(|(a, v)| Filter::Approx(a, v)),
        attr.clone().prop_map(Filter::Present),
        (
            attr.clone(),
            proptest::option::of(piece()),
            proptest::collection::vec(piece(), 0..3),
            proptest::option::of(piece())
        )
            .prop_filter("a substring filter has a piece", |(_, i, a, l)| i.is_some() || !a.is_empty() || l.is_some())
            .prop_map(|(attribute, initial, any, last)| Filter::Substring { attribute, initial, any, last }),
        (attr, any::<bool>(), any::<u32>()).prop_map(|(attribute, and, v)| Filter::Bitwise {
            attribute,
            rule: if and { BitRule::And } else { BitRule::Or },
            value: u64::from(v),
        }),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..4).prop_map(Filter::And),
            proptest::collection::vec(inner.clone(), 1..4).prop_map(Filter::Or),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

proptest! {
    /// Printing then parsing gives the same filter (Unicode values included), and `!`
    /// swaps TRUE and FALSE and keeps Undefined.
    #[test]
    fn print_parse_round_trip(f in filter(), v in value()) {
        let text = f.to_string();
        prop_assert_eq!(Filter::parse(&text).unwrap(), f.clone());
        let e: BTreeMap<String, Vec<String>> = [("l".to_string(), vec![v.clone()]), ("useraccountcontrol".to_string(), vec!["7".to_string()])].into();
        let look = |a: &str| Cow::Borrowed(e.get(a).map_or(&[][..], |x| x.as_slice()));
        let negated = Filter::Not(Box::new(f.clone())).evaluate(&look, Logic::ThreeValued);
        let expected = match f.evaluate(&look, Logic::ThreeValued) {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Undefined => Truth::Undefined,
        };
        prop_assert_eq!(negated, expected);
    }

    /// Issue 13: evaluating any filter against any Unicode values never panics, in
    /// either logic.
    #[test]
    fn evaluation_never_panics(f in filter(), values in proptest::collection::vec("\\PC{0,8}", 0..4)) {
        let look = |_: &str| Cow::Borrowed(values.as_slice());
        let _ = f.evaluate(&look, Logic::ThreeValued);
        let _ = f.evaluate(&look, Logic::TwoValued);
    }

    /// A key is its own key, and a value's substring (at character boundaries) is a
    /// substring match of the value, whatever its letters.
    #[test]
    fn keys_and_substrings_agree(value in "\\PC{1,12}", start in 0usize..12, len in 1usize..6) {
        prop_assert_eq!(unicode_key(&unicode_key(&value)), unicode_key(&value));
        let chars: Vec<char> = value.chars().collect();
        let start = start.min(chars.len() - 1);
        let piece: String = chars[start..(start + len).min(chars.len())].iter().collect();
        let entry: BTreeMap<String, Vec<String>> = [("l".to_string(), vec![value.clone()])].into();
        let look = |a: &str| Cow::Borrowed(entry.get(a).map_or(&[][..], |x| x.as_slice()));
        let f = Filter::Substring { attribute: "l".into(), initial: None, any: vec![piece.clone()], last: None };
        prop_assume!(!unicode_key(&piece).is_empty());
        prop_assert!(f.matches(&look, Logic::ThreeValued), "{:?} in {:?}", piece, value);
        // The same letters in the other case (one letter for one: a full mapping can
        // add letters, as ᾀ's subscript iota becoming a capital Ι).
        let other_case: String = value
            .chars()
            .map(|c| {
                let mut u = if c.is_uppercase() { c.to_lowercase().collect::<Vec<_>>() } else { c.to_uppercase().collect() };
                if u.len() == 1 { u.remove(0) } else { c }
            })
            .collect();
        let f = Filter::Equal("l".into(), other_case.clone());
        prop_assert!(f.matches(&look, Logic::ThreeValued), "{:?} as {:?}", value, other_case);
    }

    /// Arbitrary text never panics the parser.
    #[test]
    fn any_text_parses_or_errs(text in "[()&|!=*~<>:a-z0-9\\\\.é]{0,30}") {
        let _ = Filter::parse(&text);
    }
}
