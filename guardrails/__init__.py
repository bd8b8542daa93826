"""Policy, the gate, screening, approvals and the audit log."""
