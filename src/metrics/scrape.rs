//! Background scraper of the server's `/metrics` (SPEC §6).
