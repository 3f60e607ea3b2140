"""The hub past one machine: a commit log replicated by NATS JetStream, and hub nodes that each
apply it to their own store (docs/deployment.md)."""
