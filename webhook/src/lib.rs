//! Sluice's validating admission webhook.
