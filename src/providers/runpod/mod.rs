//! RunPod: REST v2 client, price table, launch templates.

pub mod pricing;
