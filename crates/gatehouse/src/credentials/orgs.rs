//! The minimal organisation model API keys need: an organisation has a name and members, each
//! an `admin` (may manage its API keys) or a `member`.

use gatehouse_store::{MemberRow, OrganizationRow, StoreError};
use serde_json::{Value, json};

use super::{CredentialService, Kind, clean_text};
use crate::audit::{Event, event};
use crate::clock::rfc3339;
use crate::error::{Error, Result};

pub const ROLES: [&str; 2] = ["admin", "member"];

pub fn org_view(o: &OrganizationRow) -> Value {
    json!({ "id": o.id, "name": o.name, "created_at": rfc3339(o.created_at) })
}

pub fn member_view(m: &MemberRow) -> Value {
    json!({
        "organization_id": m.organization_id,
        "identity_id": m.identity_id,
        "role": m.role,
        "created_at": rfc3339(m.created_at),
    })
}

impl CredentialService {
    pub async fn create_organization(&self, name: &str, now: i64) -> Result<OrganizationRow> {
        let o = OrganizationRow {
            id: uuid::Uuid::new_v4().to_string(),
            name: clean_text("name", name, 100)?,
            created_at: now,
        };
        match self.store.insert_organization(&o).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                return Err(Error::Conflict(
                    "an organization with this name exists already".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        self.audit.record(
            event::ORGANIZATION_CREATED,
            Event {
                data: json!({ "organization_id": o.id, "name": o.name }),
                ..Event::default()
            },
        );
        Ok(o)
    }

    pub async fn organization(&self, id: &str) -> Result<OrganizationRow> {
        self.store
            .get_organization(id)
            .await?
            .ok_or_else(|| Error::NotFound("no such organization".into()))
    }

    pub async fn organizations(&self, limit: i64, offset: i64) -> Result<Vec<OrganizationRow>> {
        Ok(self
            .store
            .list_organizations(limit.clamp(1, 1000), offset.max(0))
            .await?)
    }

    /// Deletes an organisation, its memberships, and revokes its API keys.
    pub async fn delete_organization(&self, id: &str, now: i64) -> Result<()> {
        if !self.store.delete_organization(id).await? {
            return Err(Error::NotFound("no such organization".into()));
        }
        self.revoke_owner(Kind::ApiKey, id, "Organization deleted", now)
            .await?;
        self.audit.record(
            event::ORGANIZATION_DELETED,
            Event {
                data: json!({ "organization_id": id }),
                ..Event::default()
            },
        );
        Ok(())
    }

    /// Adds an identity to an organisation or changes its role.
    pub async fn set_member(
        &self,
        org: &str,
        identity_id: &str,
        role: &str,
        now: i64,
    ) -> Result<MemberRow> {
        self.organization(org).await?;
        if !ROLES.contains(&role) {
            return Err(Error::BadRequest(
                "`role`: expected `admin` or `member`".into(),
            ));
        }
        if self.identity(identity_id).await?.is_none() {
            return Err(Error::BadRequest("no such identity".into()));
        }
        let m = MemberRow {
            organization_id: org.to_owned(),
            identity_id: identity_id.to_owned(),
            role: role.to_owned(),
            created_at: now,
        };
        self.store.upsert_member(&m).await?;
        self.audit.record(
            event::ORGANIZATION_MEMBER_CHANGED,
            Event {
                subject: Some(identity_id),
                data: json!({ "organization_id": org, "role": role }),
                ..Event::default()
            },
        );
        Ok(m)
    }

    pub async fn remove_member(&self, org: &str, identity_id: &str) -> Result<()> {
        if !self.store.delete_member(org, identity_id).await? {
            return Err(Error::NotFound("no such member".into()));
        }
        self.audit.record(
            event::ORGANIZATION_MEMBER_CHANGED,
            Event {
                subject: Some(identity_id),
                data: json!({ "organization_id": org, "role": Value::Null }),
                ..Event::default()
            },
        );
        Ok(())
    }

    pub async fn members(&self, org: &str) -> Result<Vec<MemberRow>> {
        self.organization(org).await?;
        Ok(self.store.list_members(org).await?)
    }

    /// The organisations an identity belongs to, with its role in each.
    pub async fn memberships(&self, identity_id: &str) -> Result<Vec<(OrganizationRow, String)>> {
        Ok(self.store.memberships(identity_id).await?)
    }

    /// The organisation, when `identity_id` is one of its admins; `NotFound` otherwise (whether
    /// the organisation exists is not revealed to non-members, and members get `Forbidden`).
    pub async fn org_as_admin(&self, org: &str, identity_id: &str) -> Result<OrganizationRow> {
        let mine = self.memberships(identity_id).await?;
        match mine.into_iter().find(|(o, _)| o.id == org) {
            Some((o, role)) if role == "admin" => Ok(o),
            Some(_) => Err(Error::Forbidden(
                "only the organization's admins manage its API keys".into(),
            )),
            None => Err(Error::NotFound("no such organization".into())),
        }
    }

    /// An identity is gone: its PATs are revoked and its memberships removed.
    pub async fn identity_deleted(&self, identity_id: &str, now: i64) -> Result<()> {
        self.revoke_owner(Kind::Pat, identity_id, "Identity deleted", now)
            .await?;
        self.store.delete_memberships(identity_id).await?;
        Ok(())
    }
}
