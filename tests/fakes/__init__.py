"""Fakes for Slack and Cloudflare, and builders for Slack payloads."""
