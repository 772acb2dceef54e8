"""The Textual terminal UI; reads the store only."""
