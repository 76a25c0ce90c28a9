//! `appreg import` (issue 13) judged as a property: whatever the portal, the Azure CLI or appreg
//! left in a tenant, importing it gives manifests whose plan is only the adoption, whose apply
//! converges, and after which every credential that signed in before still does.

use crate::{registrations, tenant};

use appreg::emulator::Faults;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use registrations::*;
use tenant::*;

/// The generators themselves: registrations land in the tenant as their makers leave them, and
/// their credentials sign in exactly when the app has a service principal.
#[test]
fn hand_made_registrations_land_and_their_credentials_sign_in() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 4,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&registrations(3), |tenant_apps| {
            runtime.block_on(async {
                let sb = start(Faults::default(), 13).await;
                let raw = Raw::new(&sb).await;
                let dir = Directory::load(&raw).await;
                for registration in &tenant_apps {
                    let made = register(&raw, &dir, registration).await;
                    let app = raw.get(&format!("/applications/{}", made.object_id)).await;
                    prop_assert_eq!(
                        app["displayName"].as_str(),
                        Some(registration.display_name.as_str())
                    );
                    prop_assert_eq!(
                        app["passwordCredentials"].as_array().unwrap().len(),
                        registration.secrets.len()
                    );
                    let named: Vec<Option<String>> = made
                        .secrets
                        .iter()
                        .map(|s| s.display_name.clone())
                        .collect();
                    prop_assert_eq!(&named, &registration.secrets);
                    prop_assert_eq!(made.sp_id.is_some(), registration.has_service_principal());
                    for secret in &made.secrets {
                        let outcome = secret_signs_in(&sb, &made.app_id, &secret.text).await;
                        prop_assert_eq!(outcome.is_ok(), made.sp_id.is_some(), "{:?}", outcome);
                        // A wrong secret never does: the check can fail.
                        let wrong =
                            secret_signs_in(&sb, &made.app_id, &format!("{}x", secret.text)).await;
                        prop_assert!(wrong.is_err());
                    }
                    for certificate in &made.certificates {
                        let outcome =
                            certificate_signs_in(&sb, &made.app_id, &certificate.signer).await;
                        prop_assert_eq!(outcome.is_ok(), made.sp_id.is_some(), "{:?}", outcome);
                    }
                    if let Some(sp_id) = &made.sp_id {
                        let assigned = raw
                            .list(&format!("/servicePrincipals/{sp_id}/appRoleAssignedTo"))
                            .await;
                        prop_assert_eq!(
                            assigned.len(),
                            registration.users.len() + registration.groups.len()
                        );
                    }
                }
                sb.shutdown().await;
                Ok(())
            })
        })
        .unwrap();
}
