"""A local stand-in for Microsoft 365 (Entra ID token service + Exchange Web Services), the *other party*.

It imports nothing from the product packages; see CONTRACT.md for how its parts fit together.
"""
