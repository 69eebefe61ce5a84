"""Wire formats shared by the proxy and inspectors. Standard library only (no textual, no pydantic)."""
