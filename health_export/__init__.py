"""Health-office portal, trace requests, export packages and the decryption CLI."""
