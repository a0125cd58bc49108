//! The two directions of the mapping, as the [`crate::table`] entries use them.
//!
//! A table entry only says which fields hold which entity. What happens to them lives here:
//! on the way up names are prefixed, topic ids are checked for ownership, and entries that
//! cannot go upstream are taken out and remembered; on the way down names are un-prefixed,
//! entries the tenant does not own are dropped, and the entries taken out come back as errors.
//! What the client's ACLs allow is asked in [`acl_checks`], before a name is mapped.

mod acl_checks;

use std::sync::atomic::{AtomicU64, Ordering};

use kafka_protocol::messages::{GroupId, TopicName, TransactionalId};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use uuid::Uuid;

use crate::acl::{ClientAcls, Operation};
use crate::aliases::Access;
use crate::names::{Domain, Entity, Tenant};
use crate::producer_ids::ProducerIds;
use crate::topic_ids::TopicIds;

/// Resource types of the config APIs (the answers to refused entries carry them).
pub(crate) mod resource {
    pub const TOPIC: i8 = 2;
    /// In DescribeConfigs/AlterConfigs, groups are type 32 (KIP-848), not 3.
    pub const CONFIG_GROUP: i8 = 32;
}

pub(crate) const NOT_A_TENANT_RESOURCE: &str =
    "a virtual cluster may only change its own topics and groups, not cluster-wide resources";

/// An entry kept from the upstream, answered by the gateway in the response.
#[derive(Debug, Clone)]
pub struct Refused {
    /// Position in the request's list; answers to positional lists (ACLs) go back there.
    pub index: usize,
    /// The name as the client wrote it.
    pub name: StrBytes,
    /// The topic id it named (nil when named by name).
    pub id: Uuid,
    pub resource_type: i8,
    /// The partitions it named, for answers that list them (Produce, DeleteRecords).
    pub partitions: Vec<i32>,
    pub error: ResponseError,
    pub message: String,
}

/// What a request's mapping leaves for its response.
#[derive(Debug, Default)]
pub struct ResponseContext {
    /// Topic ids the tenant may not use, replaced upstream by ids no topic has: (stand-in, original).
    pub(crate) stand_ins: Vec<(Uuid, Uuid)>,
    pub(crate) refused: Vec<Refused>,
    /// The upstream transactional id an InitProducerId asks a producer id for.
    pub(crate) issuing: Option<StrBytes>,
    /// The request is answered by the gateway, never forwarded: its ACLs refuse all of it.
    /// The answer carries this top-level error code (where the response has one) and the
    /// refused entries.
    pub(crate) answer: Option<i16>,
    /// The request asked for every topic (a listing): those the client may not DESCRIBE are
    /// left out of the answer, not answered as refused.
    pub(crate) listing: bool,
}

impl ResponseContext {
    pub fn is_empty(&self) -> bool {
        self.stand_ins.is_empty()
            && self.refused.is_empty()
            && self.issuing.is_none()
            && self.answer.is_none()
            && !self.listing
    }
}

/// Ids that no broker assigned: random v4 ids have version bits 0100, these have 0000.
fn stand_in_id() -> Uuid {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    Uuid::from_u64_pair(
        0x6761_7465_686f_0000, // "gateho", version nibble 0
        NEXT.fetch_add(1, Ordering::Relaxed),
    )
}

pub(crate) struct RequestMapper<'a> {
    pub tenant: &'a Tenant,
    /// The request's version (entries whose fields differ by version ask).
    pub version: i16,
    /// The domain the request goes to.
    pub domain: Domain<'a>,
    pub ids: &'a TopicIds,
    /// The client's ACLs, when they can refuse it something.
    pub acls: Option<&'a ClientAcls>,
    pub ctx: ResponseContext,
}

/// Why an entry may not go upstream.
#[derive(Clone)]
pub(crate) struct Refusal {
    pub error: ResponseError,
    pub message: String,
}

impl<'a> RequestMapper<'a> {
    /// Maps a name in place. An empty name is a field absent at this version: left alone.
    pub fn name(&mut self, entity: Entity, name: &mut StrBytes) {
        if !name.is_empty() {
            *name = self.tenant.map_on(self.domain, entity, name);
        }
    }

    /// The tenant's name of a topic named by name or, when the name is empty (by-id
    /// versions), by an id the directory knows: to ask whether it is an alias.
    fn tenant_topic(&self, name: &StrBytes, id: &Uuid) -> Option<String> {
        if !name.is_empty() {
            return Some(name.to_string());
        }
        let upstream = self.ids.name(*id)?;
        let own = self
            .tenant
            .strip_on(self.domain, Entity::Topic, &upstream)?;
        Some(own.to_string())
    }

    /// Refuses a write to an alias topic the tenant may only read.
    pub fn may_produce(&self, name: &StrBytes, id: &Uuid) -> Result<(), Refusal> {
        match self.tenant_topic(name, id).and_then(|n| self.tenant.alias(&n).cloned()) {
            Some(a) if a.access == Access::Read => Err(Refusal {
                error: ResponseError::TopicAuthorizationFailed,
                message: format!(
                    "'{}' is a READ alias topic of virtual cluster '{}': it may be consumed, not produced to",
                    a.name, self.tenant.name
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Keeps an alias of another domain out of a Metadata request: the gateway asks that
    /// domain for it. Its answer replaces this placeholder, which stands (LEADER_NOT_AVAILABLE,
    /// retriable) when that domain does not answer.
    pub fn on_this_domain(&self, name: &StrBytes) -> Result<(), Refusal> {
        match self.tenant.alias(name) {
            Some(a) if a.domain.as_deref() != self.domain.further() => Err(Refusal {
                error: ResponseError::LeaderNotAvailable,
                message: format!(
                    "alias topic '{name}' is on streaming domain '{}', which did not answer",
                    a.domain.as_deref().unwrap_or("(home)")
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Refuses an alias of a further domain where only the home domain can act (a
    /// transaction's offsets).
    pub fn on_home_domain(&self, name: &StrBytes) -> Result<(), Refusal> {
        match self.tenant.alias(name).and_then(|a| a.domain.as_deref()) {
            Some(domain) => Err(Refusal {
                error: ResponseError::TopicAuthorizationFailed,
                message: format!(
                    "'{name}' is an alias topic on streaming domain '{domain}': transactions of virtual cluster '{}' run on its home domain only",
                    self.tenant.name
                ),
            }),
            None => Ok(()),
        }
    }

    /// Refuses creating a topic under an alias's name (it exists: the alias is it).
    pub fn not_an_alias(&self, name: &StrBytes) -> Result<(), Refusal> {
        match self.tenant.alias(name) {
            Some(_) => Err(Refusal {
                error: ResponseError::TopicAlreadyExists,
                message: format!(
                    "'{name}' is an alias topic of virtual cluster '{}'; choose another name",
                    self.tenant.name
                ),
            }),
            None => Ok(()),
        }
    }

    /// Refuses deleting, repartitioning or reconfiguring an alias topic: it is a topic the
    /// tenant was given access to, not one it owns.
    pub fn owned_topic(&self, name: &StrBytes, id: &Uuid) -> Result<(), Refusal> {
        match self.tenant_topic(name, id).filter(|n| self.tenant.alias(n).is_some()) {
            Some(n) => Err(Refusal {
                error: ResponseError::TopicAuthorizationFailed,
                message: format!(
                    "'{n}' is an alias topic of virtual cluster '{}': only its records may be used, the topic itself cannot be deleted, repartitioned or reconfigured",
                    self.tenant.name
                ),
            }),
            None => Ok(()),
        }
    }

    pub fn topic(&mut self, t: &mut TopicName) {
        self.name(Entity::Topic, &mut t.0)
    }

    pub fn topic_opt(&mut self, t: &mut Option<TopicName>) {
        if let Some(t) = t {
            self.topic(t)
        }
    }

    pub fn topics(&mut self, ts: &mut [TopicName]) {
        ts.iter_mut().for_each(|t| self.topic(t))
    }

    pub fn group(&mut self, g: &mut GroupId) {
        self.name(Entity::Group, &mut g.0)
    }

    pub fn txn(&mut self, t: &mut TransactionalId) {
        self.name(Entity::TransactionalId, &mut t.0)
    }

    pub fn txn_opt(&mut self, t: &mut Option<TransactionalId>) {
        if let Some(t) = t {
            self.txn(t)
        }
    }

    /// An InitProducerId for this (mapped) transactional id: its answer issues a producer id
    /// to learn.
    pub fn issuing(&mut self, t: &Option<TransactionalId>) {
        if let Some(t) = t.as_ref().filter(|t| !t.0.is_empty()) {
            self.ctx.issuing = Some(t.0.clone());
        }
    }

    /// Lets a topic id through only if it names a topic the tenant owns. Any other id
    /// (another tenant's, or one the gateway has not seen named yet) is replaced by an id no
    /// topic has, so the broker answers UNKNOWN_TOPIC_ID; the response gets the original back.
    pub fn topic_id(&mut self, id: &mut Uuid) {
        if id.is_nil() {
            return;
        }
        let owned = self
            .ids
            .name(*id)
            .is_some_and(|n| self.tenant.owns_on(self.domain, Entity::Topic, &n));
        if !owned {
            let stand_in = stand_in_id();
            self.ctx.stand_ins.push((stand_in, *id));
            *id = stand_in;
        }
    }

    /// A regular expression over the tenant's names, made to match only upstream names
    /// inside its prefix (brokers match the whole name).
    pub fn regex(&mut self, r: &mut StrBytes) {
        let escaped: String = self
            .tenant
            .prefix
            .chars()
            .flat_map(|c| {
                let special = "\\.+*?()|[]{}^$#&-~".contains(c);
                special.then_some('\\').into_iter().chain([c])
            })
            .collect();
        *r = StrBytes::from_string(format!("{escaped}(?:{})", r.as_str()));
    }

    pub fn regex_opt(&mut self, r: &mut Option<StrBytes>) {
        if let Some(r) = r {
            self.regex(r)
        }
    }

    /// A topic name that may create a topic: checked for legality once prefixed, then mapped.
    pub fn legal_topic(&mut self, t: &mut TopicName) -> Result<(), Refusal> {
        self.tenant.check_topic(&t.0).map_err(|e| Refusal {
            error: ResponseError::InvalidTopicException,
            message: e.0,
        })?;
        self.topic(t);
        Ok(())
    }

    /// Keeps the entries `check` accepts (after it mapped them); the others are taken out of
    /// the request and remembered, to be answered as errors in the response. `check` refuses
    /// before it maps anything `describe` reads: a refused entry is described as the client
    /// wrote it (and an admitted one is never described, so its answer costs nothing).
    pub fn admit<T>(
        &mut self,
        list: &mut Vec<T>,
        check: impl FnMut(&mut Self, &mut T) -> Result<(), Refusal>,
        describe: impl Fn(&mut T) -> (StrBytes, i8),
    ) {
        self.admit_parts(list, check, |t| {
            let (name, resource_type) = describe(t);
            (name, Uuid::nil(), resource_type, Vec::new())
        })
    }

    /// [`Self::admit_topics`] for entries that may name their topic by id.
    pub fn admit_topics_by_id<T>(
        &mut self,
        list: &mut Vec<T>,
        check: impl FnMut(&mut Self, &mut T) -> Result<(), Refusal>,
        describe: impl Fn(&mut T) -> (StrBytes, Uuid, Vec<i32>),
    ) {
        self.admit_parts(list, check, |t| {
            let (name, id, partitions) = describe(t);
            (name, id, resource::TOPIC, partitions)
        })
    }

    /// [`Self::admit`] for topic entries whose answers list their partitions.
    pub fn admit_topics<T>(
        &mut self,
        list: &mut Vec<T>,
        check: impl FnMut(&mut Self, &mut T) -> Result<(), Refusal>,
        describe: impl Fn(&mut T) -> (StrBytes, Vec<i32>),
    ) {
        self.admit_parts(list, check, |t| {
            let (name, partitions) = describe(t);
            (name, Uuid::nil(), resource::TOPIC, partitions)
        })
    }

    fn admit_parts<T>(
        &mut self,
        list: &mut Vec<T>,
        mut check: impl FnMut(&mut Self, &mut T) -> Result<(), Refusal>,
        describe: impl Fn(&mut T) -> (StrBytes, Uuid, i8, Vec<i32>),
    ) {
        // In place: a request whose entries are all admitted (nearly every one) allocates
        // nothing here.
        let mut index = 0;
        list.retain_mut(|entry| {
            index += 1;
            let Err(r) = check(self, entry) else {
                return true;
            };
            // The answer names what the client wrote: described before `check` mapped it,
            // which leaves a refused entry as it was.
            let (name, id, resource_type, partitions) = describe(entry);
            self.ctx.refused.push(Refused {
                index: index - 1,
                name,
                id,
                resource_type,
                partitions,
                error: r.error,
                message: r.message,
            });
            false
        });
    }

    /// Maps a config resource (DescribeConfigs/AlterConfigs): topics and groups are the
    /// tenant's; other resources (brokers, loggers, client metrics) are shared by everyone.
    pub fn config_resource(&mut self, resource_type: i8, name: &mut StrBytes) -> bool {
        match resource_type {
            resource::TOPIC => self.name(Entity::Topic, name),
            resource::CONFIG_GROUP => self.name(Entity::Group, name),
            _ => return false,
        }
        true
    }

    /// Keeps the config resources a tenant may change (its topics and groups), mapped; the
    /// cluster-wide ones are refused CLUSTER_AUTHORIZATION_FAILED.
    pub fn admit_config_resources<T>(
        &mut self,
        list: &mut Vec<T>,
        parts: impl Fn(&mut T) -> (i8, &mut StrBytes),
    ) {
        self.admit(
            list,
            |m, res| {
                let (resource_type, name) = parts(res);
                m.config_allowed(Operation::AlterConfigs, resource_type, name)?;
                if resource_type == resource::TOPIC {
                    m.owned_topic(name, &Uuid::nil())?;
                }
                if m.config_resource(resource_type, name) {
                    Ok(())
                } else {
                    Err(Refusal {
                        error: ResponseError::ClusterAuthorizationFailed,
                        message: NOT_A_TENANT_RESOURCE.into(),
                    })
                }
            },
            |res| {
                let (resource_type, name) = parts(res);
                (name.clone(), resource_type)
            },
        );
    }
}

pub(crate) struct ResponseMapper<'a> {
    pub tenant: &'a Tenant,
    /// The domain the answer came from.
    pub domain: Domain<'a>,
    pub ids: &'a TopicIds,
    pub producers: &'a ProducerIds,
    pub ctx: &'a ResponseContext,
    /// The client's ACLs, when they can refuse it something.
    pub acls: Option<&'a ClientAcls>,
}

impl<'a> ResponseMapper<'a> {
    /// Un-maps a name in place; false when the tenant does not own it (drop the entry).
    /// An empty name is a field absent at this version: kept.
    pub fn name(&self, entity: Entity, name: &mut StrBytes) -> bool {
        if name.is_empty() {
            return true;
        }
        match self.tenant.unmap_on(self.domain, entity, name) {
            Some(n) => {
                *name = n;
                true
            }
            None => false,
        }
    }

    pub fn topic(&self, t: &mut TopicName) -> bool {
        self.name(Entity::Topic, &mut t.0)
    }

    pub fn group(&self, g: &mut GroupId) -> bool {
        self.name(Entity::Group, &mut g.0)
    }

    pub fn txn(&self, t: &mut TransactionalId) -> bool {
        self.name(Entity::TransactionalId, &mut t.0)
    }

    /// Learns the producer id an InitProducerId answer issued to the request's transactional id.
    pub fn issued(&self, error_code: i16, producer_id: i64) {
        if let (0, Some(txn)) = (error_code, &self.ctx.issuing) {
            self.producers.issued(producer_id, txn);
        }
    }

    /// Restores an id the request replaced; false for an id the tenant does not own.
    pub fn topic_id(&self, id: &mut Uuid) -> bool {
        if id.is_nil() {
            return true;
        }
        if let Some((_, original)) = self.ctx.stand_ins.iter().find(|(s, _)| s == id) {
            *id = *original;
            return true;
        }
        self.ids
            .name(*id)
            .is_none_or(|n| self.tenant.owns_on(self.domain, Entity::Topic, &n))
    }

    /// A topic entry carrying both name and id: the pair is learned before the name is
    /// un-mapped, then both must be the tenant's.
    pub fn topic_with_id(&self, name: &mut TopicName, id: &mut Uuid) -> bool {
        if !name.0.is_empty() {
            self.ids.learn(*id, &name.0);
        }
        self.topic(name) && self.topic_id(id)
    }

    pub fn topic_opt_with_id(&self, name: &mut Option<TopicName>, id: &mut Uuid) -> bool {
        match name {
            Some(n) => self.topic_with_id(n, id),
            None => self.topic_id(id),
        }
    }

    /// Un-maps a config resource; false for a tenant resource the tenant does not own.
    pub fn config_resource(&self, resource_type: i8, name: &mut StrBytes) -> bool {
        match resource_type {
            resource::TOPIC => self.name(Entity::Topic, name),
            resource::CONFIG_GROUP => self.name(Entity::Group, name),
            _ => true,
        }
    }

    /// Un-maps config results and answers the refused ones (see
    /// [`RequestMapper::admit_config_resources`]).
    pub fn config_results<T>(
        &self,
        list: &mut Vec<T>,
        parts: impl Fn(&mut T) -> (i8, &mut StrBytes),
        refused: impl Fn(&Refused) -> T,
    ) {
        self.retain(list, |m, res| {
            let (resource_type, name) = parts(res);
            m.config_resource(resource_type, name)
        });
        self.readmit(list, refused);
    }

    pub fn retain<T>(&self, list: &mut Vec<T>, mut keep: impl FnMut(&Self, &mut T) -> bool) {
        list.retain_mut(|e| keep(self, e));
    }

    /// Puts the entries the request took out back into the response as errors, at their
    /// original positions where the list is positional.
    pub fn readmit<T>(&self, list: &mut Vec<T>, make: impl Fn(&Refused) -> T) {
        for r in &self.ctx.refused {
            let at = r.index.min(list.len());
            list.insert(at, make(r));
        }
    }
}
