//! The server's schema (RFC 4512 §4.2, the subschema subentry), read so that
//! a load names the attributes it asks for. `*` would also ask for
//! `userPassword` and its kind; instead a load asks for the Annex H
//! attributes, and for an entry of a vendor extension class (kept, H.1.1)
//! for the attributes that class allows, as this server defines it, minus
//! the secrets ([`crate::client::SECRET_ATTRIBUTES`]).

use std::collections::{BTreeSet, HashMap, HashSet};

/// Why a schema description could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubschemaError {
    /// The description does not start with `(` or ends before `)`.
    #[error("schema description is not a parenthesized list")]
    NotAList,
    /// A `'` opens a string that never ends.
    #[error("schema description has an unterminated quoted string")]
    Unterminated,
    /// A keyword lacks the value it requires.
    #[error("schema description: {0} has no value")]
    MissingValue(String),
}

/// One definition (RFC 4512 §4.1): the numeric OID and each keyword with its
/// values, in order. Unknown keywords (`X-…`, future ones) are kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description {
    /// The numeric OID (or, from lenient servers, a descriptor).
    pub oid: String,
    /// Keyword and values, as given (`NAME`, `SUP`, `MUST`, `MAY`, `USAGE`…).
    pub fields: Vec<(String, Vec<String>)>,
}

/// Keywords that stand alone, without a value.
const FLAGS: &[&str] = &[
    "OBSOLETE",
    "ABSTRACT",
    "STRUCTURAL",
    "AUXILIARY",
    "SINGLE-VALUE",
    "COLLECTIVE",
    "NO-USER-MODIFICATION",
];

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Dollar,
    Quoted(String),
    Word(String),
}

fn tokens(s: &str) -> Result<Vec<Token>, SubschemaError> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push(Token::Open),
            ')' => out.push(Token::Close),
            '$' => out.push(Token::Dollar),
            '\'' => {
                let rest = &s[i + 1..];
                let end = rest.find('\'').ok_or(SubschemaError::Unterminated)?;
                out.push(Token::Quoted(rest[..end].to_string()));
                // Skip the string and its closing quote.
                for _ in 0..rest[..=end].chars().count() {
                    chars.next();
                }
            }
            _ => {
                let mut word = String::from(c);
                while let Some(&(_, n)) = chars.peek() {
                    if n.is_whitespace() || matches!(n, '(' | ')' | '$' | '\'') {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    Ok(out)
}

/// Parses one RFC 4512 definition (`( 2.5.6.6 NAME 'person' SUP top … )`).
pub fn parse_description(s: &str) -> Result<Description, SubschemaError> {
    let tokens = tokens(s)?;
    let mut it = tokens.into_iter().peekable();
    if it.next() != Some(Token::Open) {
        return Err(SubschemaError::NotAList);
    }
    let oid = match it.next() {
        Some(Token::Word(w)) => w,
        _ => return Err(SubschemaError::NotAList),
    };
    let mut fields = Vec::new();
    loop {
        let keyword = match it.next() {
            Some(Token::Close) => break,
            Some(Token::Word(w)) => w,
            Some(_) | None => return Err(SubschemaError::NotAList),
        };
        if FLAGS.contains(&keyword.as_str()) {
            fields.push((keyword, Vec::new()));
            continue;
        }
        let values = match it.next() {
            Some(Token::Word(w)) | Some(Token::Quoted(w)) => vec![w],
            Some(Token::Open) => {
                let mut values = Vec::new();
                loop {
                    match it.next() {
                        Some(Token::Close) => break,
                        Some(Token::Word(w)) | Some(Token::Quoted(w)) => values.push(w),
                        Some(Token::Dollar) => {}
                        Some(Token::Open) | None => return Err(SubschemaError::NotAList),
                    }
                }
                values
            }
            Some(Token::Close) | Some(Token::Dollar) | None => {
                return Err(SubschemaError::MissingValue(keyword));
            }
        };
        fields.push((keyword, values));
    }
    if it.next().is_some() {
        return Err(SubschemaError::NotAList);
    }
    Ok(Description { oid, fields })
}

impl Description {
    /// The values of `keyword` (empty when absent).
    pub fn values(&self, keyword: &str) -> &[String] {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(keyword))
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    /// True when the flag `keyword` is present.
    pub fn has(&self, keyword: &str) -> bool {
        self.fields
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(keyword))
    }
}

/// An object class as the server defines it.
#[derive(Debug, Clone, Default)]
struct ObjectClass {
    superiors: Vec<String>,
    attributes: Vec<String>,
}

/// What a load needs of the server's schema: each object class's attributes
/// and the names of all user attribute types.
#[derive(Debug, Clone, Default)]
pub struct Subschema {
    classes: HashMap<String, ObjectClass>,
    user_attributes: BTreeSet<String>,
}

impl Subschema {
    /// From the values of the subschema entry's `objectClasses` and
    /// `attributeTypes`. A definition that does not parse is passed over
    /// (and logged): one vendor's typo must not stop every load.
    pub fn from_values<'a>(
        object_classes: impl IntoIterator<Item = &'a str>,
        attribute_types: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut schema = Subschema::default();
        for value in object_classes {
            let d = match parse_description(value) {
                Ok(d) => d,
                Err(e) => {
                    tracing::debug!("object class definition passed over: {e}");
                    continue;
                }
            };
            let class = ObjectClass {
                superiors: d.values("SUP").to_vec(),
                attributes: d
                    .values("MUST")
                    .iter()
                    .chain(d.values("MAY"))
                    .cloned()
                    .collect(),
            };
            for name in d.values("NAME") {
                schema
                    .classes
                    .insert(name.to_ascii_lowercase(), class.clone());
            }
        }
        for value in attribute_types {
            let d = match parse_description(value) {
                Ok(d) => d,
                Err(e) => {
                    tracing::debug!("attribute type definition passed over: {e}");
                    continue;
                }
            };
            let usage = d.values("USAGE").first().map(String::as_str);
            let user = usage.is_none_or(|u| u.eq_ignore_ascii_case("userApplications"))
                && !d.has("NO-USER-MODIFICATION");
            if user && let Some(name) = d.values("NAME").first() {
                schema.user_attributes.insert(name.clone());
            }
        }
        schema
    }

    /// True when the server defined no object class at all (an empty or
    /// unreadable subschema).
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The attributes that `classes` allow (with their superclasses'), or,
    /// for `extensibleObject` (any attribute allowed) and for a class the
    /// server does not define, every user attribute type the server has.
    /// Secrets are never among them.
    pub fn wanted<'a>(&self, classes: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut seen = HashSet::new();
        let mut todo: Vec<String> = classes
            .into_iter()
            .map(|c| c.to_ascii_lowercase())
            .collect();
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if name == "extensibleobject" {
                out.extend(self.user_attributes.iter().cloned());
                continue;
            }
            let Some(class) = self.classes.get(&name) else {
                out.extend(self.user_attributes.iter().cloned());
                continue;
            };
            out.extend(class.attributes.iter().cloned());
            todo.extend(class.superiors.iter().map(|s| s.to_ascii_lowercase()));
        }
        out.retain(|a| !crate::client::is_secret(a));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_definition_parses_with_lists_flags_and_extensions() {
        let d = parse_description(
            "( 2.5.6.6 NAME 'person' DESC 'RFC2256: a person' SUP top STRUCTURAL \
             MUST ( sn $ cn ) MAY ( userPassword $ telephoneNumber ) X-ORIGIN ( 'RFC 4519' 'x' ) )",
        )
        .unwrap();
        assert_eq!(d.oid, "2.5.6.6");
        assert_eq!(d.values("NAME"), ["person"]);
        assert_eq!(d.values("MUST"), ["sn", "cn"]);
        assert_eq!(d.values("MAY"), ["userPassword", "telephoneNumber"]);
        assert!(d.has("STRUCTURAL"));
        assert_eq!(d.values("X-ORIGIN"), ["RFC 4519", "x"]);
    }

    #[test]
    fn broken_definitions_are_typed_errors() {
        assert_eq!(parse_description("2.5.6.6"), Err(SubschemaError::NotAList));
        assert_eq!(
            parse_description("( 1 NAME 'x"),
            Err(SubschemaError::Unterminated)
        );
        assert_eq!(
            parse_description("( 1 NAME )"),
            Err(SubschemaError::MissingValue("NAME".into()))
        );
        assert_eq!(
            parse_description("( 1 MUST ( a $ b"),
            Err(SubschemaError::NotAList)
        );
        assert_eq!(parse_description("( 1 ) x"), Err(SubschemaError::NotAList));
        assert_eq!(parse_description(""), Err(SubschemaError::NotAList));
    }

    fn schema() -> Subschema {
        Subschema::from_values(
            [
                "( 2.5.6.0 NAME 'top' ABSTRACT MUST objectClass )",
                "( 1.1 NAME ( 'vendorDevice' 'vd' ) SUP top AUXILIARY MAY ( vendorX $ userPassword ) )",
                "( 1.2 NAME 'vendorSub' SUP vendorDevice AUXILIARY MUST vendorY )",
                "( 1.3 NAME 'loop' SUP loop MAY a )",
                "not a definition",
            ],
            [
                "( 2.5.4.3 NAME ( 'cn' 'commonName' ) SUP name )",
                "( 2.5.4.35 NAME 'userPassword' EQUALITY octetStringMatch )",
                "( 2.5.18.1 NAME 'createTimestamp' NO-USER-MODIFICATION USAGE directoryOperation )",
                "( 1.9 NAME 'vendorX' USAGE userApplications )",
            ],
        )
    }

    #[test]
    fn a_class_wants_its_and_its_superiors_attributes_never_secrets() {
        let s = schema();
        let want = |c: &[&str]| s.wanted(c.iter().copied());
        let named = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            want(&["vendorSub"]),
            named(&["objectClass", "vendorX", "vendorY"])
        );
        assert_eq!(want(&["VD"]), named(&["objectClass", "vendorX"]));
        assert_eq!(want(&["loop"]), named(&["a"]));
        assert_eq!(want(&["extensibleObject"]), named(&["cn", "vendorX"]));
        assert_eq!(want(&["other"]), named(&["cn", "vendorX"]));
    }
}
