"""The durable journal of every state-changing operation, and the engine that syncs it."""
