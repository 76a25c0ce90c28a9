//! Generated manifests of N apps for the fault matrix: varied enough that a run writes every kind
//! of object the engine manages (redirect URIs of three platforms, delegated and application
//! permissions with and without admin consent, assignments, client secrets delivered to file sinks,
//! federated credentials), deterministic in N so a failing cell can be replayed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Seeded principals of the sandbox (src/emulator/seed.rs): assignments cycle through them.
const USERS: &[&str] = &[
    "adele.vance@contoso.com",
    "alex.wilber@contoso.com",
    "conor.obrien@contoso.com",
    "megan.bowen@contoso.com",
    "mail-sender@contoso.com",
];
const GROUPS: &[&str] = &["Odoo mail senders", "All staff", "IT admins"];

/// Apps per file, as a large tenant splits its manifest.
const APPS_PER_FILE: usize = 100;

/// What the generated apps declare, counted so a report can say what a run exercised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    pub apps: usize,
    pub secrets: usize,
    pub federated_credentials: usize,
    pub admin_consented: usize,
    pub assignments: usize,
}

pub fn app_key(i: usize) -> String {
    format!("gen-app-{i:04}")
}

/// Writes the manifest of `n` apps of set `set` into `dir` (files `apps-000.yaml`, ... of 100
/// apps each); secrets go to `dir/secrets/`. Returns the files and what they declare.
///
/// App `i` has:
/// - a web redirect URI; every third app also a SPA one, every fifth a public-client one;
/// - delegated `User.Read` on Microsoft Graph; odd apps also application `User.Read.All`, every
///   fourth application `SMTP.SendAsApp` on Office 365 Exchange Online (supported: EWS is retiring); admin consent for
///   all but every seventh (those request permissions nobody grants);
/// - every sixth app two assignments (a user and a group);
/// - every fourth app a client secret delivered to a file sink (every eighth with `keep: 1`);
/// - every third app a GitHub Actions federated credential, every ninth a second one.
pub fn write_manifest(dir: &Path, set: &str, n: usize) -> (Vec<PathBuf>, Shape) {
    let mut shape = Shape {
        apps: n,
        ..Shape::default()
    };
    let mut paths = Vec::new();
    for (file, chunk) in (0..n).collect::<Vec<_>>().chunks(APPS_PER_FILE).enumerate() {
        let mut text = format!("version: 1\nname: {set}\napps:\n");
        for &i in chunk {
            text.push_str(&app(i, &mut shape));
        }
        let path = dir.join(format!("apps-{file:03}.yaml"));
        std::fs::write(&path, text).expect("write the generated manifest");
        paths.push(path);
    }
    (paths, shape)
}

fn app(i: usize, shape: &mut Shape) -> String {
    let key = app_key(i);
    let mut text = format!(
        "  {key}:
    displayName: Generated app {i:04}
    web:
      redirectUris: [https://app{i:04}.example.com/auth/callback]
"
    );
    if i.is_multiple_of(3) {
        text.push_str(&format!(
            "    spa:\n      redirectUris: [https://spa{i:04}.example.com/]\n"
        ));
    }
    if i.is_multiple_of(5) {
        text.push_str("    publicClient:\n      redirectUris: [http://localhost:8400/]\n");
    }
    text.push_str("    permissions:\n      Microsoft Graph:\n        delegated: [User.Read]\n");
    if !i.is_multiple_of(2) {
        text.push_str("        application: [User.Read.All]\n");
    }
    if i.is_multiple_of(4) {
        text.push_str("      Office 365 Exchange Online:\n        application: [SMTP.SendAsApp]\n");
    }
    let consent = !i.is_multiple_of(7);
    text.push_str(&format!("    adminConsent: {consent}\n"));
    shape.admin_consented += usize::from(consent);
    if i.is_multiple_of(6) {
        let user = USERS[i % USERS.len()];
        let group = GROUPS[i % GROUPS.len()];
        text.push_str(&format!(
            "    servicePrincipal:\n      assignments:\n        - user: {user}\n        - group: {group}\n"
        ));
        shape.assignments += 2;
    }
    if i.is_multiple_of(4) {
        let keep = if i.is_multiple_of(8) {
            "\n        keep: 1"
        } else {
            ""
        };
        text.push_str(&format!(
            "    secrets:
      - name: handoff
        lifetime: 180d
        rotateBefore: 30d{keep}
        deliver: {{ file: secrets/{key}.json }}
"
        ));
        shape.secrets += 1;
    }
    if i.is_multiple_of(3) {
        text.push_str(&format!(
            "    federatedCredentials:
      - name: github-deploy
        issuer: https://token.actions.githubusercontent.com
        subject: repo:contoso/{key}:environment:prod
"
        ));
        shape.federated_credentials += 1;
        if i.is_multiple_of(9) {
            text.push_str(&format!(
                "      - name: github-pr
        issuer: https://token.actions.githubusercontent.com
        subject: repo:contoso/{key}:pull_request
"
            ));
            shape.federated_credentials += 1;
        }
    }
    text
}
