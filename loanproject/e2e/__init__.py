"""End-to-end tests of the back office in a real browser (Playwright driving Debian's Chromium)."""
