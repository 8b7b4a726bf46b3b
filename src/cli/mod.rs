//! Client commands: they talk to a running ccm (or to any webhook receiver) over HTTP.

pub mod webhook_send;
