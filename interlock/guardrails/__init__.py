"""Guardrails: guardrails-ai validators and policies, and the groundedness check."""
