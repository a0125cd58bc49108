//! A tenant's CreateAcls, DescribeAcls and DeleteAcls: answered from its virtual cluster's
//! own ACLs, changes made in the store (every gateway on it sees them at its next refresh).
//! What the requests mean is `gatehouse_tenancy::acl::kafka_api`'s; this is the I/O.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use gatehouse_tenancy::acl::kafka_api::{self, AclChange, AclRequest};
use gatehouse_tenancy::TenantSession;

use super::{Pipeline, Step};
use crate::reader::End;

impl Pipeline<'_> {
    pub(super) async fn acl_request(
        &self,
        session: &TenantSession,
        key: ApiKey,
        version: i16,
        correlation_id: i32,
        frame: &Bytes,
    ) -> Step {
        let tenant = session.tenant();
        let acls = tenant.acls.as_deref();
        let parsed = kafka_api::parse(
            &tenant.name,
            acls,
            session.client_acls(),
            key,
            version,
            correlation_id,
            frame,
        );
        let decode_error = |e: anyhow::Error| {
            Step::End(End::BadInput("decode", format!("{key:?} v{version}: {e}")))
        };
        let (change, refused) = match parsed {
            Err(e) => return decode_error(e),
            Ok(AclRequest::Answer(answer)) => return Step::Answer(answer),
            Ok(AclRequest::Change { change, refused }) => (change, refused),
        };
        let outcome = match (&change, self.gateway.acl_store()) {
            (AclChange::Create(entries), _) if entries.is_empty() => Ok(Vec::new()),
            (_, None) => Err(
                "this gateway has no store to keep ACLs in: manage them in VirtualCluster.spec.acls"
                    .to_string(),
            ),
            (_, Some(store)) => store.change(&tenant.name, &change).await,
        };
        match kafka_api::answer_change(&change, refused, correlation_id, key, version, outcome) {
            Ok(answer) => Step::Answer(answer),
            Err(e) => decode_error(e),
        }
    }
}
