"""Tests of the Microsoft 365 simulator itself (the other party)."""
