//! Historical versions of the lifecycle manager, ported faithfully (bugs included) so that the
//! simulation harness can show it finds what went wrong in each. Never use these in production:
//! [`agent_lifecycle::AgentManager`] is the design that fixes them.

mod legacy;

pub use legacy::LegacyManager;
