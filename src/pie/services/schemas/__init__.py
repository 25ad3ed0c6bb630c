"""The JSON shapes PIE speaks, in the API and in the CLI's --json output alike."""
