//! serde's `rename_all` rules, so the names the derive generates (schema properties,
//! query paths) are the names serde writes.

/// A `rename_all` rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RenameRule {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

impl RenameRule {
    /// The rule serde names `name`.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "lowercase" => Self::Lower,
            "UPPERCASE" => Self::Upper,
            "PascalCase" => Self::Pascal,
            "camelCase" => Self::Camel,
            "snake_case" => Self::Snake,
            "SCREAMING_SNAKE_CASE" => Self::ScreamingSnake,
            "kebab-case" => Self::Kebab,
            "SCREAMING-KEBAB-CASE" => Self::ScreamingKebab,
            _ => return None,
        })
    }

    /// The names serde accepts.
    pub(crate) const NAMES: &'static str = "lowercase, UPPERCASE, PascalCase, camelCase, \
        snake_case, SCREAMING_SNAKE_CASE, kebab-case, SCREAMING-KEBAB-CASE";

    /// Applies the rule to a Rust field name (snake_case), as serde does.
    pub(crate) fn apply_to_field(self, field: &str) -> String {
        match self {
            Self::Lower | Self::Snake => field.to_owned(),
            Self::Upper | Self::ScreamingSnake => field.to_ascii_uppercase(),
            Self::Pascal => {
                let mut pascal = String::new();
                let mut capitalize = true;
                for ch in field.chars() {
                    if ch == '_' {
                        capitalize = true;
                    } else if capitalize {
                        pascal.push(ch.to_ascii_uppercase());
                        capitalize = false;
                    } else {
                        pascal.push(ch);
                    }
                }
                pascal
            }
            Self::Camel => {
                let pascal = Self::Pascal.apply_to_field(field);
                let mut chars = pascal.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            }
            Self::Kebab => field.replace('_', "-"),
            Self::ScreamingKebab => Self::ScreamingSnake.apply_to_field(field).replace('_', "-"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RenameRule;

    #[test]
    fn rules_rename_like_serde() {
        let field = "policy_number";
        let cases = [
            ("lowercase", "policy_number"),
            ("UPPERCASE", "POLICY_NUMBER"),
            ("PascalCase", "PolicyNumber"),
            ("camelCase", "policyNumber"),
            ("snake_case", "policy_number"),
            ("SCREAMING_SNAKE_CASE", "POLICY_NUMBER"),
            ("kebab-case", "policy-number"),
            ("SCREAMING-KEBAB-CASE", "POLICY-NUMBER"),
        ];
        for (rule, expected) in cases {
            let rule = RenameRule::from_name(rule);
            assert_eq!(
                rule.map(|rule| rule.apply_to_field(field)).as_deref(),
                Some(expected)
            );
        }
        assert_eq!(RenameRule::from_name("Title Case"), None);
    }
}
