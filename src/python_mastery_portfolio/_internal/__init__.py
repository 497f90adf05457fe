"""Private foundations shared by the subpackages: nothing here is public API."""
