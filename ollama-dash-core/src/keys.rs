//! Named API keys with roles, stored hashed.
//!
//! Keys are 256-bit random secrets, so a plain SHA-256 of the secret is a safe thing to store
//! (no dictionary to attack); the secret itself is shown once, at creation.

use std::fmt;
use std::str::FromStr;

use rusqlite::OptionalExtension;
use sha2::{Digest, Sha256};

use crate::dashboard::now_ms;
use crate::error::{Error, Result};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Read-only: dashboards, model lists, traces.
    Viewer,
    /// Chat and generate, read models, see its own traces.
    User,
    /// Everything: pull, delete, upload, settings, keys.
    Admin,
}

impl Role {
    /// The role's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    /// Whether this role includes everything `needed` allows.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            other => Err(Error::BadRequest(format!(
                "unknown role {other:?}: use admin, user or viewer"
            ))),
        }
    }
}

/// A stored key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Unique name, recorded in traces.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the secret, hex.
    pub hash: String,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
}

/// SHA-256 of a secret, hex: how keys are stored and looked up.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
}

/// The API keys service: keys created over the API, in the store.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    store: crate::store::Store,
}

impl Keys {
    /// The service over `store`.
    pub(crate) fn new(store: crate::store::Store) -> Self {
        Self { store }
    }

    /// Keys created over the API (configured keys are the host's business).
    pub(crate) async fn list(&self) -> Result<Vec<ApiKey>> {
        self.store
            .call(|c| {
                let mut st =
                    c.prepare("SELECT name, role, hash, created_at FROM api_keys ORDER BY name")?;
                let rows = st.query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get(2)?,
                        r.get(3)?,
                    ))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?
            .into_iter()
            .map(|(name, role, hash, created_at)| {
                Ok(ApiKey {
                    name,
                    role: role.parse()?,
                    hash,
                    created_at,
                })
            })
            .collect()
    }

    /// Creates a key and returns it with its secret, which is not stored and not shown again.
    pub(crate) async fn create(&self, name: &str, role: Role) -> Result<(ApiKey, String)> {
        if !valid_name(name) {
            return Err(Error::BadRequest(
                "a key name is 1-64 characters of letters, digits, '-', '_', '.', '@'".into(),
            ));
        }
        let secret = format!("odk_{}", hex::encode(rand::random::<[u8; 32]>()));
        let key = ApiKey {
            name: name.to_owned(),
            role,
            hash: hash_secret(&secret),
            created_at: now_ms(),
        };
        let row = key.clone();
        let inserted = self
            .store
            .call(move |c| {
                c.execute(
                    "INSERT INTO api_keys (name, hash, role, created_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (name) DO NOTHING",
                    (&row.name, &row.hash, row.role.as_str(), row.created_at),
                )
            })
            .await?;
        if inserted == 0 {
            return Err(Error::Conflict(format!(
                "a key named {name:?} already exists"
            )));
        }
        Ok((key, secret))
    }

    /// Deletes a key by name.
    pub(crate) async fn delete(&self, name: &str) -> Result<()> {
        let owned = name.to_owned();
        let deleted = self
            .store
            .call(move |c| c.execute("DELETE FROM api_keys WHERE name = ?1", [owned]))
            .await?;
        if deleted == 0 {
            return Err(Error::NotFound(format!("key {name:?}")));
        }
        Ok(())
    }

    /// Finds a stored key by its secret.
    pub(crate) async fn find(&self, secret: &str) -> Result<Option<ApiKey>> {
        let hash = hash_secret(secret);
        let row = self
            .store
            .call(move |c| {
                c.query_row(
                    "SELECT name, role, hash, created_at FROM api_keys WHERE hash = ?1",
                    [hash],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get(2)?,
                            r.get(3)?,
                        ))
                    },
                )
                .optional()
            })
            .await?;
        row.map(|(name, role, hash, created_at)| {
            Ok(ApiKey {
                name,
                role: role.parse()?,
                hash,
                created_at,
            })
        })
        .transpose()
    }
}
