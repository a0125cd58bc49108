//! ACL probes: listing every ACL, creating one on B's topic, deleting every ACL.

use kafka_protocol::messages::*;

use super::{ok, s, Names, Prober};
use crate::victim::Victim;

pub(super) fn run(p: &mut Prober<'_>, v: &Victim) {
    p.probe::<_, DescribeAclsResponse>(
        ApiKey::DescribeAcls,
        "all",
        3,
        Names::Listing,
        DescribeAclsRequest::default()
            .with_resource_type_filter(1)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1),
        &ok,
    );
    p.probe::<_, CreateAclsResponse>(
        ApiKey::CreateAcls,
        "topic",
        3,
        Names::Echoed,
        CreateAclsRequest::default().with_creations(vec![
            create_acls_request::AclCreation::default()
                .with_resource_type(2)
                .with_resource_name(s(&v.topic))
                .with_resource_pattern_type(3)
                .with_principal(s("User:probe"))
                .with_host(s("*"))
                .with_operation(2)
                .with_permission_type(3),
        ]),
        &ok,
    );
    p.probe::<_, DeleteAclsResponse>(
        ApiKey::DeleteAcls,
        "all",
        3,
        Names::Echoed,
        DeleteAclsRequest::default().with_filters(vec![
            delete_acls_request::DeleteAclsFilter::default()
                .with_resource_type_filter(1)
                .with_pattern_type_filter(1)
                .with_operation(1)
                .with_permission_type(1),
        ]),
        &ok,
    );
}
