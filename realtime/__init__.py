"""Real-time transport: the one event publisher, WebSocket protocol and consumers."""
