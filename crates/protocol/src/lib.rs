//! The Kafka wire protocol as Gatehouse needs it, with no I/O.
//!
//! * [`frame`] splits length-prefixed frames off a read buffer, refusing bad lengths before
//!   anything is allocated for them.
//! * [`header`] peeks at a request header (API key, version, correlation id) without decoding
//!   the body, so frames nobody needs to change are forwarded as they arrived.
//! * [`versions`] is the table of API keys and versions the gateway forwards, and the
//!   intersection with what an upstream broker offers.
//! * [`scan`] walks Produce/Fetch responses without decoding them, to find KIP-951 fields.
//! * [`name_spans`] finds the names in Produce requests and in Produce and Fetch responses, so
//!   they can be replaced around record batches that are never copied.
//! * [`tagged`] parses and rebuilds tagged-field sections.
//! * [`answers`] tells which answer is at the front of an upstream connection's buffer.
//! * [`codec`] decodes and encodes typed messages when a stage asks for them.
//! * [`message`] holds a frame decoded at most once for all stages (raw, parsed, modified).

pub mod answers;
pub mod codec;
pub mod frame;
pub mod header;
pub mod message;
pub mod name_spans;
pub mod scan;
pub mod tagged;
pub mod versions;

pub use kafka_protocol;
