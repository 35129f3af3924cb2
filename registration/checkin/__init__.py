"""Guest check-in: the page behind each area's QR code, its JSON API and the entrance display.

Contact data reaches this package only sealed (the JavaScript path) or, for guests
without JavaScript, for the length of one request before it is sealed in memory.
Only envelopes and the counting metadata are ever stored.
"""
