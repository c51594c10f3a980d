//! Property tests (fuzzing) of the parsers that take outside input: policy documents, API
//! bodies, queue messages and object keys. Whatever the input, a parser answers with a value or
//! a validation error (never a panic, never another kind of error), and what it accepts holds
//! the rules its validation promises. `PROPTEST_CASES=20000 cargo test -p slm-core --test fuzz`
//! runs them longer (the README's fuzz command).

use proptest::prelude::*;
use serde_json::{Value, json};
use slm_core::ErrorKind;
use slm_core::domain::grant::{ApplicationBody, Permission, Scope, principal_of};
use slm_core::domain::hold::HoldBody;
use slm_core::domain::layout::KeyLayout;
use slm_core::domain::{AssetChange, NewAsset, PolicyDoc, TitleBody};
use slm_core::json::parse;
use slm_core::service::access::AccessBody;
use slm_core::service::BackfillRequest;
use slm_core::messages::{ControlMessage, ReconcileMessage, WorkBatch};

/// Any JSON value, nested a few levels, with odd strings (control characters, `..`, Unicode).
fn any_json() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        any::<String>(),
        Just("..".to_string()),
        Just("a/../b".to_string()),
        Just("\u{0}\u{7}\u{1b}".to_string()),
        Just("é\u{202e}𝄞".to_string()),
        "[a-z_]{1,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        text.prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,14}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Parses `text` as each kind of outside input; only a value or a validation error may come out.
fn every_parser(text: &str) {
    fn check<T: serde::de::DeserializeOwned>(what: &str, text: &str) {
        if let Err(e) = parse::<T>(what, text) {
            assert_eq!(e.kind(), ErrorKind::Validation, "{what}: {e}");
        }
    }
    check::<NewAsset>("asset", text);
    check::<AssetChange>("asset change", text);
    check::<TitleBody>("title", text);
    check::<AccessBody>("accesses", text);
    check::<BackfillRequest>("backfill", text);
    check::<ControlMessage>("control message", text);
    check::<WorkBatch>("work batch", text);
    check::<ReconcileMessage>("reconcile message", text);
    check::<HoldBody>("hold", text);
    if let Ok(body) = parse::<ApplicationBody>("application", text)
        && let Err(e) = body.into_application("admin", chrono::DateTime::UNIX_EPOCH)
    {
        assert_eq!(e.kind(), ErrorKind::Validation, "application: {e}");
    }
    if let Err(e) = PolicyDoc::parse(text) {
        assert_eq!(e.kind(), ErrorKind::Validation, "policy: {e}");
    }
}

/// A valid policy document, to mutate.
fn policy() -> Value {
    json!({"policy_id": "finals", "description": "d", "selector": {"asset_types": ["final"], "phases": [], "titles": [], "tags": {"k": "v"}},
           "anchor": "title.launch", "offset_days": 30, "action": {"action": "archive", "storage_class": "GLACIER"},
           "priority": 10, "enabled": true, "not_accessed_days": 30})
}

proptest! {
    #[test]
    fn fuzz_arbitrary_text_is_parsed_or_refused(text in any::<String>()) {
        every_parser(&text);
    }

    #[test]
    fn fuzz_arbitrary_json_is_parsed_or_refused(value in any_json()) {
        every_parser(&value.to_string());
    }

    #[test]
    fn fuzz_a_policy_with_one_field_replaced_is_valid_or_refused(field in prop::sample::select(vec![
        "policy_id", "description", "selector", "anchor", "offset_days", "action", "priority", "enabled", "not_accessed_days", "extra",
    ]), value in any_json()) {
        let mut doc = policy();
        doc[field] = value;
        match PolicyDoc::parse(&doc.to_string()) {
            // What is accepted is valid, and reads back the same.
            Ok(p) => {
                prop_assert!(p.validate().is_ok());
                let again = PolicyDoc::parse(&serde_json::to_string(&p).unwrap()).unwrap();
                prop_assert_eq!(again, p);
            }
            Err(e) => prop_assert_eq!(e.kind(), ErrorKind::Validation),
        }
    }

    #[test]
    fn fuzz_an_accepted_asset_has_ids_and_a_prefix_slm_can_use(value in any_json(), prefix in any::<String>(), id in any::<String>()) {
        let mut body = json!({"asset_id": "a-1", "title_id": "t", "asset_type": "x", "bucket": "media", "prefix": "p/"});
        body["prefix"] = json!(prefix);
        body["asset_id"] = json!(id);
        if let Value::Object(extra) = value {
            for (k, v) in extra.into_iter().take(1) {
                body[k] = v;
            }
        }
        if let Ok(asset) = parse::<NewAsset>("asset", &body.to_string()) && asset.validate().is_ok() {
            prop_assert!(asset.prefix.ends_with('/'));
            prop_assert!(!asset.prefix.split('/').any(|p| p == ".."));
            prop_assert!(!asset.prefix.chars().any(char::is_control));
            prop_assert!(asset.asset_id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
            prop_assert!(asset.asset_id.chars().any(|c| c != '.'));
        }
    }

    #[test]
    fn fuzz_the_key_layout_places_keys_only_below_a_valid_prefix(key in any::<String>(), parts in prop::collection::vec("[A-Za-z0-9._ /-]{0,8}", 0..6)) {
        let layout = KeyLayout::default();
        for key in [key, parts.join("/")] {
            if let Ok(p) = layout.place(&key) {
                prop_assert!(key.starts_with(&p.prefix) && key.len() > p.prefix.len(), "{key:?} {p:?}");
                for id in [&p.title_id, &p.asset_type, &p.asset_id] {
                    prop_assert!(slm_core::domain::asset::validate_id("id", id).is_ok());
                }
            }
        }
    }

    #[test]
    fn fuzz_a_caller_is_an_iam_role_or_user_or_nobody(arn in prop_oneof![
        any::<String>(),
        "arn:aws:(iam|sts)::[0-9]{12}:(role|user|assumed-role)/[A-Za-z0-9+=,.@_/é-]{0,20}",
    ]) {
        // Whatever API Gateway hands over, the registry key is a role or user ARN of a fixed
        // shape, or the caller is nobody.
        if let Ok(key) = principal_of(&arn) {
            let rest = key.strip_prefix("arn:").unwrap();
            let (_, tail) = rest.split_once(":iam::").unwrap();
            let (account, name) = tail.split_once(':').unwrap();
            prop_assert!(account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()));
            prop_assert!(name.starts_with("role/") || name.starts_with("user/"), "{key}");
            prop_assert_eq!(name.matches('/').count(), 1);
            prop_assert_eq!(principal_of(&key).unwrap(), key.clone(), "a key is its own key");
        }
    }

    #[test]
    fn fuzz_an_accepted_application_grants_only_what_it_lists(value in any_json(), actions in prop::collection::vec("(archive|restore|purge|hold|admin|x)", 0..4)) {
        let mut body = json!({"principal": "arn:aws:iam::123456789012:role/app", "name": "app", "grants": [{"actions": actions}]});
        if let Value::Object(extra) = value {
            for (k, v) in extra.into_iter().take(1) {
                body["grants"][0][k] = v;
            }
        }
        if let Ok(app) = parse::<ApplicationBody>("application", &body.to_string()).and_then(|b| b.into_application("admin", chrono::DateTime::UNIX_EPOCH)) {
            for p in Permission::ALL {
                let listed = app.grants.iter().any(|g| g.actions.contains(&p));
                if !listed {
                    prop_assert!(!app.allows(p, &Scope::UNSCOPED) && !app.allows(p, &Scope::asset("t", "x")), "{p} allowed: {app:?}");
                }
                // A scope that lists types or titles never serves a request naming none.
                for g in app.grants.iter().filter(|g| g.asset_types.is_some() || g.title_ids.is_some()) {
                    prop_assert!(!g.allows(p, &Scope::UNSCOPED));
                }
            }
        }
    }
}
