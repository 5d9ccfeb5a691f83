"""Security commands (`shopfloor security ...`): reading the cluster's security scanners' output."""
