"""Security facts that more than one layer judges, each decided here once.

Whether a host path reaches a container runtime's socket, whether a user is root, which capabilities
amount to host control, how an image reference names its registry and tag, and which team owns an
asset: collectors, rules, scoring and the TUI all ask these questions, and when each kept its own
answer the answers drifted apart (a socket that raised a finding but not the score, ``root:0`` shown as
not root). Everything here is pure (stdlib only, an import-linter contract keeps it so), so every layer
may import it, collectors included.
"""
