"""mlwatch."""
