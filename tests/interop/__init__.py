"""Real clients (skopeo, oras-py, podman) against a live sciregistry server."""
