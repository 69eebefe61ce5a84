"""The --demo: an SDK demo MCP server, a scripted client, and a canned session for tests/screenshots."""
