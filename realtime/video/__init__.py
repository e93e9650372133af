"""Video: WebRTC signalling, TURN credentials and the server-side device check (docs/protocol.md)."""
