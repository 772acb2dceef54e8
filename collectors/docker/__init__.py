"""The Docker (and Podman-compatible) engine collector: engine settings, images and containers."""
