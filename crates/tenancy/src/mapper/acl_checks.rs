//! The ACL side of the two mappers: what a table entry asks before it maps a name (refuse an
//! entry, answer a request whole), and what an answer may show. A session without an
//! authorizer (no `aclEnabled`, a super user) passes every check at the cost of one branch.

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::{resource, Refusal, RequestMapper, ResponseMapper};
use crate::acl::{refusal_error, Operation, ResourceType};

impl RequestMapper<'_> {
    /// Refuses `operation` on the `resource_type` named `name` (the tenant's name) unless the
    /// client's ACLs allow it.
    pub fn allowed(
        &self,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> Result<(), Refusal> {
        match self.acls {
            Some(acls) if !acls.allows(operation, resource_type, name) => {
                Err(self.acl_refusal(operation, resource_type, name))
            }
            _ => Ok(()),
        }
    }

    /// [`Self::allowed`] for a topic named by name or (by-id versions) by id; an id the
    /// gateway cannot name is let through (it is answered UNKNOWN_TOPIC_ID).
    pub fn allowed_topic(
        &self,
        operation: Operation,
        name: &StrBytes,
        id: &Uuid,
    ) -> Result<(), Refusal> {
        if self.acls.is_none() {
            return Ok(());
        }
        match self.tenant_topic(name, id) {
            Some(n) => self.allowed(operation, ResourceType::Topic, &n),
            None => Ok(()),
        }
    }

    /// CREATE on a topic: on the cluster or on the topic.
    pub fn may_create_topic(&self, name: &StrBytes) -> Result<(), Refusal> {
        match self.acls {
            Some(acls) if !acls.may_create_topic(name) => {
                Err(self.acl_refusal(Operation::Create, ResourceType::Topic, name))
            }
            _ => Ok(()),
        }
    }

    /// The refusal of `operation` on a resource, with Kafka's error for its type.
    pub fn acl_refusal(
        &self,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> Refusal {
        let principal = self.acls.map_or("", |a| a.principal());
        let what = match resource_type {
            ResourceType::Cluster => "the cluster".to_string(),
            t => format!("{t} '{name}'"),
        };
        Refusal {
            error: refusal_error(resource_type),
            message: format!(
                "User:{principal} may not {operation} {what} in virtual cluster '{}': no ACL allows it, or one denies it",
                self.tenant.name
            ),
        }
    }

    /// The request is answered by the gateway with this refusal's error as its top-level
    /// error code (the refused entries go in it too), never forwarded.
    pub fn answer_here(&mut self, refusal: &Refusal) {
        self.ctx.answer = Some(refusal.error.code());
    }

    /// The request is answered by the gateway with this top-level error code (0: none;
    /// the refused entries carry the errors), never forwarded.
    pub fn answer_with(&mut self, code: i16) {
        self.ctx.answer = Some(code);
    }

    /// Whether some entry was taken out of the request.
    pub fn refused_any(&self) -> bool {
        !self.ctx.refused.is_empty()
    }

    /// InitProducerId without a transactional id: IDEMPOTENT_WRITE on the cluster, or WRITE
    /// on some topic.
    pub fn may_write_idempotently(&self) -> Result<(), Refusal> {
        match self.acls {
            Some(acls) if !acls.may_write_idempotently() => Err(self.acl_refusal(
                Operation::IdempotentWrite,
                ResourceType::Cluster,
                crate::acl::CLUSTER_NAME,
            )),
            _ => Ok(()),
        }
    }

    /// The request asks for every topic: the answer leaves out what the client may not
    /// DESCRIBE.
    pub fn listing(&mut self) {
        if self.acls.is_some() {
            self.ctx.listing = true;
        }
    }

    /// Refuses `operation` (DESCRIBE_CONFIGS, ALTER_CONFIGS) on a config resource: a topic,
    /// a group, or anything else (brokers, loggers) as the cluster.
    pub fn config_allowed(
        &self,
        operation: Operation,
        resource_type: i8,
        name: &StrBytes,
    ) -> Result<(), Refusal> {
        match resource_type {
            resource::TOPIC => self.allowed(operation, ResourceType::Topic, name),
            resource::CONFIG_GROUP => self.allowed(operation, ResourceType::Group, name),
            _ => self.allowed(operation, ResourceType::Cluster, crate::acl::CLUSTER_NAME),
        }
    }
}

impl ResponseMapper<'_> {
    /// Whether the client may do `operation` on the `resource_type` named `name` (the
    /// tenant's name, un-mapped): what listings ask before they show a resource.
    pub fn may(&self, operation: Operation, resource_type: ResourceType, name: &str) -> bool {
        self.acls
            .is_none_or(|a| a.allows(operation, resource_type, name))
    }

    /// Whether a topic (its tenant name) may be shown: the client may DESCRIBE it.
    pub fn may_describe_topic(&self, name: &TopicName) -> bool {
        name.0.is_empty() || self.may(Operation::Describe, ResourceType::Topic, &name.0)
    }

    /// An un-mapped topic of an answer about its partitions (offsets, epochs, producers),
    /// judged by `operation`: kept; answered with TOPIC_AUTHORIZATION_FAILED in `refuse`;
    /// or, in a listing, dropped (false).
    pub fn topic_answer(
        &self,
        operation: Operation,
        name: &TopicName,
        refuse: impl FnOnce(i16),
    ) -> bool {
        if name.0.is_empty() || self.may(operation, ResourceType::Topic, &name.0) {
            return true;
        }
        if self.ctx.listing {
            return false;
        }
        refuse(ResponseError::TopicAuthorizationFailed.code());
        true
    }

    /// Kafka's authorized-operations bits for a resource the answer shows, when the request
    /// asked for them (`bits` is not i32::MIN) and the client's ACLs decide them.
    pub fn authorized_operations(&self, resource_type: ResourceType, name: &str, bits: &mut i32) {
        if let (Some(acls), false) = (self.acls, *bits == i32::MIN) {
            *bits = acls.authorized_operations(resource_type, name);
        }
    }
}
