"""A thin, typed client of the Telegram Bot API: calls and errors, update types, polling."""
