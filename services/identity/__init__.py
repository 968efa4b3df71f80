"""identity: accounts, sign-in (passwords, SMS codes, TOTP), sessions and tokens, consent to the privacy notice."""
