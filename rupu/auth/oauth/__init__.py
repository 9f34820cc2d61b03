"""Signing in: PKCE with a loopback callback (anthropic, openai, gemini), the device-code grant
(copilot), the token endpoint client, and each provider's public endpoints."""
