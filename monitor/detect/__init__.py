"""Detection: pure decisions about what the collected observations mean. No I/O, no clock."""
