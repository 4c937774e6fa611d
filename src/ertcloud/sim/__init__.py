"""The simulator of the gateway, service discovery and streaming server."""
