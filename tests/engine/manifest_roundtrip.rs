//! Property: any valid desired-state model, written back to YAML, loads to the same model.
//!
//! Exercises the serializer's quoting (strings that look like numbers, booleans, `#`, `: `, leading
//! spaces, unicode), the loader's structural check, validation and lowering, all at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use appreg::model::*;
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use proptest::sample::select;
use uuid::Uuid;

/// Text a person might put in a display name, including YAML-significant characters.
fn free_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z][A-Za-z0-9 ._-]{0,30}",
        select(vec![
            "yes",
            "no",
            "true",
            "null",
            "123",
            "1.5",
            "~",
            "on",
            "0x1F",
            "- dash",
            "a: b",
            "# hash",
            "'quoted'",
            "\"dq\"",
            " lead",
            "trail ",
            "Zürich – 東京",
            "[x]",
            "{y}",
            "*star",
            "&amp",
            "!bang",
            "%pct",
            "@at",
            "`tick`",
            "|pipe",
            ">gt"
        ])
        .prop_map(str::to_string),
    ]
    .prop_filter("non-blank", |s| !s.trim().is_empty())
}

fn token() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,10}"
}

fn https_uri() -> impl Strategy<Value = String> {
    ("[a-z]{1,8}", "[a-z0-9]{0,8}")
        .prop_map(|(host, path)| format!("https://{host}.example.com/{path}"))
}

fn period() -> impl Strategy<Value = Period> {
    prop_oneof![
        (90u32..800).prop_map(Period::days),
        (3u32..24).prop_map(|months| Period {
            years: 0,
            months,
            days: 0
        }),
        (1u32..3).prop_map(|years| Period {
            years,
            months: 0,
            days: 0
        }),
        (1u32..2, 1u32..11, 1u32..20).prop_map(|(years, months, days)| Period {
            years,
            months,
            days
        }),
    ]
}

fn sink(name: String) -> impl Strategy<Value = SecretSink> {
    prop_oneof![
        Just(SecretSink::File(ManifestPath {
            declared: format!("secrets/{name}.json"),
            base_dir: Default::default()
        })),
        Just(SecretSink::KeyVault {
            vault: "https://contoso-kv.vault.azure.net".into(),
            secret: name.clone()
        }),
        Just(SecretSink::GithubOutput {
            output: format!("out_{}", name.replace('-', "_"))
        }),
        Just(SecretSink::Stdout),
    ]
}

fn secrets(max: usize, personal: bool) -> impl Strategy<Value = Vec<SecretSpec>> {
    btree_set(token(), 0..=max).prop_flat_map(move |names| {
        let specs: Vec<_> = names
            .into_iter()
            .map(|name| {
                let keep = if personal { 1u32..=2 } else { 1u32..=4 };
                (
                    period(),
                    1u32..60,
                    keep,
                    proptest::option::weighted(0.8, sink(name.clone())),
                    btree_set(any::<u128>(), 0..3),
                )
                    .prop_map(move |(lifetime, rotate, keep, sink, key_ids)| {
                        // A secret without a sink keeps existing credentials: it names some.
                        let kept = sink
                            .is_none()
                            .then(|| Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes()));
                        SecretSpec {
                            name: name.clone(),
                            lifetime,
                            rotate_before: Period::days(rotate),
                            keep,
                            sink,
                            key_ids: key_ids
                                .into_iter()
                                .map(Uuid::from_u128)
                                .chain(kept)
                                .map(|k| k.to_string())
                                .collect(),
                        }
                    })
            })
            .collect();
        specs
    })
}

fn app_roles(app: String) -> impl Strategy<Value = Vec<AppRole>> {
    btree_set("[A-Z][a-zA-Z]{0,8}(\\.[A-Z][a-z]{0,5})?", 0..3).prop_flat_map(move |values| {
        let app = app.clone();
        let roles: Vec<_> = values
            .into_iter()
            .map(|value| {
                let app = app.clone();
                (
                    free_text(),
                    free_text(),
                    btree_set(
                        select(vec![
                            AppRoleMemberType::User,
                            AppRoleMemberType::Application,
                        ]),
                        1..=2,
                    ),
                    any::<bool>(),
                    any::<bool>(),
                )
                    .prop_map(
                        move |(
                            display_name,
                            description,
                            allowed_member_types,
                            enabled,
                            explicit_id,
                        )| AppRole {
                            id: if explicit_id {
                                Uuid::new_v4()
                            } else {
                                appreg::manifest::derived_id(&app, "role", &value)
                            },
                            value: value.clone(),
                            display_name,
                            description,
                            allowed_member_types,
                            enabled,
                        },
                    )
            })
            .collect();
        roles
    })
}

fn permissions() -> impl Strategy<Value = BTreeMap<String, RequestedPermissions>> {
    let graph = (
        btree_set(
            select(vec![
                "User.Read",
                "Mail.Send",
                "Calendars.ReadWrite",
                "offline_access",
                "openid",
            ]),
            0..4,
        ),
        btree_set(
            select(vec!["User.Read.All", "Mail.Send", "Application.Read.All"]),
            0..3,
        ),
    )
        .prop_map(|(d, a)| RequestedPermissions {
            delegated: d.into_iter().map(str::to_string).collect(),
            application: a.into_iter().map(str::to_string).collect(),
        });
    // A resource outside the catalogue: names are resolved at plan time, so any text is allowed.
    let custom =
        btree_set("[A-Z][a-z]{1,6}\\.[A-Z][a-z]{1,6}", 0..3).prop_map(|d| RequestedPermissions {
            delegated: d,
            application: BTreeSet::new(),
        });
    (proptest::option::of(graph), proptest::option::of(custom)).prop_map(|(graph, custom)| {
        let mut map = BTreeMap::new();
        if let Some(g) = graph {
            map.insert("Microsoft Graph".to_string(), g);
        }
        if let Some(c) = custom {
            map.insert("Contoso Orders API".to_string(), c);
        }
        map
    })
}

fn app(key: String) -> impl Strategy<Value = DesiredApp> {
    let audience = select(vec![
        SignInAudience::MyOrganization,
        SignInAudience::MultipleOrganizations,
        SignInAudience::OrganizationsAndPersonalAccounts,
        SignInAudience::PersonalAccounts,
    ]);
    audience.prop_flat_map(move |audience| {
        let personal = audience.allows_personal_accounts();
        let key = key.clone();
        let uri_key = key.clone();
        let basics = (
            free_text(),
            proptest::option::of(free_text()),
            proptest::option::of(prop_oneof![
                free_text(),
                Just("line one\nline two".to_string())
            ]),
            btree_set(token(), 0..4),
            btree_set("[a-z]{1,6}@contoso\\.com".prop_map(OwnerRef::User), 0..3),
            // identifierUris are unique across apps: each app's carry its key.
            btree_set(
                token().prop_map(move |t| format!("api://{uri_key}/{t}")),
                0..3,
            ),
            btree_set(https_uri(), 0..4),
            btree_set(https_uri(), 0..3),
            btree_set(
                prop_oneof![
                    https_uri(),
                    Just(
                        "https://login.microsoftonline.com/common/oauth2/nativeclient".to_string()
                    ),
                    Just("msal1234://auth".to_string())
                ],
                0..3,
            ),
            proptest::option::of(any::<bool>()),
        );
        let roles = if personal {
            Just(Vec::new()).boxed()
        } else {
            app_roles(key.clone()).boxed()
        };
        let extras = (
            roles,
            permissions(),
            0u8..3,
            secrets(if personal { 1 } else { 3 }, personal),
            btree_set(("[a-z][a-z0-9]{0,8}@contoso\\.com", any::<bool>()), 0..3),
            btree_set(
                select(vec![
                    IgnoredField::Notes,
                    IgnoredField::Tags,
                    IgnoredField::WebRedirectUris,
                    IgnoredField::Permissions,
                ]),
                0..3,
            ),
            vec(
                (token(), "repo:[a-z]{1,6}/[a-z]{1,6}:ref:refs/heads/main"),
                0..3,
            ),
            (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        );
        (basics, extras).prop_map(move |(basics, extras)| {
            let (
                display_name,
                description,
                notes,
                tags,
                owners,
                identifier_uris,
                web_uris,
                spa,
                public_client,
                fallback,
            ) = basics;
            let (
                app_roles,
                permissions,
                consent,
                secrets,
                assignment_users,
                ignore,
                federated,
                flags,
            ) = extras;
            let federated_credentials = federated
                .into_iter()
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .map(|(name, subject)| FederatedCredentialSpec {
                    name,
                    issuer: "https://token.actions.githubusercontent.com".into(),
                    subject,
                    audiences: [DEFAULT_FEDERATED_AUDIENCE.to_string()].into(),
                    description: None,
                })
                .collect::<Vec<_>>();
            // Two credentials with the same subject would be refused (issuer+subject is unique).
            let mut subjects = BTreeSet::new();
            let federated_credentials = federated_credentials
                .into_iter()
                .filter(|f| subjects.insert(f.subject.clone()))
                .collect();
            let user_role = app_roles
                .iter()
                .find(|r| r.allowed_member_types.contains(&AppRoleMemberType::User))
                .map(|r| r.value.clone());
            let assignments = assignment_users
                .into_iter()
                .map(|(upn, with_role)| AssignmentSpec {
                    principal: Principal::User(upn),
                    role: if with_role { user_role.clone() } else { None },
                })
                .collect();
            DesiredApp {
                key: key.clone(),
                unique_name: key.clone(),
                adopt: None,
                display_name,
                description,
                notes,
                sign_in_audience: audience,
                tags,
                owners: owners.clone(),
                identifier_uris,
                web: WebPlatform {
                    redirect_uris: web_uris,
                    home_page_url: flags.0.then(|| "https://crm.example.com/".to_string()),
                    logout_url: None,
                    issue_access_tokens: flags.1,
                    issue_id_tokens: flags.2,
                },
                spa_redirect_uris: spa,
                public_client_redirect_uris: public_client,
                fallback_public_client: fallback,
                api: ExposedApi {
                    requested_access_token_version: if personal {
                        Some(2)
                    } else if flags.3 {
                        Some(1)
                    } else {
                        None
                    },
                    scopes: Vec::new(),
                    pre_authorized_applications: Vec::new(),
                },
                app_roles,
                optional_claims: OptionalClaims {
                    id_token: if flags.3 {
                        vec![OptionalClaim {
                            name: "email".into(),
                            source: None,
                            essential: false,
                            additional_properties: Vec::new(),
                        }]
                    } else {
                        Vec::new()
                    },
                    access_token: Vec::new(),
                    saml2_token: Vec::new(),
                },
                group_membership_claims: flags.0.then_some(GroupMembershipClaims::SecurityGroup),
                info: InfoUrls {
                    support_url: flags.1.then(|| "https://support.example.com".to_string()),
                    ..Default::default()
                },
                permissions: permissions.clone(),
                admin_consent: match consent {
                    0 => AdminConsent::None,
                    1 => AdminConsent::All,
                    // Part of what is requested: the delegated permissions of the first resource.
                    _ => AdminConsent::Granted(
                        permissions
                            .iter()
                            .take(1)
                            .map(|(r, p)| {
                                (
                                    r.clone(),
                                    RequestedPermissions {
                                        delegated: p.delegated.clone(),
                                        application: Default::default(),
                                    },
                                )
                            })
                            .collect(),
                    ),
                },
                service_principal: ServicePrincipalSettings {
                    managed: true,
                    account_enabled: !flags.2,
                    assignment_required: false,
                    visible_to_users: flags.0,
                    notification_emails: BTreeSet::new(),
                    assignments,
                    // The enterprise application's owners are written like the app's.
                    owners,
                },
                secrets,
                certificates: Vec::new(),
                federated_credentials,
                lifecycle: Lifecycle {
                    prevent_destroy: flags.1,
                    ignore,
                },
            }
        })
    })
}

fn desired_state() -> impl Strategy<Value = DesiredState> {
    (token(), btree_set(token(), 1..4), any::<bool>()).prop_flat_map(|(set_name, keys, prune)| {
        let apps: Vec<_> = keys
            .into_iter()
            .map(|k| app(k.clone()).prop_map(move |a| (k.clone(), a)))
            .collect();
        apps.prop_map(move |apps| DesiredState {
            set_name: set_name.clone(),
            tenant: None,
            prune,
            apps: apps.into_iter().collect(),
        })
    })
}

/// Points every manifest-relative path at `dir`, where the YAML is written.
fn rebase(state: &mut DesiredState, dir: &Path) {
    for app in state.apps.values_mut() {
        for secret in &mut app.secrets {
            if let Some(SecretSink::File(path)) = &mut secret.sink {
                path.base_dir = dir.to_path_buf();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_model_written_to_yaml_loads_back_unchanged(mut state in desired_state()) {
        let dir = tempfile::tempdir().unwrap();
        rebase(&mut state, dir.path());
        let yaml = serde_saphyr::to_string(&appreg::manifest::to_wire(&state)).unwrap();
        let path = dir.path().join("manifest.yaml");
        std::fs::write(&path, &yaml).unwrap();
        let loaded = appreg::manifest::load(&[path], &|_: &str| None);
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(invalid) => {
                let messages: Vec<String> = invalid.diagnostics.iter().map(|d| format!("{}: {}", d.code, d.message)).collect();
                return Err(TestCaseError::fail(format!("did not load: {messages:#?}\n{yaml}")));
            }
        };
        prop_assert_eq!(loaded.state, state, "YAML was:\n{}", yaml);
    }
}
