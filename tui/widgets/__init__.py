"""Widgets of the Posture TUI; they render what they are given and never query the store."""
