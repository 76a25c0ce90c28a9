use std::time::Duration;

use appreg::emulator::Faults;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::Env;

const POLICY: &str = "/policies/defaultAppManagementPolicy";

fn lifetime_policy(days: u64) -> Faults {
    Faults {
        max_secret_lifetime: Some(Duration::from_secs(days * 86_400)),
        ..Faults::default()
    }
}

#[tokio::test]
async fn default_policy_is_disabled_without_a_lifetime_rule() {
    let env = Env::start().await;
    let answer = env.get(POLICY).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let policy = &answer.body;
    assert!(
        policy["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/$metadata#policies/defaultAppManagementPolicy"),
        "{}",
        policy["@odata.context"]
    );
    assert_eq!(policy["id"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(
        policy["displayName"],
        "Default app management tenant policy"
    );
    assert_eq!(policy["isEnabled"], false);
    for side in ["applicationRestrictions", "servicePrincipalRestrictions"] {
        assert_eq!(policy[side]["passwordCredentials"], json!([]), "{side}");
        assert_eq!(policy[side]["keyCredentials"], json!([]), "{side}");
    }
}

#[tokio::test]
async fn default_policy_reports_the_secret_lifetime_addpassword_enforces() {
    let env = Env::with_faults(lifetime_policy(365)).await;
    let policy = env.get(POLICY).await.body;
    assert_eq!(policy["isEnabled"], true);
    let rules = policy["applicationRestrictions"]["passwordCredentials"]
        .as_array()
        .unwrap();
    assert_eq!(rules.len(), 1);
    let rule = &rules[0];
    assert_eq!(rule["restrictionType"], "passwordLifetime");
    assert_eq!(rule["maxLifetime"], "P365D");
    assert_eq!(rule["state"], "enabled");
    let after = chrono::DateTime::parse_from_rfc3339(
        rule["restrictForAppsCreatedAfterDateTime"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let app = env.app("covered").await;
    let created =
        chrono::DateTime::parse_from_rfc3339(app["createdDateTime"].as_str().unwrap()).unwrap();
    assert!(after < created, "the rule covers every app, as enforced");
    assert_eq!(
        policy["applicationRestrictions"]["keyCredentials"],
        json!([])
    );

    // What the policy says is what addPassword enforces.
    let path = format!("/applications/{}/addPassword", app["id"].as_str().unwrap());
    let within = (chrono::Utc::now() + chrono::Duration::days(364)).to_rfc3339();
    let beyond = (chrono::Utc::now() + chrono::Duration::days(366)).to_rfc3339();
    let ok = env
        .post(
            &path,
            json!({"passwordCredential": {"endDateTime": within}}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let refused = env
        .post(
            &path,
            json!({"passwordCredential": {"endDateTime": beyond}}),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.error().0, "CredentialInvalidLifetimeAsPerAppPolicy");

    // The switch can change while the sandbox runs; the policy follows it.
    env.sandbox.set_faults(Faults {
        max_secret_lifetime: Some(Duration::from_secs(36 * 3_600)),
        ..Faults::default()
    });
    let part_day = env.get(POLICY).await.body;
    assert_eq!(
        part_day["applicationRestrictions"]["passwordCredentials"][0]["maxLifetime"],
        "P1DT12H"
    );
}

#[tokio::test]
async fn default_policy_answers_inside_batch_and_honours_select() {
    let env = Env::with_faults(lifetime_policy(90)).await;
    let answer = env
        .post(
            "/$batch",
            json!({"requests": [
                {"id": "1", "method": "GET", "url": POLICY},
                {"id": "2", "method": "GET", "url": format!("{POLICY}?$select=isEnabled,displayName")},
            ]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let item = |id: &str| -> Value {
        answer.body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()
            .clone()
    };
    let full = item("1");
    assert_eq!(full["status"], 200);
    assert_eq!(
        full["body"]["applicationRestrictions"]["passwordCredentials"][0]["maxLifetime"],
        "P90D"
    );
    let selected = item("2");
    assert_eq!(selected["status"], 200);
    let mut keys: Vec<&String> = selected["body"].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["@odata.context", "displayName", "isEnabled"]);

    let unknown = env.get(&format!("{POLICY}?$select=nope")).await;
    assert_eq!(unknown.status, 400);
    assert_eq!(
        env.call(Method::PATCH, POLICY, Some(json!({"isEnabled": true})), &[])
            .await
            .status,
        405,
        "the sandbox's policy is set by its switches only"
    );
}

#[tokio::test]
async fn reading_the_policy_needs_policy_read_all() {
    let env = Env::start().await;
    let (app, _) = env.app_with_sp("no-policy-rights").await;
    let secret = env.add_password(app["id"].as_str().unwrap()).await["secretText"]
        .as_str()
        .unwrap()
        .to_string();
    let token = env.token_for(app["appId"].as_str().unwrap(), &secret).await;
    let denied = env.call_as(&token, Method::GET, POLICY, None, &[]).await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.error().0, "Authorization_RequestDenied");
}
