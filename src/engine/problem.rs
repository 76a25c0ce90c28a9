//! Why a plan cannot be made: each problem as a value (the object it is about, what kind of
//! problem, the words for a person), so callers can tell them apart without reading text.
//!
//! Its own module because the planner, the kinds, the secret sequence and the ownership check all
//! report problems; it holds data only.

use std::fmt;

use super::address::Address;

/// What kind of problem stops the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    /// The entry names an app this set may not manage (another set's, unmanaged, appreg's own).
    Ownership,
    /// A permission resource has no service principal in the tenant.
    UnknownResource,
    /// A permission name the resource does not define.
    UnknownPermission,
    /// A user, group or service principal the manifest names is not in the tenant, or is
    /// ambiguous.
    UnknownPrincipal,
    /// An app that would be deleted has `lifecycle.preventDestroy`.
    PreventDestroy,
    /// A credential cannot be planned: its file is unreadable, its lifetime breaks the tenant's
    /// policy, or its sink blocks rotation.
    Credential,
}

/// One reason the plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The app or object it is about.
    pub address: Address,
    pub cause: Cause,
    /// What is wrong and what to do, for a person (without the address).
    pub message: String,
}

impl Problem {
    pub fn new(address: Address, cause: Cause, message: impl Into<String>) -> Problem {
        Problem {
            address,
            cause,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.address, self.message)
    }
}

/// Why a plan cannot be made: every problem, each naming the app and what to do.
#[derive(Debug, thiserror::Error)]
#[error("the plan cannot be made:{}", list(.problems))]
pub struct PlanError {
    pub problems: Vec<Problem>,
}

fn list(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("\n  - {p}")).collect()
}
