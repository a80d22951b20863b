//! Organisations and tokens (the token lookup of authentication is
//! `crate::authn`'s).

use outpost_core::api::TokenRecord;
use outpost_core::digest::Digest;
use outpost_registry::StoreError;
use worker::D1PreparedStatement;

use crate::ctx::Ctx;
use crate::db;

pub fn insert_org(
    ctx: &Ctx,
    name: &str,
    display_name: &str,
) -> worker::Result<D1PreparedStatement> {
    ctx.db
        .prepare("INSERT INTO organizations (name, display_name, created_at) VALUES (?1, ?2, ?3)")
        .bind(&[db::text(name), db::text(display_name), db::int(ctx.now)])
}

#[derive(Debug, serde::Deserialize)]
pub struct OrgRow {
    pub name: String,
    pub display_name: String,
    pub created_at: f64,
}

pub async fn org(ctx: &Ctx, name: &str) -> worker::Result<Option<OrgRow>> {
    db::first::<OrgRow>(
        &ctx.db
            .prepare("SELECT name, display_name, created_at FROM organizations WHERE name = ?1")
            .bind(&[db::text(name)])?,
    )
    .await
}

/// The statement storing a minted token (its secret only as a hash).
pub fn insert_token(
    ctx: &Ctx,
    org: &str,
    id: &str,
    secret_hash: &Digest,
    record: &TokenRecord,
) -> worker::Result<worker::D1PreparedStatement> {
    ctx
        .db
        .prepare(
            "INSERT INTO tokens (id, org, name, role, secret_hash, created_at, created_by, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&[
            db::text(id),
            db::text(org),
            db::text(&record.name),
            db::text(record.role.as_str()),
            db::text(&secret_hash.to_string()),
            db::int(record.created_at),
            db::opt_text(record.created_by.as_deref()),
            db::opt_int(record.expires_at),
        ])
}

#[derive(Debug, serde::Deserialize)]
pub struct TokenListRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub created_at: f64,
    pub created_by: Option<String>,
    pub expires_at: Option<f64>,
    pub revoked_at: Option<f64>,
}

const TOKEN_COLUMNS: &str = "id, name, role, created_at, created_by, expires_at, revoked_at";

impl TokenListRow {
    pub fn record(self) -> Result<TokenRecord, StoreError> {
        Ok(TokenRecord {
            role: self
                .role
                .parse()
                .map_err(|_| StoreError::new(format!("stored role `{}`", self.role)))?,
            id: self.id,
            name: self.name,
            created_at: db::as_i64(self.created_at),
            created_by: self.created_by,
            expires_at: self.expires_at.map(db::as_i64),
            revoked_at: self.revoked_at.map(db::as_i64),
        })
    }
}

pub async fn tokens(ctx: &Ctx, org: &str) -> worker::Result<Vec<TokenListRow>> {
    db::all::<TokenListRow>(
        &ctx.db
            .prepare(format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE org = ?1 ORDER BY created_at, id"
            ))
            .bind(&[db::text(org)])?,
    )
    .await
}

pub async fn token(ctx: &Ctx, org: &str, id: &str) -> worker::Result<Option<TokenListRow>> {
    db::first::<TokenListRow>(
        &ctx.db
            .prepare(format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE org = ?1 AND id = ?2"
            ))
            .bind(&[db::text(org), db::text(id)])?,
    )
    .await
}

/// The statement revoking a token (permanent; a second revocation changes
/// nothing).
pub fn revoke_token(ctx: &Ctx, org: &str, id: &str) -> worker::Result<D1PreparedStatement> {
    ctx.db
        .prepare(
            "UPDATE tokens SET revoked_at = ?1 WHERE org = ?2 AND id = ?3 AND revoked_at IS NULL",
        )
        .bind(&[db::int(ctx.now), db::text(org), db::text(id)])
}

/// A token as authentication reads it: by its id alone (the id names the
/// organisation; the route's organisation is checked against it after).
#[derive(Debug, serde::Deserialize)]
pub struct TokenRow {
    pub id: String,
    pub org: String,
    pub name: String,
    pub role: String,
    pub secret_hash: String,
    pub expires_at: Option<f64>,
    pub revoked_at: Option<f64>,
}

pub async fn token_by_id(ctx: &Ctx, id: &str) -> worker::Result<Option<TokenRow>> {
    db::first::<TokenRow>(
        &ctx.db
            .prepare(
                "SELECT id, org, name, role, secret_hash, expires_at, revoked_at FROM tokens WHERE id = ?1",
            )
            .bind(&[db::text(id)])?,
    )
    .await
}
