"""Posture: container security posture across build, distribute and run."""
