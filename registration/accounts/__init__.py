"""Accounts: sign-up, log-in, two-factor, staff invitations."""
